"""Execution: one typed handler class per resource kind (discover, create, update, delete)."""
