"""Benchmark 12: chaos. The whole mail path on a private emulator (``bench/chaos_run.py``) with faults on
every AWS call the handler makes and Lambda timeouts and crashes, then where everything ended.

``python bench/bench_chaos.py [EMAILS] [LATENCY_EMAILS]`` (default 1,000 and 200). Three phases on one
emulator with the stack deployed (3 apps, a 10 s function timeout, outbound batches of 5):

1. latency without faults: one email at a time to app1, from the SMTP DATA reply to the message on the
   queue, split into the emulator's part before the handler runs and the handler's own time; the
   yardstick is the handler's AWS calls for one email made by a plain client in the same run.
2. chaos, crashes and timeouts after the first write (the idempotency lock): EMAILS emails over SMTP
   (to app1, to app2 and app3, to app3, to an unknown app, a virus verdict) and EMAILS outbound requests.
3. the same, plus crashes after the second and third write: inside the window docs/handler.md names.

Targets: nothing lost and no delivery with another id than the deterministic one, in both mixes; no
outbound request sent twice, in both mixes. A request whose attempt died between marking its record
"SES asked" and recording SES's answer is not sent again: its app is told ``outcome_unknown`` (counted
apart, sent or not; docs/handler.md, "Exactly once").
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import Target, finish, print_table, use_project_paths

SEED = 13


def _mix_rows(name: str, result: Any) -> list[list[object]]:
    inbound, outbound = result.inbound, result.outbound
    return [
        [
            name,
            inbound.emails,
            inbound.delivered_once,
            f"{inbound.delivered_more} ({inbound.delivered_more / max(1, inbound.targets):.2%})",
            inbound.other_ids,
            inbound.in_dlq,
            inbound.quarantined,
            inbound.lost,
            outbound.requests,
            outbound.sent_once,
            outbound.sent_more,
            outbound.in_dlq,
            f"{outbound.unknown} / {outbound.told_unknown}",
            outbound.lost,
            result.own_timeouts,
            f"{result.seconds:.0f}",
        ]
    ]


def main() -> int:
    use_project_paths()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from chaos_run import ANYWHERE_FAULTS, LOCK_FAULTS, chaos, chaos_stack, latency, latency_summary, summary

    emails = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000
    latency_emails = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    with (
        tempfile.TemporaryDirectory(prefix="mailflow-chaos-") as directory,
        chaos_stack(Path(directory)) as stack,
    ):
        measured = latency_summary(latency(stack, latency_emails))
        lock = chaos(stack, emails=emails, requests=emails, faults=LOCK_FAULTS, seed=SEED)
        anywhere = chaos(stack, emails=emails, requests=emails, faults=ANYWHERE_FAULTS, seed=SEED)

    print_table(
        f"latency without faults, {measured['emails']} emails one at a time (yardstick "
        f"{measured['yardstick_ms']:.1f} ms: the handler's AWS calls for one email, made directly)",
        ["part", "p50 ms", "p99 ms", "p50 / yardstick", "p99 / yardstick"],
        [
            [name, f["p50_ms"], f["p99_ms"], f["p50_ratio"], f["p99_ratio"]]
            for name, f in measured.items()
            if isinstance(f, dict)
        ],
    )
    print_table(
        f"chaos: {emails:,} emails and {emails:,} outbound requests per mix, seed {SEED}",
        [
            "mix",
            "emails",
            "once",
            "more, same id",
            "other id",
            "DLQ",
            "quarantined",
            "lost",
            "requests",
            "sent once",
            "sent twice",
            "DLQ",
            "unknown: not sent / sent",
            "lost",
            "own timeouts",
            "s",
        ],
        _mix_rows("crashes after the lock", lock) + _mix_rows("crashes anywhere", anywhere),
    )
    print_table(
        "faults injected (crashes anywhere)",
        ["rule", "injected"],
        [[rule, count] for rule, count in anywhere.injected.items()],
    )
    finish(
        "chaos",
        {
            "emails": emails,
            "latency": measured,
            "after_the_lock": summary(lock),
            "anywhere": summary(anywhere),
        },
        [
            Target(
                "chaos: emails lost (both mixes)", lock.inbound.lost + anywhere.inbound.lost, 0, "targets"
            ),
            Target(
                "chaos: deliveries with another id (both mixes)",
                lock.inbound.other_ids + anywhere.inbound.other_ids,
                0,
                "messages",
            ),
            Target(
                "chaos: outbound requests lost (both mixes)",
                lock.outbound.lost + anywhere.outbound.lost,
                0,
                "",
            ),
            Target(
                "chaos: outbound sent twice, crashes after the lock", lock.outbound.sent_more, 0, "requests"
            ),
            Target(
                "chaos: outbound sent twice, crashes anywhere", anywhere.outbound.sent_more, 0, "requests"
            ),
            Target(
                "latency without faults: emulator part p50 / yardstick",
                measured["emulator_dispatch"]["p50_ratio"],
                2.0,
                "x",
            ),
        ],
        notes=[
            "a delivery more than once carries the same id (UUIDv5 of the SES message id and the target)",
            "unknown: the attempt died between marking its record 'SES asked' and recording SES's answer; "
            "the retry does not send and tells the app outcome_unknown (docs/handler.md, 'Outbound: never "
            "sent twice'); 'not sent': it died before SendEmail went out, 'sent': after; the app is told "
            "either way",
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
