"""What the live suite takes from the environment, checked before anything is created.

Every problem is collected into one line that says what to set, so that a run without credentials or
without a domain fails at once and visibly (it never passes by skipping). The variables are documented
in docs/ci.md.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol

import yaml

from mailflow_cli.config import SES_RECEIVING_REGIONS, parse_config
from mailflow_cli.errors import MailflowError
from mailflow_cli.operate.durations import parse_duration

DOMAIN = "MAILFLOW_TEST_DOMAIN"
REGION = "MAILFLOW_TEST_REGION"
RULE_SET = "MAILFLOW_TEST_RULE_SET"
ACTIVATE_RULE_SET = "MAILFLOW_TEST_ACTIVATE_RULE_SET"
ROUTE53 = "MAILFLOW_TEST_ROUTE53"
WORKDIR = "MAILFLOW_TEST_WORKDIR"

APP = "live"
PURPOSE_TAG = {"purpose": "mailflow-live-suite"}
MINUTE = 60.0
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


@dataclass(frozen=True)
class StepTimeouts:
    """Seconds each step may take; ``MAILFLOW_TEST_<STEP>_TIMEOUT`` (``90s``, ``30m``, ``2h``) sets one."""

    deploy: float = 15 * MINUTE
    plan: float = 5 * MINUTE
    verify: float = 30 * MINUTE
    send: float = 5 * MINUTE
    status: float = 5 * MINUTE
    logs: float = 5 * MINUTE
    destroy: float = 15 * MINUTE
    leftovers: float = 5 * MINUTE

    @staticmethod
    def variable(step: str) -> str:
        return f"MAILFLOW_TEST_{step.upper()}_TIMEOUT"


@dataclass(frozen=True)
class LiveSettings:
    environment: str
    domain: str
    region: str
    account: str
    rule_set: str | None
    activate_rule_set: bool
    route53: bool
    workdir: Path | None
    timeouts: StepTimeouts

    def config_text(self) -> str:
        """The run's mailflow.yaml: one domain, one app, and SES rule-set settings only when asked for."""
        document: dict[str, Any] = {
            "environment": self.environment,
            "region": self.region,
            "domains": [self.domain],
            "apps": [APP],
            "tags": PURPOSE_TAG,
        }
        ses: dict[str, Any] = {}
        if self.rule_set:
            ses["ruleSet"] = self.rule_set
        if self.activate_rule_set:
            ses["activateRuleSet"] = True
        if ses:
            document["ses"] = ses
        header = (
            "# Written by the Mailflow live suite (make test-aws); remove the stack with mailflow destroy.\n"
        )
        return header + yaml.safe_dump(document, sort_keys=False)


class SetupError(Exception):
    """The live suite cannot start; the message is one line naming what to set."""


class AwsChain(Protocol):
    """The user's standard AWS credential chain (AWS_PROFILE, the AWS_* variables, SSO, a role)."""

    def default_region(self) -> str | None: ...

    def account_id(self, region: str) -> str:
        """The caller's account (sts get-caller-identity); :class:`SetupError` when that fails."""
        ...


class Boto3Chain:
    """:class:`AwsChain` through boto3's default session, as the ``mailflow`` command resolves it."""

    STS_REGION_FALLBACK = "us-east-1"

    def __init__(self) -> None:
        self._session: Any = None

    def _boto3_session(self) -> Any:
        if self._session is None:
            import boto3

            self._session = boto3.Session()
        return self._session

    def default_region(self) -> str | None:
        from botocore.exceptions import BotoCoreError

        try:
            region = self._boto3_session().region_name
        except BotoCoreError:
            return None  # a broken profile; account_id reports it
        return str(region) if region else None

    def account_id(self, region: str) -> str:
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        config = Config(connect_timeout=10, read_timeout=10, retries={"mode": "standard", "max_attempts": 3})
        try:
            sts = self._boto3_session().client("sts", region_name=region, config=config)
            return str(sts.get_caller_identity()["Account"])
        except (BotoCoreError, ClientError) as exc:
            raise SetupError(
                f"no usable AWS credentials (sts get-caller-identity failed: {_one_line(str(exc))}): "
                "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ) from None


def new_environment() -> str:
    """A fresh environment name for one run (the config requires ^[a-z][a-z0-9]{0,15}$)."""
    return "t" + secrets.token_hex(4)


def read_settings(env: Mapping[str, str], chain: AwsChain) -> LiveSettings:
    """The run's settings, or :class:`SetupError` listing everything that is missing on one line."""
    problems: list[str] = []
    domain = env.get(DOMAIN, "").strip().lower()
    if not domain:
        problems.append(f"set {DOMAIN} to a domain you can verify in SES (for example mail.example.com)")
    region = _region(env, chain, problems)
    rule_set = env.get(RULE_SET, "").strip() or None
    activate_rule_set = _flag(env, ACTIVATE_RULE_SET, problems)
    if rule_set and activate_rule_set:
        problems.append(f"set only one of {RULE_SET} and {ACTIVATE_RULE_SET}")
    route53 = _flag(env, ROUTE53, problems)
    workdir = _workdir(env, problems)
    timeouts = _timeouts(env, problems)
    account = ""
    try:
        account = chain.account_id(region or Boto3Chain.STS_REGION_FALLBACK)
    except SetupError as exc:
        problems.append(str(exc))
    settings = LiveSettings(
        environment=new_environment(),
        domain=domain,
        region=region or "",
        account=account,
        rule_set=rule_set,
        activate_rule_set=activate_rule_set,
        route53=route53,
        workdir=workdir,
        timeouts=timeouts,
    )
    if domain and region:
        _check_config(settings, problems)
    if problems:
        raise SetupError("the live suite cannot start: " + "; ".join(problems) + " (see docs/ci.md)")
    return settings


def _region(env: Mapping[str, str], chain: AwsChain, problems: list[str]) -> str | None:
    region = env.get(REGION, "").strip() or chain.default_region()
    if not region:
        problems.append(
            f"set {REGION} (or AWS_DEFAULT_REGION, or a region in your AWS profile) to a region where SES "
            "receives email, for example eu-west-1"
        )
        return None
    if region not in SES_RECEIVING_REGIONS:
        problems.append(
            f"SES does not receive email in {region}, so Mailflow cannot deploy there: set {REGION} to one "
            f"of {', '.join(sorted(SES_RECEIVING_REGIONS))}"
        )
        return None
    return region


def _flag(env: Mapping[str, str], name: str, problems: list[str]) -> bool:
    value = env.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value not in _FALSE:
        problems.append(f"{name} must be true or false, not {env[name]!r}")
    return False


def _workdir(env: Mapping[str, str], problems: list[str]) -> Path | None:
    value = env.get(WORKDIR, "").strip()
    if not value:
        return None
    path = Path(value)
    if path.exists() and not path.is_dir():
        problems.append(f"{WORKDIR}={value!r} is not a directory")
    return path


def _timeouts(env: Mapping[str, str], problems: list[str]) -> StepTimeouts:
    chosen: dict[str, float] = {}
    for step in fields(StepTimeouts):
        variable = StepTimeouts.variable(step.name)
        text = env.get(variable, "").strip()
        if not text:
            continue
        try:
            seconds = parse_duration(text, option=variable)
        except MailflowError as exc:
            problems.append(f"{exc.message} (use 90s, 30m or 2h)")
            continue
        if seconds <= 0:
            problems.append(f"{variable} must be longer than 0s")
            continue
        chosen[step.name] = seconds
    return StepTimeouts(**chosen)


def _check_config(settings: LiveSettings, problems: list[str]) -> None:
    """The same validation ``mailflow`` applies, so a bad domain is a setup error, not a failed deploy."""
    try:
        parse_config(settings.config_text(), "the config made from MAILFLOW_TEST_*")
    except MailflowError as exc:
        problems.append(_one_line("; ".join(exc.details) or exc.message))


def _one_line(text: str) -> str:
    return " ".join(text.split())
