"""Flows: YAML loading, validation, the model and the interpreter."""
