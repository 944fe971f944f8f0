"""kvolt: the Kubernetes volume lifecycle, made checkable."""

__version__ = "0.1.0"
