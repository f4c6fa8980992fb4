from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mailflow_handler import clients, config, handler
from mailflow_handler.errors import UnsupportedEventError

from .conftest import Env, ses_event, ses_record, simple_mime


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"Records": []},
        {"Records": [{"eventSource": "aws:s3"}]},
        {"Records": [{"eventSource": "aws:ses"}, {"eventSource": "aws:sqs"}]},
        {"detail-type": "Scheduled Event"},
        [],
    ],
)
def test_unsupported_events_raise_clearly(aws_env: Env, event: Any) -> None:
    with pytest.raises(UnsupportedEventError, match="unsupported"):
        handler(event, None)


def test_error_names_what_was_received(aws_env: Env) -> None:
    with pytest.raises(UnsupportedEventError, match="aws:s3"):
        handler({"Records": [{"eventSource": "aws:s3"}]}, None)


def test_ses_response_and_logs(aws_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    class Context:
        aws_request_id = "req-1"
        function_name = "mailflow-test"

    aws_env.write_config(observability={"metrics": True})
    ses_id = aws_env.put_raw(simple_mime())
    assert handler(ses_event(ses_record(ses_id, ["_app1@example.com"])), Context()) == {
        "disposition": "CONTINUE"
    }
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    log = next(line for line in lines if line.get("message") == "inbound email")
    assert log["function_request_id"] == "req-1"
    assert log["service"] == "mailflow"
    assert log["mailFrom"] == "***@sender.org"
    assert log["recipients"] == ["***@example.com"]
    assert log["outcome"] == "delivered"
    assert "sender@sender.org" not in json.dumps(lines)
    emf = next(line for line in lines if "_aws" in line)
    directive = emf["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Mailflow"
    assert directive["Dimensions"] == [["service"]]
    assert emf["InboundEmails"] == 1
    assert {m["Name"] for m in directive["Metrics"]} >= {"InboundEmails", "InboundDelivered"}


def test_no_metrics_unless_the_stack_asks(aws_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    """Custom metrics cost money each month (issue 11.8): without `observability.metrics: true` the handler
    prints no EMF document; the log line carries the same counts."""
    handler(ses_event(ses_record(aws_env.put_raw(simple_mime()), ["_app1@example.com"])), None)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line for line in lines if "_aws" in line] == []
    assert [line["outcome"] for line in lines if line.get("message") == "inbound email"] == ["delivered"]


def test_cold_start_flag(aws_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    from mailflow_handler import observability

    observability._state["cold_start"] = True
    for _ in range(2):
        handler(ses_event(ses_record(aws_env.put_raw(simple_mime()), ["_app1@example.com"])), None)
    logs = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"inbound email"' in x]
    assert [entry["cold_start"] for entry in logs] == [True, False]


def test_config_and_clients_are_built_once(aws_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[int] = []
    real_load = config.load_config

    def counting(path: Any = None) -> Any:
        loads.append(1)
        return real_load(path)

    monkeypatch.setattr(config, "load_config", counting)
    clients.reset()
    for _ in range(3):
        handler(ses_event(ses_record(aws_env.put_raw(simple_mime()), ["_app1@example.com"])), None)
    assert len(loads) == 1
    assert set(clients._clients) == {"s3", "sqs", "dynamodb"}
    assert set(clients._queue_urls) == {"mf-app-app1"}


def test_default_config_path_is_next_to_package() -> None:
    import mailflow_handler

    assert (
        config.default_path()
        == Path(mailflow_handler.__file__).resolve().parent.parent / "mailflow_config.json"
    )


def test_bad_config_is_a_clear_error(aws_env: Env) -> None:
    aws_env.config_path.write_text(json.dumps({"version": 2}))
    clients.reset()
    with pytest.raises(config.ConfigError, match="version"):
        handler(ses_event(ses_record("x", ["_app1@example.com"])), None)
