"""Fault injection for an emulated AWS endpoint: rules (what to answer differently, and when), the engine
that applies them call by call, the WSGI layer in front of moto, and AWS's documented behaviours as
named scenarios. The test suite's moto server uses it; the local emulator can too."""

from mailflow_cli.local.faults.calls import Call, identify
from mailflow_cli.local.faults.engine import FaultEngine, Injection
from mailflow_cli.local.faults.middleware import FaultLayer
from mailflow_cli.local.faults.rules import (
    After,
    Always,
    Error,
    FaultRule,
    FaultRuleError,
    First,
    Rate,
    State,
    parse_rule,
    parse_rules,
)

__all__ = [
    "After",
    "Always",
    "Call",
    "Error",
    "FaultEngine",
    "FaultLayer",
    "FaultRule",
    "FaultRuleError",
    "First",
    "Injection",
    "Rate",
    "State",
    "identify",
    "parse_rule",
    "parse_rules",
]
