"""Desired state, one module per resource kind: pure functions of the config and the stack's names."""
