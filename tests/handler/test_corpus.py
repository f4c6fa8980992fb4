"""Every corpus message ends in exactly one place; every produced message validates against its schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mailflow_handler import handler
from mailflow_handler.config import parse_config
from mailflow_handler.inbound.pipeline import process
from mailflow_handler.testing import fake_deps

from .conftest import CORPUS, Env, make_config, ses_event, ses_record

FILES = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "README.md")
RECIPIENTS = [["_app1@example.com"], ["someone@example.com"], ["_App2+t@example.org"], ["_app1@example.com"]]


def test_corpus_is_present() -> None:
    assert len(FILES) >= 390


def test_every_corpus_message_through_handler(
    aws_env: Env, inbound_validator: Any, failure_validator: Any
) -> None:
    expected = {"app1": 0, "app2": 0, "default": 0, "quarantine": 0}
    for index, path in enumerate(FILES):
        ses_id = aws_env.put_raw(path.read_bytes(), f"corpus-{index:04d}")
        recipients = RECIPIENTS[index % len(RECIPIENTS)]
        virus = "FAIL" if index % 50 == 7 else "PASS"
        handler(ses_event(ses_record(ses_id, recipients, virus=virus)), None)
        if virus == "FAIL":
            expected["quarantine"] += 1
        else:
            expected[{"_app1": "app1", "someo": "default", "_App2": "app2"}[recipients[0][:5]]] += 1
    out = aws_env.drain_all()
    quarantined = aws_env.quarantine_records()
    for key in ("app1", "app2", "default"):
        for message in out[key]:
            inbound_validator.validate(message)
    for failure in out["inboundDlq"]:
        failure_validator.validate(failure)
    ids = [m["metadata"]["sesMessageId"] for k in ("app1", "app2", "default") for m in out[k]]
    ids += [q["sesMessageId"] for q in quarantined] + [f["sesMessageId"] for f in out["inboundDlq"]]
    assert sorted(ids) == sorted(f"corpus-{i:04d}" for i in range(len(FILES)))
    assert out["inboundDlq"] == []
    assert {k: len(out[k]) for k in ("app1", "app2", "default")} == {
        k: expected[k] for k in ("app1", "app2", "default")
    }
    assert len(quarantined) == expected["quarantine"]


def test_corpus_through_pipeline_with_fakes(inbound_validator: Any, tmp_path: Path) -> None:
    deps = fake_deps(parse_config(make_config()))
    for index, path in enumerate(FILES):
        record = ses_record(f"fake-{index}", ["_app1@example.com"])
        result = process(path.read_bytes(), record, deps)
        assert result.delivered == ["app1"], (path, result)
    assert len(deps.sqs.sent) == len(FILES)
    for _, body in deps.sqs.sent:
        message = json.loads(body)
        inbound_validator.validate(message)
        assert message["email"]["claimCheck"] is None or message["email"]["text"] is None
