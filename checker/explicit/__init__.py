"""The explicit-state engines: scalar and vector breadth-first search, workers, random walks."""
