"""The language front end: spec text -> AST -> typed IR, with diagnostics."""
