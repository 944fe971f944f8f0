"""Liveness: temporal properties checked on the whole explored graph, under fairness (see fair.py)."""
