"""Discovery lists each many-instance kind once and reads details only of what exists; deploy prints its
outputs without repeating discovery; the executor starts a change as soon as its own dependencies are done.

Counts of calls only: nothing here measures time.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

from deploy_helpers import CallRecorder, ConfigWriter, StackOpener

from mailflow_cli.deploy import deploy_stack, plan_stack, read_outputs
from mailflow_cli.deploy.execute import apply_plan
from mailflow_cli.deploy.model import Action, Change, Observed, Plan, Resource
from mailflow_cli.deploy.progress import ignore_progress

APPS_FEW = ["app1", "app2"]
APPS_MANY = [f"app{i:02d}" for i in range(1, 21)]


def counts(recorder: CallRecorder) -> Counter[str]:
    return Counter(operation for _, operation in recorder.calls)


def test_discovery_of_a_fresh_stack_costs_the_same_calls_whatever_the_number_of_apps(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    few, few_calls = open_recorded(write_config(apps=APPS_FEW))
    many, many_calls = open_recorded(write_config(apps=APPS_MANY))
    few.names, many.names  # noqa: B018 (the account id lookup is not discovery)
    few_calls.calls.clear()
    many_calls.calls.clear()
    plan_stack(few)
    plan_stack(many)
    assert counts(few_calls) == counts(many_calls)
    assert counts(many_calls)["ListQueues"] == 1
    assert counts(many_calls)["DescribeAlarms"] == 1
    assert counts(many_calls)["GetQueueUrl"] == 0
    assert counts(many_calls)["GetQueueAttributes"] == 0
    assert counts(many_calls)["DescribeActiveReceiptRuleSet"] == 1
    assert many_calls.mutating == []


def test_discovery_of_a_deployed_stack_reads_each_queue_and_alarm_once_without_looking_up_urls(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    path = write_config(apps=APPS_MANY)
    first, _ = open_recorded(path)
    deploy_stack(first)
    ctx, recorder = open_recorded(path)
    plan = plan_stack(ctx)
    assert not plan.has_changes
    queues = len(APPS_MANY) + 7  # default, outbound, SES events and the four dead-letter queues
    alarms = 4  # errors, dead letters, bounce rate, complaint rate: none per app by default
    seen = counts(recorder)
    assert seen["ListQueues"] == 1
    assert seen["GetQueueUrl"] == 0
    assert seen["GetQueueAttributes"] == queues
    assert seen["ListQueueTags"] == queues
    assert seen["DescribeAlarms"] == 1
    assert seen["ListTagsForResource"] == alarms + 2  # + the log group's and the events topic's tags
    assert recorder.mutating == []


def test_deploy_prints_its_outputs_without_a_read_of_its_own(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    path = write_config(apps=APPS_MANY)
    ctx, recorder = open_recorded(path)
    created = deploy_stack(ctx).to_json()
    fresh = counts(recorder)
    assert fresh["GetQueueUrl"] == fresh["GetFunctionConfiguration"] == 0
    assert fresh["DescribeActiveReceiptRuleSet"] == 1  # discovery's
    again, again_calls = open_recorded(path)
    unchanged = deploy_stack(again).to_json()
    assert unchanged == created
    assert counts(again_calls)["GetQueueUrl"] == counts(again_calls)["ListQueues"] - 1 == 0
    reader, reader_calls = open_recorded(path)
    assert read_outputs(reader).to_json() == created
    read = counts(reader_calls)
    assert (read["ListQueues"], read["GetQueueUrl"], read["GetFunctionConfiguration"]) == (1, 0, 1)


class _Step(Resource):
    kind = "test-step"


class _Handler:
    """Each create waits for the events its resource must see first, then sets its own."""

    def __init__(self, waits_for: Mapping[str, str]) -> None:
        self.events = {name: threading.Event() for name in ("a", "b", "c")}
        self.waits_for = waits_for
        self.saw: dict[str, bool] = {}

    def create(self, resource: Resource, step: object) -> Mapping[str, Any]:
        other = self.waits_for.get(resource.name)
        if other is not None:
            self.saw[resource.name] = self.events[other].wait(timeout=30)
        self.events[resource.name].set()
        return {"made": resource.name}


class _Registry:
    def __init__(self, handler: _Handler) -> None:
        self.handler = handler

    def for_resource(self, resource: Resource) -> _Handler:
        return self.handler


def test_a_change_starts_when_its_own_dependencies_are_done_not_when_a_wave_is() -> None:
    # a does not finish until c has run; c depends only on b. Run in waves ({a, b} then {c}),
    # a would wait for c in vain.
    handler = _Handler({"a": "c"})
    changes = (
        Change("test-step", "a", Action.CREATE, resource=_Step("a")),
        Change("test-step", "b", Action.CREATE, resource=_Step("b")),
        Change("test-step", "c", Action.CREATE, depends_on=("test-step:b",), resource=_Step("c")),
        Change("test-step", "d", Action.NO_CHANGE, resource=_Step("d"), observed=Observed({})),
    )
    learned: dict[str, Mapping[str, Any]] = {}
    done = apply_plan(_Registry(handler), Plan(changes), ignore_progress, learned)  # type: ignore[arg-type]
    assert handler.saw == {"a": True}
    assert sorted(done) == ["test-step:a", "test-step:b", "test-step:c"]
    assert learned == {f"test-step:{name}": {"made": name} for name in "abc"}
