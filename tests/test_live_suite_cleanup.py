"""The live suite (tests/aws, ``make test-aws``) without AWS: its steps run in order, and its stack is
destroyed on every way out: a failing step, a step killed at its timeout, Ctrl-C, SIGTERM; a destroy that
fails is reported with the command to run by hand; without credentials or a domain it stops non-zero
with one line saying what to set. The CLI is a fake (tests/live_suite_fake_cli.py)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from types import FrameType

import pytest

from aws.runner import LiveStack, StepFailed, Terminated, live_run, sigterm_unwinds
from aws.sequence import run_sequence
from aws.settings import (
    ACTIVATE_RULE_SET,
    DOMAIN,
    REGION,
    RULE_SET,
    LiveSettings,
    SetupError,
    StepTimeouts,
    read_settings,
)
from aws.subprocess_cli import SubprocessCli
from live_suite_fake_cli import FakeCli, exits, raise_and_wait, receives, times_out
from mailflow_cli.config import parse_config

REPO = Path(__file__).resolve().parents[1]
FAKE_SCRIPT = Path(__file__).resolve().parent / "live_suite_fake_cli.py"
SEQUENCE = [
    "deploy",
    "plan",
    "verify-domain",
    "send-test",
    "send-test",
    "status",
    "logs",
    "destroy",
    "plan",
]
BEFORE_DESTROY = SEQUENCE.index("destroy")
DESTROY = ["destroy", "--yes", "--force", "-c"]


def settings_for(workdir: Path | None, **changes: object) -> LiveSettings:
    settings = LiveSettings(
        environment="tunit1",
        domain="example.com",
        region="eu-west-1",
        account="123456789012",
        rule_set=None,
        activate_rule_set=False,
        route53=False,
        workdir=workdir,
        timeouts=StepTimeouts(),
    )
    return replace(settings, **changes)  # type: ignore[arg-type]


class Lines(list[str]):
    def __call__(self, line: str) -> None:
        self.append(line)

    def text(self) -> str:
        return "\n".join(self)


@pytest.fixture
def stack(tmp_path: Path) -> LiveStack:
    return LiveStack.for_settings(settings_for(tmp_path / "work"))


def run_with(cli: FakeCli, stack: LiveStack, said: Lines) -> None:
    with live_run(cli, stack, said, sleep=lambda seconds: time.sleep(0.01)) as run:
        run_sequence(run, stack.settings)


def assert_destroyed_once_at_the_end(cli: FakeCli, stack: LiveStack) -> None:
    destroys = [call for call in cli.calls if call[0] == "destroy"]
    assert destroys == [[*DESTROY, str(stack.config_path)]]
    assert cli.calls[-1][0] == "destroy"


# the whole sequence --------------------------------------------------------------------------------------
def test_a_good_run_calls_every_step_in_order_and_removes_its_config(stack: LiveStack) -> None:
    cli, said = FakeCli(), Lines()
    run_with(cli, stack, said)
    assert cli.commands() == SEQUENCE
    assert all(call[-2:] == ["-c", str(stack.config_path)] for call in cli.calls)
    assert [call for call in cli.calls if call[0] == "destroy"] == [[*DESTROY, str(stack.config_path)]]
    assert not stack.config_path.exists()
    assert stack.config_path.parent.is_dir()  # MAILFLOW_TEST_WORKDIR itself is the user's: kept


def test_the_environment_and_the_leftover_command_come_first(stack: LiveStack) -> None:
    cli, said = FakeCli(), Lines()
    run_with(cli, stack, said)
    assert "environment tunit1" in said[0]
    assert said[1].endswith(f"mailflow destroy --yes --force -c {stack.config_path}")


def test_send_tests_go_to_the_simulator_and_logs_look_for_the_first_send(stack: LiveStack) -> None:
    cli = FakeCli()
    run_with(cli, stack, Lines())
    sends = [call for call in cli.calls if call[0] == "send-test"]
    assert [call[call.index("--to") + 1] for call in sends] == [
        "success@simulator.amazonses.com",
        "bounce@simulator.amazonses.com",
    ]
    logs = next(call for call in cli.calls if call[0] == "logs")
    assert logs[logs.index("--filter") + 1] == '{ $.correlationId = "mailflow-test-3" }'


def test_a_temporary_config_directory_is_removed_with_the_config(tmp_path: Path) -> None:
    stack = LiveStack.for_settings(settings_for(None))
    assert stack.owns_directory
    run_with(FakeCli(), stack, Lines())
    assert not stack.config_path.parent.exists()


# a step fails -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("failing", range(BEFORE_DESTROY), ids=SEQUENCE[:BEFORE_DESTROY])
def test_a_failing_step_stops_the_run_and_the_stack_is_destroyed(stack: LiveStack, failing: int) -> None:
    cli, said = FakeCli(at_call={failing: exits(1, "Error: boom\n")}), Lines()
    with pytest.raises(StepFailed, match="exit 1") as raised:
        run_with(cli, stack, said)
    assert "| Error: boom" in str(raised.value)
    assert cli.commands() == [*SEQUENCE[: failing + 1], "destroy"]
    assert_destroyed_once_at_the_end(cli, stack)
    assert not stack.config_path.exists()
    assert "Remove it by hand" not in said.text()


@pytest.mark.parametrize(
    ("failing", "stdout", "reason"),
    [
        (1, '{"changes": [{"kind": "sqs-queue", "name": "q", "action": "update"}]}', "update sqs-queue q"),
        (
            3,
            '{"delivered": true, "correlationId": "c", "message": {"type": "outbound.status", '
            '"correlationId": "c", "status": "failed", "error": {"reason": "x"}}}',
            "status 'failed'",
        ),
        (5, '{"healthy": false, "problems": ["alarm in ALARM"]}', "alarm in ALARM"),
        (0, "not json", "stdout is not JSON"),
    ],
    ids=["plan-not-empty", "send-failed", "status-unhealthy", "no-json"],
)
def test_a_step_whose_output_is_wrong_fails_and_the_stack_is_destroyed(
    stack: LiveStack, failing: int, stdout: str, reason: str
) -> None:
    exit_code = 2 if failing == 1 else 1 if failing == 5 else 0
    cli = FakeCli(at_call={failing: exits(exit_code, stdout)})
    with pytest.raises(StepFailed, match=reason):
        run_with(cli, stack, Lines())
    assert cli.commands() == [*SEQUENCE[: failing + 1], "destroy"]


def test_a_step_killed_at_its_timeout_fails_and_the_stack_is_destroyed(stack: LiveStack) -> None:
    cli = FakeCli(at_call={2: times_out})
    with pytest.raises(StepFailed, match="no result within 32m; the command was killed"):
        run_with(cli, stack, Lines())
    assert cli.commands() == [*SEQUENCE[:3], "destroy"]


def test_logs_that_never_show_the_send_fail_after_polling(tmp_path: Path) -> None:
    stack = LiveStack.for_settings(settings_for(tmp_path, timeouts=StepTimeouts(logs=0.05)))
    cli = FakeCli(at_command={"logs": exits(0, "")})
    with pytest.raises(StepFailed, match="logs: not seen within"):
        run_with(cli, stack, Lines())
    assert cli.commands().count("logs") >= 2
    assert cli.commands()[-1] == "destroy"


def test_leftovers_after_destroy_are_named_and_the_config_is_kept(tmp_path: Path) -> None:
    stack = LiveStack.for_settings(settings_for(tmp_path, timeouts=StepTimeouts(leftovers=0.05)))
    left = '{"changes": [{"kind": "sqs-queue", "name": "mailflow-tunit1-app-live", "action": "no-change"}]}'
    cli, said = FakeCli(at_command={"plan": exits(0, left)}), Lines()  # before destroy: no changes
    with pytest.raises(StepFailed, match="still there: sqs-queue mailflow-tunit1-app-live"):
        run_with(cli, stack, said)
    after_destroy = cli.commands()[cli.commands().index("destroy") + 1 :]
    assert after_destroy.count("plan") == len(after_destroy) >= 2  # polled, never destroyed again
    assert stack.config_path.exists()
    assert f"Remove it by hand with: mailflow destroy --yes --force -c {stack.config_path}" in said.text()


# interrupted ------------------------------------------------------------------------------------------
@pytest.fixture
def sigint_raises_keyboard_interrupt() -> Iterator[None]:
    """As in a terminal; a process started in the background may have SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


class OutsideHandler(Exception):
    pass


@pytest.fixture
def sigterm_outside_the_run() -> Iterator[list[int]]:
    """A handler of the test's own for SIGTERM, so that a run that failed to install one cannot kill
    pytest; the run must put it back when it ends."""
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        raise OutsideHandler

    previous = signal.signal(signal.SIGTERM, handler)
    yield received
    assert signal.getsignal(signal.SIGTERM) is handler
    signal.signal(signal.SIGTERM, previous)


@pytest.mark.usefixtures("sigint_raises_keyboard_interrupt")
def test_ctrl_c_mid_step_destroys_the_stack_and_goes_on_as_an_interrupt(stack: LiveStack) -> None:
    cli, said = FakeCli(at_call={2: receives(signal.SIGINT)}), Lines()
    with pytest.raises(KeyboardInterrupt):
        run_with(cli, stack, said)
    assert cli.commands() == [*SEQUENCE[:3], "destroy"]
    assert_destroyed_once_at_the_end(cli, stack)
    assert "interrupted (Ctrl-C)" in said.text()
    assert not stack.config_path.exists()


def test_sigterm_mid_step_destroys_the_stack_like_ctrl_c(
    stack: LiveStack, sigterm_outside_the_run: list[int]
) -> None:
    cli, said = FakeCli(at_call={4: receives(signal.SIGTERM)}), Lines()
    with pytest.raises(Terminated, match="SIGTERM"):
        run_with(cli, stack, said)
    assert cli.commands() == [*SEQUENCE[:5], "destroy"]
    assert_destroyed_once_at_the_end(cli, stack)
    assert sigterm_outside_the_run == []
    assert not stack.config_path.exists()


def test_the_sigterm_handler_is_put_back_after_the_run(sigterm_outside_the_run: list[int]) -> None:
    with sigterm_unwinds(), pytest.raises(Terminated):
        raise_and_wait(signal.SIGTERM)
    with pytest.raises(OutsideHandler):
        raise_and_wait(signal.SIGTERM)
    assert sigterm_outside_the_run == [signal.SIGTERM]


# the destroy itself fails -------------------------------------------------------------------------------
def test_a_failing_cleanup_destroy_names_the_command_and_the_first_error_stays(stack: LiveStack) -> None:
    cli, said = FakeCli(at_call={0: exits(1)}, at_command={"destroy": exits(1)}), Lines()
    with pytest.raises(StepFailed, match=r"^deploy: exit 1") as raised:
        run_with(cli, stack, said)
    command = f"mailflow destroy --yes --force -c {stack.config_path}"
    assert f"Remove it by hand with: {command}" in said.text()
    assert "✗ cleanup failed: destroy: exit 1" in said.text()
    assert raised.value.__notes__ == [f"Remove the stack by hand with: {command}"]
    assert "environment: tunit1" in stack.config_path.read_text()  # kept for that command


def test_a_failing_final_destroy_is_not_repeated_and_names_the_command(stack: LiveStack) -> None:
    cli, said = FakeCli(at_command={"destroy": exits(1)}), Lines()
    with pytest.raises(StepFailed, match=r"^destroy: exit 1") as raised:
        run_with(cli, stack, said)
    assert cli.commands() == SEQUENCE[: BEFORE_DESTROY + 1]
    assert raised.value.__notes__ == [
        f"Remove the stack by hand with: {cli.command_line([*DESTROY, str(stack.config_path)])}"
    ]
    assert stack.config_path.exists()


@pytest.mark.usefixtures("sigint_raises_keyboard_interrupt")
def test_ctrl_c_during_the_cleanup_destroy_still_names_the_command(stack: LiveStack) -> None:
    cli = FakeCli(at_call={1: exits(1)}, at_command={"destroy": receives(signal.SIGINT)})
    said = Lines()
    with pytest.raises(StepFailed, match=r"^plan shows no changes: exit 1"):
        run_with(cli, stack, said)
    assert "✗ cleanup failed: interrupted (Ctrl-C)" in said.text()
    assert f"Remove it by hand with: mailflow destroy --yes --force -c {stack.config_path}" in said.text()


# the real subprocess layer -------------------------------------------------------------------------------
def test_the_subprocess_cli_kills_a_command_at_its_timeout_and_keeps_what_it_printed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli = SubprocessCli([sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"])
    result = cli.run([], timeout=1)
    assert result.timed_out
    assert result.stdout == "started\n"
    assert capsys.readouterr().out == "started\n"  # echoed as it arrived


def test_the_subprocess_cli_returns_the_exit_code_and_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    cli = SubprocessCli([sys.executable, "-c", "import sys; print(sys.argv[1:]); sys.exit(3)"])
    result = cli.run(["plan", "--json"], timeout=60)
    assert (result.returncode, result.stdout) == (3, "['plan', '--json']\n")
    assert capsys.readouterr().out == ""  # --json output is data for the checks, not echoed
    assert cli.command_line(["-c", "a b.yaml"]).endswith("-c 'a b.yaml'")


CHILD = """
import sys
from pathlib import Path
from aws.runner import LiveStack, live_run
from aws.sequence import run_sequence
from aws.settings import LiveSettings, StepTimeouts
from aws.subprocess_cli import SubprocessCli

settings = LiveSettings(
    environment="tsigterm", domain="example.com", region="eu-west-1", account="123456789012",
    rule_set=None, activate_rule_set=False, route53=False, workdir=Path(sys.argv[1]),
    timeouts=StepTimeouts(),
)
cli = SubprocessCli([sys.executable, sys.argv[2]])
say = lambda line: print(line, file=sys.stderr, flush=True)
with live_run(cli, LiveStack.for_settings(settings), say) as run:
    run_sequence(run, settings)
"""


@pytest.mark.e2e
def test_sigterm_from_outside_kills_the_running_command_and_destroys_the_stack(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    env = {**os.environ, "FAKE_MAILFLOW_LOG": str(log), "FAKE_MAILFLOW_HANG": "verify-domain"}
    env["PYTHONPATH"] = str(FAKE_SCRIPT.parent)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "work"), str(FAKE_SCRIPT)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, so that the finally below can end it all
    )
    try:
        for _ in range(600):
            if log.exists() and '"verify-domain"' in log.read_text():
                break
            time.sleep(0.1)
        else:
            pytest.fail("the fake verify-domain never started")
        child.send_signal(signal.SIGTERM)
        _, stderr = child.communicate(timeout=60)
        calls = [json.loads(line) for line in log.read_text().splitlines()]
        config = tmp_path / "work" / "mailflow-tsigterm.yaml"
        assert [call["args"][0] for call in calls] == ["deploy", "plan", "verify-domain", "destroy"]
        assert calls[-1]["args"] == [*DESTROY, str(config)]
        assert child.returncode != 0
        assert "terminated by SIGTERM" in stderr
        assert "Remove it by hand" not in stderr
        with pytest.raises(ProcessLookupError):  # the hung command was killed
            os.kill(calls[2]["pid"], 0)
        assert not config.exists()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()


# settings and the gate ----------------------------------------------------------------------------------
class FakeChain:
    def __init__(self, region: str | None = "eu-west-1", account: str | None = "123456789012") -> None:
        self.region = region
        self.account = account

    def default_region(self) -> str | None:
        return self.region

    def account_id(self, region: str) -> str:
        if self.account is None:
            raise SetupError(
                "no usable AWS credentials (sts get-caller-identity failed: nope): set AWS_PROFILE"
            )
        return self.account


def test_settings_from_the_environment() -> None:
    env = {DOMAIN: "Mail.Example.COM", "MAILFLOW_TEST_DEPLOY_TIMEOUT": "20m", "MAILFLOW_TEST_ROUTE53": "true"}
    settings = read_settings(env, FakeChain())
    assert (settings.domain, settings.region, settings.account) == (
        "mail.example.com",
        "eu-west-1",
        "123456789012",
    )
    assert settings.timeouts.deploy == 1200
    assert settings.timeouts.destroy == StepTimeouts().destroy
    assert settings.route53
    assert settings.environment.startswith("t")
    config = parse_config(settings.config_text())
    assert config.environment == settings.environment
    assert (config.domains, [app.name for app in config.apps]) == (("mail.example.com",), ["live"])
    assert (config.ses.rule_set, config.ses.activate_rule_set) == (None, False)


def test_every_run_gets_a_new_valid_environment_name() -> None:
    names = {read_settings({DOMAIN: "example.com"}, FakeChain()).environment for _ in range(20)}
    assert len(names) == 20
    for name in names:
        assert (
            parse_config(f"environment: {name}\nregion: eu-west-1\ndomains: [a.com]\napps: [x]\n").environment
            == name
        )


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [(RULE_SET, "legacy-rules", "ruleSet"), (ACTIVATE_RULE_SET, "yes", "activateRuleSet")],
)
def test_rule_set_settings_appear_only_when_asked_for(variable: str, value: str, key: str) -> None:
    settings = read_settings({DOMAIN: "example.com", variable: value}, FakeChain())
    config = parse_config(settings.config_text())
    assert (config.ses.rule_set, config.ses.activate_rule_set) == (
        ("legacy-rules", False) if key == "ruleSet" else (None, True)
    )


@pytest.mark.parametrize(
    ("env", "chain", "expected"),
    [
        ({}, FakeChain(), f"set {DOMAIN} to a domain"),
        ({DOMAIN: "example.com"}, FakeChain(account=None), "no usable AWS credentials"),
        ({DOMAIN: "example.com"}, FakeChain(region=None), f"set {REGION} (or AWS_DEFAULT_REGION"),
        (
            {DOMAIN: "example.com", REGION: "eu-central-2"},
            FakeChain(),
            "SES does not receive email in eu-central-2",
        ),
        ({DOMAIN: "not a domain"}, FakeChain(), "domains: 'not a domain' is not a valid domain name"),
        (
            {DOMAIN: "example.com", "MAILFLOW_TEST_SEND_TIMEOUT": "soon"},
            FakeChain(),
            "MAILFLOW_TEST_SEND_TIMEOUT: 'soon'",
        ),
        (
            {DOMAIN: "example.com", "MAILFLOW_TEST_PLAN_TIMEOUT": "0s"},
            FakeChain(),
            "MAILFLOW_TEST_PLAN_TIMEOUT must be",
        ),
        (
            {DOMAIN: "example.com", "MAILFLOW_TEST_ROUTE53": "maybe"},
            FakeChain(),
            "MAILFLOW_TEST_ROUTE53 must be true",
        ),
        ({DOMAIN: "example.com", RULE_SET: "x", ACTIVATE_RULE_SET: "1"}, FakeChain(), "set only one of"),
    ],
    ids=[
        "no-domain",
        "no-credentials",
        "no-region",
        "no-receiving",
        "bad-domain",
        "bad-timeout",
        "zero-timeout",
        "bad-flag",
        "both-rule-set-options",
    ],
)
def test_a_missing_or_bad_setting_is_one_line_naming_it(
    env: Mapping[str, str], chain: FakeChain, expected: str
) -> None:
    with pytest.raises(SetupError) as raised:
        read_settings(env, chain)
    message = str(raised.value)
    assert expected in message
    assert "\n" not in message
    assert message.startswith("the live suite cannot start: ")


def test_everything_missing_is_said_at_once() -> None:
    with pytest.raises(SetupError) as raised:
        read_settings({}, FakeChain(region=None, account=None))
    message = str(raised.value)
    assert [DOMAIN in message, REGION in message, "AWS credentials" in message] == [True, True, True]


def no_aws_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No credentials anywhere in the chain: no AWS_* variables, empty files, no instance metadata."""
    (tmp_path / "config").write_text("")
    (tmp_path / "credentials").write_text("")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MAILFLOW_TEST_", "MAKE", "MFLAGS"))
    }
    env |= {
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return env | extra


def make_test_aws(env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    make = shutil.which("make")
    assert make is not None, "make is not installed"
    return subprocess.run(
        [make, "--no-print-directory", "test-aws"],
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.e2e
def test_make_test_aws_without_credentials_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    result = make_test_aws(
        no_aws_environment(tmp_path, MAILFLOW_TEST_DOMAIN="example.com", MAILFLOW_TEST_REGION="eu-west-1")
    )
    assert result.returncode != 0
    said = [line for line in result.stderr.splitlines() if "live suite cannot start" in line]
    assert len(said) == 1
    assert (
        "no usable AWS credentials (sts get-caller-identity failed: Unable to locate credentials)" in said[0]
    )
    assert "AWS_PROFILE" in said[0]
    assert "passed" not in result.stdout + result.stderr
    assert "skipped" not in result.stdout + result.stderr


@pytest.mark.e2e
def test_make_test_aws_without_a_domain_exits_non_zero_and_names_the_variable(tmp_path: Path) -> None:
    result = make_test_aws(no_aws_environment(tmp_path, MAILFLOW_TEST_REGION="eu-west-1"))
    assert result.returncode != 0
    said = [line for line in result.stderr.splitlines() if "live suite cannot start" in line]
    assert len(said) == 1
    assert f"set {DOMAIN} to a domain" in said[0]


@pytest.mark.e2e
def test_the_default_collection_leaves_the_live_suite_out(tmp_path: Path) -> None:
    """``pytest`` from the repository (what ``make test`` runs) never imports tests/aws: everything
    else is left out here to keep this fast; were tests/aws collected, its gate would exit 4."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "--ignore-glob=tests/[!a]*",
            "tests",
        ],
        check=False,
        cwd=REPO,
        env=no_aws_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, result.stdout + result.stderr
    assert "tests/aws" not in result.stdout
