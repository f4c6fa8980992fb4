"""The chaos benchmark's run at 100 emails and 100 outbound requests (bench/bench_chaos.py runs 1,000):
faults on every AWS call the handler makes (10-20% of each service's calls), and invocations that time
out or crash right after the handler's first write (its idempotency lock). Counted by the deterministic
ids, every email ends in exactly one visible place per target, none is lost, no delivery carries another
id than its (SES message id, target) UUIDv5, and no outbound request is sent twice.

What this relies on from AWS (and the emulator reproduces): Lambda retries a failed asynchronous
invocation twice, then dead-letters it; SQS makes a failed batch visible again; both come after the
failed attempt's deadline, when the idempotency lock it took has expired. Crashes after a later write
are measured by the benchmark; tests/handler/test_outbound_crash.py asserts what each one leads to.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))  # the benchmark's own run

from chaos_run import LOCK_FAULTS, chaos, chaos_stack, latency

pytestmark = pytest.mark.e2e

SEED = 22
"""Picks 4 timeouts and 4 crashes among the first 60 invocations."""


def test_nothing_is_lost_or_sent_twice_under_faults_timeouts_and_crashes(tmp_path: Path) -> None:
    with chaos_stack(tmp_path) as stack:
        measured = latency(stack, 3)
        result = chaos(stack, emails=100, requests=100, faults=LOCK_FAULTS, seed=SEED)

    assert len(measured.end_to_end_ms) == len(measured.dispatch_ms) == len(measured.handler_ms) == 3
    assert all(rule_count > 0 for rule_count in result.injected.values()), result.injected
    inbound = result.inbound
    assert (inbound.emails, inbound.targets) == (100, 120)
    assert inbound.lost == 0
    assert inbound.other_ids == 0, "a virus email delivered to an app would be one too"
    assert inbound.delivered_once + inbound.delivered_more + inbound.in_dlq + inbound.quarantined == 120
    assert inbound.delivered_once + inbound.delivered_more >= 90, vars(inbound)
    outbound = result.outbound
    assert outbound.lost == 0
    assert outbound.sent_more == 0
    assert outbound.told_more == 0
    # unknown: an attempt that timed out by itself while SES was being asked (rare; never sent again)
    assert outbound.sent_once + outbound.in_dlq + outbound.unknown == 100
    assert outbound.sent_once >= 90, vars(outbound)
