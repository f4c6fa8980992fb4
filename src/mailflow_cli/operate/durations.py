"""Durations on the command line: ``30m``, ``10s``, ``2h``, ``1d`` (a bare number means seconds)."""

from __future__ import annotations

import re

from mailflow_cli.errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)


def parse_duration(text: str, *, option: str = "duration") -> float:
    """Seconds in ``text``; a :class:`UsageError` naming ``option`` when it is not a duration."""
    match = _DURATION.match(text)
    if match is None:
        raise UsageError(
            f"{option}: {text!r} is not a duration",
            hint="use a number and a unit: 10s, 30m, 2h or 1d",
        )
    amount, unit = match.groups()
    return float(amount) * _UNITS[(unit or "s").lower()]


def format_duration(seconds: float) -> str:
    """A short human form: ``45s``, ``3m 20s``, ``2h 5m``, ``3d 4h``."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"
