"""Mailflow's Lambda data plane. Handler string: `mailflow_handler.handler`."""

from .dispatch import handler

__all__ = ["handler"]
