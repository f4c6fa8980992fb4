from __future__ import annotations

import pytest
from operate_helpers import depth, put, status_message

from mailflow_cli.context import StackContext
from mailflow_cli.errors import UsageError
from mailflow_cli.operate.durations import format_duration, parse_duration
from mailflow_cli.operate.peek import HOLD_SECONDS, QueuePeeker
from mailflow_cli.operate.timing import FakeClock


@pytest.mark.parametrize(
    ("text", "seconds"), [("10s", 10), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("45", 45), ("1.5m", 90)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "10 minutes", "-5s", "1w"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="is not a duration"):
        parse_duration(text, option="--since")


@pytest.mark.parametrize(
    ("seconds", "text"), [(4.25, "4.2s"), (45, "45s"), (200, "3m 20s"), (7500, "2h 5m"), (277200, "3d 5h")]
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_a_peek_holds_each_message_once_renews_the_hold_and_returns_everything(stack: StackContext) -> None:
    queue = "mailflow-dev-app-app1"
    for number in range(12):
        put(stack, queue, status_message(f"c{number}"))
    sqs = stack.clients.client("sqs")
    clock = FakeClock()
    renewals: list[int] = []
    sqs.meta.events.register(
        "provide-client-params.sqs.ChangeMessageVisibilityBatch",
        lambda params, **_: renewals.append(len(params["Entries"])),
    )
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    peeker = QueuePeeker(sqs=sqs, queue_url=url, clock=clock.as_clock())

    seen = peeker.receive(wait_seconds=0) + peeker.receive(wait_seconds=0)
    assert len({m["MessageId"] for m in seen}) == 12
    assert depth(stack, queue) == (0, 12)
    assert peeker.receive(wait_seconds=0) == []  # nothing new while they are held

    clock.sleep(HOLD_SECONDS - 10)  # past the renewal point, before the hold runs out
    assert renewals == []
    peeker.receive(wait_seconds=0)
    assert renewals == [10, 2]  # every held message, in batches of ten

    assert peeker.release() == 12
    assert depth(stack, queue) == (12, 0)
