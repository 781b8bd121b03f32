"""Loading and validating flows: YAML with line marks, JSON Schema, the model, graph and compliance checks."""
