"""Mailflow: give applications their own email on AWS."""

__version__ = "0.1.0"
