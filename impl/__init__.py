"""The executable implementation of the Kubernetes volume controllers (see issue 4)."""
