"""The built-in specs, shipped as package data."""
