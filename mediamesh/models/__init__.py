"""Builders that export every Triton model of the mesh from PyPI wheels or from code."""
