from __future__ import annotations

from typing import Any

from mailflow_handler import handler

from .conftest import Env, ses_event, ses_record, simple_mime


def deliver(
    env: Env, recipients: list[str], raw: bytes | None = None, **kw: Any
) -> dict[str, list[dict[str, Any]]]:
    ses_id = env.put_raw(raw or simple_mime())
    handler(ses_event(ses_record(ses_id, recipients, **kw)), None)
    return env.drain_all()


def apps_of(out: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    return {k: len(v) for k, v in out.items() if v}


def test_app_address_routes_to_its_queue(aws_env: Env, inbound_validator: Any) -> None:
    out = deliver(aws_env, ["_app1@example.com"])
    assert apps_of(out) == {"app1": 1}
    message = out["app1"][0]
    inbound_validator.validate(message)
    assert message["app"] == "app1"
    assert message["envelope"]["recipients"] == ["_app1@example.com"]


def test_local_part_and_domain_are_case_insensitive(aws_env: Env) -> None:
    out = deliver(aws_env, ["_App1@EXAMPLE.com"])
    assert apps_of(out) == {"app1": 1}


def test_plus_tag_routes_to_app_and_passes_tag(aws_env: Env) -> None:
    out = deliver(aws_env, ["_app1+Invoice-42@example.com"])
    assert apps_of(out) == {"app1": 1}
    assert out["app1"][0]["tag"] == "Invoice-42"
    assert out["app1"][0]["tags"] == ["Invoice-42"]


def test_unknown_app_goes_to_default(aws_env: Env) -> None:
    out = deliver(aws_env, ["_nosuch@example.com"])
    assert apps_of(out) == {"default": 1}
    assert out["default"][0]["app"] == "default"


def test_plain_address_goes_to_default(aws_env: Env) -> None:
    out = deliver(aws_env, ["info@example.com"])
    assert apps_of(out) == {"default": 1}


def test_many_unknown_recipients_give_one_default_message(aws_env: Env) -> None:
    recipients = [f"_unknown{i}@example.com" for i in range(7)] + ["bob@example.org"]
    out = deliver(aws_env, recipients)
    assert apps_of(out) == {"default": 1}
    assert out["default"][0]["envelope"]["recipients"] == recipients


def test_unconfigured_domain_is_ignored(aws_env: Env) -> None:
    out = deliver(aws_env, ["_app1@other.net", "_app2@example.com"])
    assert apps_of(out) == {"app2": 1}


def test_only_unconfigured_domains_go_to_default(aws_env: Env) -> None:
    out = deliver(aws_env, ["_app1@other.net"])
    assert apps_of(out) == {"default": 1}
    assert out["default"][0]["envelope"]["recipients"] == []


def test_two_apps_get_one_message_each(aws_env: Env, inbound_validator: Any) -> None:
    out = deliver(aws_env, ["_app1@example.com", "_app2@example.org", "_app1+x@example.com"])
    assert apps_of(out) == {"app1": 1, "app2": 1}
    for key in ("app1", "app2"):
        inbound_validator.validate(out[key][0])
    assert out["app1"][0]["envelope"]["recipients"] == ["_app1@example.com", "_app1+x@example.com"]
    assert out["app1"][0]["id"] != out["app2"][0]["id"]


def test_app_plus_unknown_gives_app_and_one_default(aws_env: Env) -> None:
    out = deliver(aws_env, ["_app1@example.com", "_x@example.com", "_y@example.com"])
    assert apps_of(out) == {"app1": 1, "default": 1}


def test_reserved_queue_names_are_not_reachable(aws_env: Env) -> None:
    recipients = [
        "_default@example.com",
        "_outbound@example.com",
        "_inboundDlq@example.com",
        "_outbound-dlq@example.com",
        "_apps-dlq@example.com",
    ]
    out = deliver(aws_env, recipients)
    assert apps_of(out) == {"default": 1}


def test_app_named_like_a_reserved_queue_is_never_routed(aws_env: Env) -> None:
    aws_env.write_config(
        apps={"outbound": {"queue": "mf-outbound", "senders": [], "allowedSenderDomains": []}}
    )
    out = deliver(aws_env, ["_outbound@example.com"])
    assert apps_of(out) == {"default": 1}


def test_routing_ignores_to_and_cc_headers(aws_env: Env) -> None:
    raw = simple_mime(to="_app2@example.com", extra_headers="Cc: _app3@example.com\r\n")
    out = deliver(aws_env, ["_app1@example.com"], raw=raw)
    assert apps_of(out) == {"app1": 1}
