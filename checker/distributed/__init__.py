"""The distributed engine: the fingerprint-partitioned breadth-first search of `explicit/` on MPI ranks."""
