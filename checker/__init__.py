"""The spec language and its engines: parse, resolve, compile, explore, report."""
