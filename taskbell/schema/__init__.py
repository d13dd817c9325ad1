"""Strawberry types, root operations and the schema."""
