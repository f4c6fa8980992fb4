"""The real CLI (in process) against a moto server behind the fault layer that plays AWS's eventual
consistency and throttling (``mailflow_cli.local.faults.scenarios``): fresh deploys, re-deploys, app
changes, destroy and destroy-then-deploy converge, say what they wait for, and wait no longer than the
retry policy allows; a fault that outlasts the policy is one clear error naming the call.

moto answers at once, where AWS makes callers wait: the fault layer adds AWS's documented answers (the
codes and messages of ``scenarios``). Sleeps are virtual: the clock moves by each sleep, and every sleep is
counted by who slept (the engine's retries, botocore's retry mode, botocore's waiters). Each injected
"not yet" costs exactly one sleep of its sleeper, so the tests count sleeps against injections and sum
them against the policy's budget; they never measure wall time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.endpoint
import botocore.waiter
import pytest
import yaml
from deploy_helpers import BASE_CONFIG
from fault_server import BOTOCORE, RETRY, WAITER, FaultServer, SleepingTime, VirtualClock

import mailflow_cli.context
from mailflow_cli.aws import RETRY_MAX_ATTEMPTS, TOTAL_ATTEMPTS
from mailflow_cli.cli import run
from mailflow_cli.deploy import RETRY_POLICY_KEY, RetryPolicy
from mailflow_cli.local.faults import Error, FaultEngine, Injection, State, parse_rules
from mailflow_cli.local.faults.scenarios import (
    EVENTUAL_CONSISTENCY,
    FRESH_ACCOUNT,
    IAM_BOUNDARY_NOT_FOUND,
    IAM_ROLE_NOT_FOUND,
    LAMBDA_FUNCTION_PENDING,
    LAMBDA_ROLE_NOT_ASSUMABLE,
    LAMBDA_ROLE_POLICY_NOT_PROPAGATED,
    S3_BUCKET_NAME_NOT_RELEASED,
    SES_TARGETS_NOT_PROPAGATED,
    SQS_QUEUE_DELETED_RECENTLY,
    Scenario,
    throttling,
)

SEED = 20_260_101
CONFIG: dict[str, Any] = {
    **BASE_CONFIG,
    "alarms": {"email": "ops@example.com"},
    "lambda": {"reservedConcurrency": 5},
}
QUEUES = (
    "mailflow-dev-app-app1",
    "mailflow-dev-app-app2",
    "mailflow-dev-default",
    "mailflow-dev-outbound",
    "mailflow-dev-apps-dlq",
    "mailflow-dev-outbound-dlq",
    "mailflow-dev-inbound-dlq",
)
BOTOCORE_MAX_BACKOFF = 20  # seconds: botocore's standard retry mode caps each sleep there

# What the CLI says it waits for, by the AWS answer that makes it wait.
NOTES = {
    ("iam", "CreateRole"): "IAM to make the new permissions boundary attachable",
    ("iam", "PutRolePolicy"): "IAM to make the new role visible",
    ("lambda", "CreateFunction"): "IAM to propagate the new role to Lambda",
    ("lambda", "CreateEventSourceMapping"): "IAM to propagate the role's policy to Lambda",
    ("lambda", "ResourceConflictException"): "the function to finish its creation or its last update",
    ("lambda", "Configuration.State"): "function to become Active",
    ("lambda", "Configuration.LastUpdateStatus"): "update to finish",
    ("lambda", "State"): "function to become Active",
    ("lambda", "LastUpdateStatus"): "update to finish",
    ("ses", "CreateReceiptRule"): "SES to see the bucket policy and the Lambda permission",
    ("ses", "UpdateReceiptRule"): "SES to see the bucket policy and the Lambda permission",
    ("sqs", "CreateQueue"): "SQS to release the name of a queue deleted less than 60 s ago",
    ("s3", "CreateBucket"): "S3 to finish a conflicting operation on the bucket",
}


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def said(self) -> str:
        """stderr with rich's line wrapping undone."""
        return " ".join(self.err.split())


class Mailflow:
    """``mailflow <command> -c <config>`` in process, as a user runs it (exit status, stdout, stderr)."""

    def __init__(self, directory: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.path = directory / "mailflow.yaml"
        self.capsys = capsys
        self.configure()

    def configure(self, **overrides: Any) -> None:
        self.path.write_text(yaml.safe_dump({**CONFIG, **overrides}), encoding="utf-8")

    def __call__(self, *args: str) -> Result:
        self.capsys.readouterr()
        try:
            run([*args, "-c", str(self.path)])
            code = 0
        except SystemExit as done:
            code = int(done.code or 0)
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def converged(self) -> bool:
        return self("plan", "--exit-code").code == 0


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> VirtualClock:
    clock = VirtualClock()
    monkeypatch.setattr(botocore.endpoint, "time", SleepingTime(clock.sleeper(BOTOCORE)))
    monkeypatch.setattr(botocore.waiter, "time", SleepingTime(clock.sleeper(WAITER)))
    return clock


@pytest.fixture
def policy(clock: VirtualClock) -> RetryPolicy:
    """The CLI's policy as it is, but sleeping on the virtual clock."""
    return RetryPolicy(sleep=clock.sleeper(RETRY))


@pytest.fixture
def server(clock: VirtualClock) -> Iterator[FaultServer]:
    with FaultServer(FaultEngine(seed=SEED, clock=clock)) as server:
        yield server


@pytest.fixture
def mailflow(
    server: FaultServer,
    policy: RetryPolicy,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> Mailflow:
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    opened = mailflow_cli.context.open_stack

    def open_stack(*args: Any, **kwargs: Any) -> Any:
        context = opened(*args, **kwargs)
        context.extras[RETRY_POLICY_KEY] = policy
        return context

    monkeypatch.setattr(mailflow_cli.context, "open_stack", open_stack)
    return Mailflow(tmp_path, capsys)


def playing(server: FaultServer, clock: VirtualClock, rules: tuple[Any, ...]) -> None:
    """From now on the server plays ``rules``; sleeps are counted afresh."""
    server.engine.set_rules(rules)
    clock.sleeps.clear()


def is_error(injection: Injection) -> bool:
    return isinstance(injection.effect, Error)


def waiter_reads(injections: tuple[Injection, ...]) -> list[Injection]:
    """States answered to the reads a waiter polls (not the state a create or update answers)."""
    return [i for i in injections if isinstance(i.effect, State) and i.call.operation.startswith("Get")]


def expected_notes(injections: tuple[Injection, ...]) -> set[str]:
    notes = set()
    for injection in injections:
        call, effect = injection.call, injection.effect
        if isinstance(effect, Error):
            key = (
                call.service,
                effect.code if effect.code == "ResourceConflictException" else call.operation,
            )
            notes.add(NOTES[key])
        elif call.operation.startswith("Get"):
            notes.add(NOTES[(call.service, effect.fields[0][0])])  # type: ignore[union-attr]
    return notes


def assert_waits_accounted(
    clock: VirtualClock, injected: tuple[Injection, ...], policy: RetryPolicy, stderr: str
) -> None:
    """Every injected "not yet" was waited out by exactly one sleep of the right sleeper, no wait went past
    the policy's budget, and each was announced."""
    errors = [i for i in injected if is_error(i)]
    reads = waiter_reads(injected)
    assert len(clock.sleeps[RETRY]) == len(errors)
    assert len(clock.sleeps[WAITER]) == len(reads)
    assert clock.sleeps[BOTOCORE] == []
    assert all(0 < sleep <= policy.max_delay for sleep in clock.sleeps[RETRY])
    assert set(clock.sleeps[WAITER]) <= {policy.waiter_delay}
    refused: dict[tuple[str, frozenset[str]], int] = {}
    for injection in errors:
        key = (injection.call.operation, injection.call.names)
        refused[key] = refused.get(key, 0) + 1
    assert max(refused.values(), default=0) <= len(policy.delays())  # no call waited past its budget
    assert sum(clock.sleeps[RETRY]) <= policy.budget_seconds * len(refused)
    for note in expected_notes(injected):
        assert note in stderr, note


def test_a_fresh_deploy_converges_through_a_fresh_accounts_delays(
    mailflow: Mailflow, server: FaultServer, clock: VirtualClock, policy: RetryPolicy
) -> None:
    playing(server, clock, FRESH_ACCOUNT.rules)
    deployed = mailflow("deploy", "--yes")
    assert deployed.code == 0, deployed.err
    injected = server.engine.injections()
    operations = {(i.call.service, i.call.operation) for i in injected if is_error(i)}
    # The delays every fresh account shows, whatever the order of the concurrent steps:
    assert {("iam", "CreateRole"), ("iam", "PutRolePolicy"), ("lambda", "CreateFunction")} <= operations
    assert any(i.call.operation == "GetFunction" for i in waiter_reads(injected))
    assert_waits_accounted(clock, server.engine.injections(), policy, deployed.said)
    assert "Traceback" not in deployed.err
    assert mailflow.converged()


@pytest.mark.parametrize(
    "scenario",
    [
        IAM_BOUNDARY_NOT_FOUND,
        IAM_ROLE_NOT_FOUND,
        LAMBDA_ROLE_NOT_ASSUMABLE,
        LAMBDA_ROLE_POLICY_NOT_PROPAGATED,
        LAMBDA_FUNCTION_PENDING,
        SES_TARGETS_NOT_PROPAGATED,
    ],
    ids=lambda scenario: scenario.name,
)
def test_each_delay_of_a_fresh_account_alone_is_waited_out(
    scenario: Scenario, mailflow: Mailflow, server: FaultServer, clock: VirtualClock, policy: RetryPolicy
) -> None:
    """Alone, nothing else sleeps meanwhile: each behaviour shows on a fresh deploy, whatever the timing."""
    playing(server, clock, scenario.rules)
    deployed = mailflow("deploy", "--yes")
    assert deployed.code == 0, deployed.err
    injected = server.engine.injections()
    assert any(is_error(i) or i in waiter_reads(injected) for i in injected)
    assert_waits_accounted(clock, injected, policy, deployed.said)
    assert mailflow.converged()


def test_an_update_refused_while_another_is_in_progress_is_retried(
    mailflow: Mailflow, server: FaultServer, clock: VirtualClock, policy: RetryPolicy
) -> None:
    """Lambda refuses an update while an earlier one (say, from another deploy) is still in progress."""
    assert mailflow("deploy", "--yes").code == 0
    mailflow.configure(apps=["app1", "app2", "app3"])
    playing(
        server,
        clock,
        parse_rules(
            [
                "lambda:UpdateFunctionCode=first:2:ResourceConflictException;message=The operation cannot be "
                "performed at this time. An update is in progress for resource: {FunctionName}"
            ]
        ),
    )
    deployed = mailflow("deploy", "--yes")
    assert deployed.code == 0, deployed.err
    assert clock.sleeps[RETRY] == [1, 2]
    assert_waits_accounted(clock, server.engine.injections(), policy, deployed.said)
    assert mailflow.converged()


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({}, id="redeploy"),
        pytest.param(
            {"apps": ["app1", "app2", "app3"], "lambda": {"reservedConcurrency": 5, "memoryMb": 1024}},
            id="add-an-app",
        ),
        pytest.param({"apps": ["app1"]}, id="remove-an-app"),
    ],
)
def test_a_redeploy_and_app_changes_converge(
    change: dict[str, Any], mailflow: Mailflow, server: FaultServer, clock: VirtualClock, policy: RetryPolicy
) -> None:
    assert mailflow("deploy", "--yes").code == 0
    mailflow.configure(**change)
    playing(server, clock, EVENTUAL_CONSISTENCY.rules)
    deployed = mailflow("deploy", "--yes")
    assert deployed.code == 0, deployed.err
    assert_waits_accounted(clock, server.engine.injections(), policy, deployed.said)
    if change:
        # The handler's routing changed: its code update is InProgress until Lambda is done with it.
        assert any(i.call.operation == "GetFunction" for i in waiter_reads(server.engine.injections()))
    assert mailflow.converged()


def test_destroy_converges_and_a_deploy_right_after_it_waits_for_the_names(
    mailflow: Mailflow, server: FaultServer, clock: VirtualClock, policy: RetryPolicy
) -> None:
    assert mailflow("deploy", "--yes").code == 0
    playing(server, clock, EVENTUAL_CONSISTENCY.rules)
    destroyed = mailflow("destroy", "--yes")
    assert destroyed.code == 0, destroyed.err
    assert_waits_accounted(clock, server.engine.injections(), policy, destroyed.said)
    planned = mailflow("plan", "--json")
    assert planned.code == 0
    assert {change["action"] for change in json.loads(planned.out)["changes"]} == {"create"}  # nothing left

    destroyed_with = len(server.engine.injections())
    clock.sleeps.clear()  # the rules play on: the deletes' windows are open
    deployed = mailflow("deploy", "--yes")
    assert deployed.code == 0, deployed.err
    injected = server.engine.injections()[destroyed_with:]
    refused = {
        name
        for i in injected
        if i.rule in SQS_QUEUE_DELETED_RECENTLY.rules + S3_BUCKET_NAME_NOT_RELEASED.rules
        for name in i.call.names
    }
    # The dead-letter queues are created first, within SQS's 60 s, and waited for; the queues that need
    # them come after those waits, when SQS has released their names too.
    assert {"mailflow-dev-apps-dlq", "mailflow-dev-outbound-dlq", "mailflow-dev-inbound-dlq"} <= refused
    assert "mailflow-dev-123456789012-eu-west-1" in refused  # and the bucket's name
    assert_waits_accounted(clock, injected, policy, deployed.said)
    assert mailflow.converged()


def test_throttling_anywhere_is_retried_by_botocore_and_converges(
    mailflow: Mailflow, server: FaultServer, clock: VirtualClock
) -> None:
    playing(server, clock, throttling(0.2).rules)
    deployed = mailflow("deploy", "--yes")
    assert deployed.code == 0, deployed.err
    destroyed = mailflow("destroy", "--yes")
    assert destroyed.code == 0, destroyed.err
    throttled = server.engine.injections()
    assert {i.call.service for i in throttled} >= {"iam", "lambda", "s3", "sqs", "ses", "sns", "cloudwatch"}
    assert len(clock.sleeps[BOTOCORE]) == len(throttled)  # botocore's retry mode retried each one
    assert max(clock.sleeps[BOTOCORE]) <= BOTOCORE_MAX_BACKOFF
    assert clock.sleeps[RETRY] == []  # nothing for the engine's own retries
    server.engine.set_rules(())
    assert mailflow("plan", "--json").code == 0


@pytest.mark.parametrize(
    ("rules", "sleeper", "message", "hint"),
    [
        pytest.param(
            [
                "lambda:CreateFunction=always:InvalidParameterValueException;"
                "message=The role defined for the function cannot be assumed by Lambda."
            ],
            RETRY,
            "lambda-function mailflow-dev-handler: lambda CreateFunction: IAM has not propagated the role to "
            "Lambda after 115 s (InvalidParameterValueException: The role defined for the function cannot "
            "be assumed by Lambda.)",
            "run `mailflow deploy` again in a minute",
            id="role-never-assumable",
        ),
        pytest.param(
            [
                "sqs:CreateQueue=always:AWS.SimpleQueueService.QueueDeletedRecently;resource=mailflow-dev-default"
            ],
            RETRY,
            "sqs-queue mailflow-dev-default: sqs CreateQueue: SQS has not released the queue name "
            "after 115 s",
            "SQS releases a deleted queue's name 60 s after the delete",
            id="queue-name-never-released",
        ),
        pytest.param(
            [
                "lambda:CreateFunction=always:state:State=Pending",
                "lambda:GetFunction=always:state:Configuration.State=Pending",
            ],
            WAITER,
            "lambda-function mailflow-dev-handler: lambda GetFunction: the function is still not Active "
            "after 118 s",
            "run `mailflow deploy` again in a minute",
            id="function-never-active",
        ),
        pytest.param(
            ["dynamodb:CreateTable=always:ThrottlingException"],
            BOTOCORE,
            "dynamodb-table mailflow-dev-idempotency: AWS kept throttling dynamodb CreateTable "
            f"(ThrottlingException) through {TOTAL_ATTEMPTS} attempts",
            "wait a minute and run the command again",
            id="throttled-past-botocores-attempts",
        ),
    ],
)
def test_a_fault_that_outlasts_the_budget_is_one_clear_error(  # noqa: PLR0917 - parameters and fixtures
    rules: list[str],
    sleeper: str,
    message: str,
    hint: str,
    mailflow: Mailflow,
    server: FaultServer,
    clock: VirtualClock,
    policy: RetryPolicy,
) -> None:
    playing(server, clock, parse_rules(rules))
    failed = mailflow("deploy", "--yes")
    assert failed.code == 1
    assert f"Error: {message}" in failed.said
    assert hint in failed.said
    assert "Traceback" not in failed.err
    slept = clock.sleeps[sleeper]
    if sleeper == RETRY:
        assert slept == policy.delays()  # the whole schedule, and not one sleep more
        assert sum(slept) <= policy.budget_seconds
    elif sleeper == WAITER:
        config = policy.waiter_config()
        assert slept == [config["Delay"]] * (config["MaxAttempts"] - 1)
        assert sum(slept) <= policy.budget_seconds
    else:
        assert len(slept) == RETRY_MAX_ATTEMPTS
        assert len(server.engine.injections()) == TOTAL_ATTEMPTS  # the first try and every retry
    server.engine.set_rules(())
    assert mailflow("deploy", "--yes").code == 0  # and the next deploy continues where it stopped
    assert mailflow.converged()
