"""The symbolic engines (z3): the encoding of a compiled model, bounded model checking, proofs."""
