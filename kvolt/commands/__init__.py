"""The command-line commands, one module per family; `kvolt.cli` gathers them into one group."""
