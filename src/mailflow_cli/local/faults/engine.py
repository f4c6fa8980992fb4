"""Decides, call by call, whether a fault rule answers it: the rules' counters, windows and generators.

Rules are tried in order; the first that matches the call and fires answers it. A rule's ``first:N``
counts the calls it was tried on; a ``0.2`` share draws from a generator seeded with the engine's seed and
the rule's text, so the same calls in the same order get the same answers. ``after`` windows open when a
call of the trigger operation succeeds (a 2xx answer), measured on the engine's clock, which tests replace
with one that advances only when the code under test sleeps.
"""

from __future__ import annotations

import fnmatch
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from mailflow_cli.local.faults.calls import Call
from mailflow_cli.local.faults.rules import After, Always, Effect, Error, FaultRule, First, Rate

MAX_RECORDED = 10_000
"""Injections kept for inspection; older ones are dropped (the count goes on)."""

_PLACEHOLDER = re.compile(r"\{([A-Za-z][A-Za-z0-9]*)\}")


@dataclass(frozen=True)
class Injection:
    """A call a rule answered, and how."""

    rule: FaultRule
    call: Call
    effect: Effect


@dataclass
class _Active:
    rule: FaultRule
    random: random.Random
    tried: int = 0
    injected: int = 0
    opened: dict[frozenset[str], float] = field(default_factory=dict)
    """When each trigger last succeeded, by what it named (one key, ``frozenset()``, unless after-same)."""
    remaining: dict[frozenset[str], int] = field(default_factory=dict)

    def applies_to(self, call: Call) -> bool:
        rule = self.rule
        return (
            call.service == rule.service
            and fnmatch.fnmatchcase(call.operation, rule.operation)
            and (rule.resource is None or any(fnmatch.fnmatchcase(n, rule.resource) for n in call.names))
            and (rule.caller is None or call.caller == rule.caller)
        )

    def fires(self, call: Call, now: float) -> bool:
        when = self.rule.when
        self.tried += 1
        if isinstance(when, Always):
            return True
        if isinstance(when, First):
            return self.tried <= when.count
        if isinstance(when, Rate):
            return self.random.random() < when.share
        return self._in_window(when, call, now)

    def _in_window(self, when: After, call: Call, now: float) -> bool:
        def related(key: frozenset[str]) -> bool:
            return not when.same_resource or bool(key & call.names)

        if when.seconds is not None:
            return any(related(key) and now - opened < when.seconds for key, opened in self.opened.items())
        for key, left in self.remaining.items():
            if left > 0 and related(key):
                self.remaining[key] = left - 1
                return True
        return False

    def triggered_by(self, call: Call, now: float) -> None:
        when = self.rule.when
        if not isinstance(when, After) or call.service != when.service:
            return
        if not fnmatch.fnmatchcase(call.operation, when.operation):
            return
        key = call.names if when.same_resource else frozenset()
        if when.seconds is not None:
            self.opened[key] = now
        elif when.calls is not None:
            self.remaining[key] = when.calls


class FaultEngine:
    """Thread-safe: the endpoint serves each request on a thread of its own."""

    def __init__(
        self, rules: Sequence[FaultRule] = (), *, seed: int = 0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seed = seed
        self.clock = clock
        self._lock = threading.Lock()
        self._active: tuple[_Active, ...] = ()
        self._injections: deque[Injection] = deque(maxlen=MAX_RECORDED)
        self.injected_count = 0
        self.set_rules(rules)

    def set_rules(self, rules: Sequence[FaultRule], *, seed: int | None = None) -> None:
        """Replace the rules (and the seed, when given); every counter, window and generator starts
        afresh."""
        with self._lock:
            if seed is not None:
                self.seed = seed
            self._active = tuple(
                _Active(rule, random.Random(f"{self.seed}/{index}/{rule.to_text()}"))
                for index, rule in enumerate(rules)
            )

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        return tuple(active.rule for active in self._active)

    def injected_by_rule(self) -> tuple[int, ...]:
        """How many calls each rule answered since it was set, in the rules' order."""
        with self._lock:
            return tuple(active.injected for active in self._active)

    @property
    def services(self) -> frozenset[str]:
        """The services whose calls the engine needs to see: the rules' targets and triggers."""
        found = set()
        for rule in self.rules:
            found.add(rule.service)
            if isinstance(rule.when, After):
                found.add(rule.when.service)
        return frozenset(found)

    def decide(self, call: Call) -> Effect | None:
        """The effect of the first rule that answers ``call``, or None: the call goes through."""
        with self._lock:
            now = self.clock()
            for active in self._active:
                if active.applies_to(call) and active.fires(call, now):
                    effect = _rendered(active.rule.effect, call)
                    self._injections.append(Injection(active.rule, call, effect))
                    self.injected_count += 1
                    active.injected += 1
                    return effect
        return None

    def completed(self, call: Call, status: int) -> None:
        """The call reached the service, which answered ``status``: a success opens ``after`` windows."""
        if not 200 <= status < 300:
            return
        with self._lock:
            now = self.clock()
            for active in self._active:
                active.triggered_by(call, now)

    def injections(self) -> tuple[Injection, ...]:
        with self._lock:
            return tuple(self._injections)


def _rendered(effect: Effect, call: Call) -> Effect:
    """``{Name}`` in an error message replaced by the call's parameter of that name (kept when absent)."""
    if not isinstance(effect, Error) or "{" not in effect.message:
        return effect
    message = _PLACEHOLDER.sub(lambda m: call.parameters.get(m.group(1), m.group(0)), effect.message)
    return replace(effect, message=message)
