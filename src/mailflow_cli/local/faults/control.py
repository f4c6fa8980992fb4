"""The running emulator's faults: the rules a user set, their seed, and how often each has fired.

:class:`FaultControl` is the Python API (the emulator holds one; ``mailflow local faults`` reaches it
through the control endpoint, :mod:`mailflow_cli.local.faults.endpoint`; a web UI in the emulator's
process calls it directly). Rules are the text form of :mod:`mailflow_cli.local.faults.rules`: AWS call
faults (``sqs:SendMessage=0.2:ServiceUnavailable``), applied by the fault layer in front of the AWS
endpoint, and Lambda faults (``lambda:crash=0.05``), applied by the Lambda runner. Every rule hits only
what the functions the emulator runs do: an AWS call fault gets ``caller=<the functions' access key>``,
so the CLI, the emulator's own clients and a test's client are never answered by a fault.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from mailflow_cli.local.faults.engine import FaultEngine
from mailflow_cli.local.faults.lambda_faults import LambdaFaults
from mailflow_cli.local.faults.rules import FaultRule, FaultRuleError, LambdaFault, parse_any

MAX_RULES = 100
"""Rules set at once; more is refused (each rule is tried on every call a function makes)."""
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class RuleStatus:
    rule: str
    """The rule as it was set (without the implied ``caller=``)."""
    kind: str
    """``aws`` (answers AWS calls) or ``lambda`` (times out or crashes invocations)."""
    injected: int
    """Calls answered (``aws``), or invocations timed out or crashed (``lambda``), since it was set."""


@dataclass(frozen=True)
class FaultStatus:
    seed: int
    rules: tuple[RuleStatus, ...]

    @property
    def injected(self) -> int:
        return sum(rule.injected for rule in self.rules)

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "rules": [{"rule": r.rule, "kind": r.kind, "injected": r.injected} for r in self.rules],
            "injected": self.injected,
        }

    @classmethod
    def from_json(cls, data: Any) -> FaultStatus:
        """The status the control endpoint answered; ValueError when it is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
            raise ValueError("not a fault status")
        rules = tuple(
            RuleStatus(rule=str(item["rule"]), kind=str(item["kind"]), injected=int(item["injected"]))
            for item in data["rules"]
        )
        return cls(seed=int(data["seed"]), rules=rules)


def parse_user_rules(texts: Sequence[str]) -> tuple[FaultRule | LambdaFault, ...]:
    """The rules as a user gives them: at most :data:`MAX_RULES`, and no ``caller=`` (it is implied)."""
    if len(texts) > MAX_RULES:
        raise FaultRuleError(
            f"{len(texts)} fault rules: at most {MAX_RULES} can be set at once",
            hint="combine rules with operation globs (sqs:*=0.1:ServiceUnavailable)",
        )
    rules = tuple(parse_any(text) for text in texts)
    for text, rule in zip(texts, rules, strict=True):
        if isinstance(rule, FaultRule) and rule.caller is not None:
            raise FaultRuleError(
                f"fault rule {text!r}: caller= is implied here",
                hint="the emulator's faults hit only the calls its functions make; drop caller=",
            )
    return rules


def check_seed(seed: int) -> int:
    if not 0 <= seed <= MAX_SEED:
        raise FaultRuleError(
            f"the seed {seed} is not between 0 and {MAX_SEED}", hint="use --seed 0, 1, 2, ..."
        )
    return seed


class FaultControl:
    """The emulator's faults. ``engine`` goes to the fault layer, ``lambda_faults`` to the Lambda runner."""

    def __init__(self, functions_key: str) -> None:
        self.engine = FaultEngine()
        self.lambda_faults = LambdaFaults()
        self._functions_key = functions_key
        self._lock = threading.Lock()
        self._rules: tuple[FaultRule | LambdaFault, ...] = ()
        self._seed = 0

    def set(self, texts: Sequence[str], seed: int = 0) -> FaultStatus:
        """Replace every rule (none: no faults); counters and generators start afresh from ``seed``.
        :class:`FaultRuleError` names a malformed rule, and then nothing changes."""
        rules = parse_user_rules(texts)
        check_seed(seed)
        with self._lock:
            self.engine.set_rules(
                [replace(rule, caller=self._functions_key) for rule in rules if isinstance(rule, FaultRule)],
                seed=seed,
            )
            self.lambda_faults.set_rules([rule for rule in rules if isinstance(rule, LambdaFault)], seed)
            self._rules = rules
            self._seed = seed
        return self.status()

    def clear(self) -> FaultStatus:
        return self.set([], self._seed)

    def status(self) -> FaultStatus:
        with self._lock:
            aws = iter(self.engine.injected_by_rule())
            lambdas = iter(self.lambda_faults.injected_by_rule())
            rules = tuple(
                RuleStatus(rule.to_text(), "aws", next(aws))
                if isinstance(rule, FaultRule)
                else RuleStatus(rule.to_text(), "lambda", next(lambdas))
                for rule in self._rules
            )
            return FaultStatus(seed=self._seed, rules=rules)
