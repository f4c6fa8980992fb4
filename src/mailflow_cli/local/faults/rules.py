"""Fault rules: pure data that says which AWS calls to answer differently, when, and with what.

A rule has a compact text form, parsed by :func:`parse_rule` and printed by :meth:`FaultRule.to_text`::

    <service>:<operation>=<when>[:<effect>][;<option>=<value>]...

    lambda:CreateFunction=first:3:InvalidParameterValueException
    sqs:SendMessage=0.2:ServiceUnavailable
    sqs:CreateQueue=after-same:sqs:DeleteQueue:60s:AWS.SimpleQueueService.QueueDeletedRecently
    lambda:GetFunction=after-same:lambda:UpdateFunction*:3x:state:Configuration.LastUpdateStatus=InProgress
    lambda:CreateFunction=always:InvalidParameterValueException;status=400;message=The role ...

``service`` is botocore's service name; ``operation`` an operation name or a glob (``*``, ``Update*``).

``when``:
  - ``0.2``: a share of the matching calls (0 < share <= 1), drawn from a generator seeded per rule;
  - ``always``; ``first:N``: the first N matching calls;
  - ``after:<service>:<operation>:<window>``: matching calls within the window after a successful call of
    that operation (a glob too), the window being ``5s`` (seconds) or ``3x`` (the next 3 matching calls);
  - ``after-same:...``: the same, counted only for calls that name a resource the earlier call named
    (``sqs:CreateQueue`` of the queue that ``sqs:DeleteQueue`` deleted).

``effect``: an error code (answered with that code's HTTP status and AWS's message, or ``status=`` and
``message=``; without an effect, ``ServiceUnavailable``, 503, which every SDK retries), or
``state:<path>=<value>,...``: the call goes through and fields of its JSON answer are
replaced (``Configuration.State=Pending``), for the JSON protocols only.

Options: ``status=<4xx|5xx>``, ``resource=<glob>`` (the call must name a matching resource: a queue, role,
function or bucket name, or an ARN or URL), ``caller=<access key id>`` (only calls signed with that key),
and ``message=<text>``, which takes the rest of the rule (so it may hold ``;``). In a message,
``{Name}`` is replaced by the call's parameter of that name (``{BucketName}``, ``{FunctionName}``).

Lambda faults (:class:`LambdaFault`, parsed by :func:`parse_any`) have the same shape without an effect:
``lambda:timeout=<when>`` or ``lambda:crash=<when>``, ``when`` being a share, ``always`` or ``first:N`` of
the invocations, with one option, ``write=N`` (default 1): the invocation times out (its worker stops
until the function's timeout kills it) or its worker process dies right after the invocation's Nth
successful write call, so the handler's side effects have begun.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from decimal import Decimal

from mailflow_cli.errors import ConfigError
from mailflow_cli.local.faults import models

MAX_RULE_LENGTH = 2000
"""Rules come from command lines and files: longer text is refused rather than parsed."""

GRAMMAR = "<service>:<operation>=<when>[:<effect>][;<option>=<value>]..."
EXAMPLE = "lambda:CreateFunction=first:3:InvalidParameterValueException"
INJECTED_MESSAGE = "Injected by a Mailflow fault rule."
DEFAULT_ERROR = "ServiceUnavailable"

_CODE = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,127}")
_OPERATION = re.compile(r"[A-Za-z0-9*?]{1,128}")
_FIELD_PATH = re.compile(r"[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*")
_WINDOW = re.compile(r"(?P<amount>\d+(\.\d+)?)(?P<unit>[sx])")
_RATE = re.compile(r"\d*\.?\d+")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_OPTIONS = ("status", "resource", "caller", "message")
LAMBDA_EFFECTS = ("timeout", "crash")
LAMBDA_GRAMMAR = "lambda:timeout=<when>[;write=N] or lambda:crash=<when>[;write=N]"
_STATUS_OF = {
    "InternalError": 500,
    "InternalFailure": 500,
    "InternalServerError": 500,
    "ServiceUnavailable": 503,
    "ServiceUnavailableException": 503,
    "SlowDown": 503,
    "Throttled": 429,
    "TooManyRequestsException": 429,
    "OperationAborted": 409,
    "ResourceConflictException": 409,
    "RequestThrottled": 403,
}


def _number(value: float) -> str:
    """A float as plain decimal digits that parse back to the same float (``0.2``, ``60``)."""
    text = format(Decimal(repr(value)), "f")
    return text.removesuffix(".0")


@dataclass(frozen=True)
class Rate:
    share: float

    def to_text(self) -> str:
        return _number(self.share)


@dataclass(frozen=True)
class Always:
    def to_text(self) -> str:
        return "always"


@dataclass(frozen=True)
class First:
    count: int

    def to_text(self) -> str:
        return f"first:{self.count}"


@dataclass(frozen=True)
class After:
    """Within ``seconds`` of, or for the next ``calls`` matching calls after, a successful trigger call."""

    service: str
    operation: str
    seconds: float | None = None
    calls: int | None = None
    same_resource: bool = False

    def to_text(self) -> str:
        window = f"{self.calls}x" if self.calls is not None else f"{_number(self.seconds or 0)}s"
        keyword = "after-same" if self.same_resource else "after"
        return f"{keyword}:{self.service}:{self.operation}:{window}"


When = Rate | Always | First | After


@dataclass(frozen=True)
class Error:
    code: str
    status: int
    message: str

    def to_text(self) -> str:
        return self.code


@dataclass(frozen=True)
class State:
    """Fields of the call's JSON answer replaced: ``(("Configuration.State", "Pending"),)``."""

    fields: tuple[tuple[str, str], ...]

    def to_text(self) -> str:
        return "state:" + ",".join(f"{path}={value}" for path, value in self.fields)


Effect = Error | State


@dataclass(frozen=True)
class FaultRule:
    service: str
    operation: str
    when: When
    effect: Effect
    resource: str | None = None
    caller: str | None = None

    def to_text(self) -> str:
        options = []
        error = self.effect if isinstance(self.effect, Error) else None
        if error is not None and error.status != default_status(self.service, error.code):
            options.append(f"status={error.status}")
        if self.resource is not None:
            options.append(f"resource={self.resource}")
        if self.caller is not None:
            options.append(f"caller={self.caller}")
        if error is not None and error.message != INJECTED_MESSAGE:
            options.append(f"message={error.message}")
        head = f"{self.service}:{self.operation}={self.when.to_text()}:{self.effect.to_text()}"
        return ";".join([head, *options])

    def __str__(self) -> str:
        return self.to_text()


@dataclass(frozen=True)
class LambdaFault:
    """An invocation that times out (``timeout``) or whose worker dies (``crash``) right after its
    ``write``-th successful write call."""

    effect: str
    when: Rate | Always | First
    write: int = 1

    def to_text(self) -> str:
        head = f"lambda:{self.effect}={self.when.to_text()}"
        return head if self.write == 1 else f"{head};write={self.write}"

    def __str__(self) -> str:
        return self.to_text()


class FaultRuleError(ConfigError):
    """A fault rule that cannot be parsed or names what does not exist."""


def default_status(service: str, code: str) -> int:
    return models.error_status(service, code) or _STATUS_OF.get(code, 400)


def parse_rule(text: str) -> FaultRule:
    """The rule ``text`` describes; :class:`FaultRuleError` names what is wrong with it."""
    return _Parser(text).rule()


def parse_rules(texts: list[str] | tuple[str, ...]) -> tuple[FaultRule, ...]:
    return tuple(parse_rule(text) for text in texts)


def parse_any(text: str) -> FaultRule | LambdaFault:
    """A Lambda fault (``lambda:timeout=...``, ``lambda:crash=...``) or else an AWS call's fault rule."""
    parser = _Parser(text)
    if text.strip().partition("=")[0].strip() in {f"lambda:{effect}" for effect in LAMBDA_EFFECTS}:
        return parser.lambda_fault()
    return parser.rule()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text

    def fail(self, problem: str, hint: str | None = None) -> FaultRuleError:
        shown = self.text if len(self.text) <= 120 else self.text[:119] + "…"
        return FaultRuleError(
            f"fault rule {shown!r}: {problem}", hint=hint or f"write {GRAMMAR}, for example {EXAMPLE}"
        )

    def check_text(self) -> None:
        """Rules are shown (``faults show``), logged and answered in error bodies: short, printable text."""
        if len(self.text) > MAX_RULE_LENGTH:
            raise self.fail(f"longer than {MAX_RULE_LENGTH} characters")
        if _CONTROL.search(self.text):
            raise self.fail("it holds a control character", hint="write the rule in printable characters")

    def rule(self) -> FaultRule:
        self.check_text()
        target, equals, rest = self.text.strip().partition("=")
        if not equals:
            raise self.fail("there is no '=' between the call and when it fails")
        service, operation = self.target(target)
        spec, _, option_text = rest.partition(";")
        options = self.options(option_text)
        tokens = spec.split(":")
        when, tokens = self.when(tokens)
        effect = self.effect(service, tokens, options)
        return FaultRule(
            service, operation, when, effect, resource=options.get("resource"), caller=options.get("caller")
        )

    def lambda_fault(self) -> LambdaFault:
        self.check_text()
        target, _, rest = self.text.strip().partition("=")
        spec, _, option_text = rest.partition(";")
        hint = f"write {LAMBDA_GRAMMAR}, for example lambda:crash=0.05"
        write = 1
        for item in option_text.split(";") if option_text else []:
            key, equals, value = item.partition("=")
            if key != "write" or not equals:
                raise self.fail(f"{item!r} is not an option of a Lambda fault (only write=N)", hint=hint)
            write = self.count(value, "write=N needs a whole number N >= 1 (the Nth successful write call)")
        tokens = spec.split(":")
        if tokens[0] in ("after", "after-same"):
            raise self.fail("a Lambda fault happens to a share, the first N or all invocations", hint=hint)
        when, tokens = self.when(tokens)
        assert not isinstance(when, After)
        if tokens:
            extra = ":".join(tokens)
            raise self.fail(f"a Lambda fault takes no effect after its 'when': {extra!r}", hint=hint)
        effect = target.strip().partition(":")[2]
        return LambdaFault(effect, when, write)

    def service(self, name: str) -> str:
        if name in models.service_names():
            return name
        close = difflib.get_close_matches(name, sorted(models.service_names()), n=1)
        suggestion = f" (did you mean {close[0]!r}?)" if close else ""
        raise self.fail(
            f"{name!r} is not an AWS service botocore knows{suggestion}",
            hint="use botocore's service names: lambda, sqs, s3, iam, ses, sesv2, dynamodb, logs, ...",
        )

    def operation(self, service: str, pattern: str) -> str:
        if not _OPERATION.fullmatch(pattern):
            raise self.fail(f"{pattern!r} is not an operation name or a glob such as Update*")
        if models.operations_matching(service, pattern):
            return pattern
        names = list(models.service_model(service).operation_names)
        close = difflib.get_close_matches(pattern, names, n=1)
        suggestion = f" (did you mean {close[0]!r}?)" if close else ""
        raise self.fail(
            f"{service} has no operation {pattern!r}{suggestion}",
            hint="operations are named as in the AWS API reference, for example CreateFunction",
        )

    def target(self, text: str) -> tuple[str, str]:
        service, colon, operation = text.strip().partition(":")
        if not colon or not service or not operation:
            raise self.fail(f"{text!r} is not <service>:<operation>")
        known = self.service(service)
        return known, self.operation(known, operation)

    def options(self, text: str) -> dict[str, str]:
        options: dict[str, str] = {}
        remaining = text
        while remaining:
            item, _, remaining = remaining.partition(";")
            key, equals, value = item.partition("=")
            if key == "message" and equals:
                value = ";".join([value, remaining]) if remaining else value
                remaining = ""
            if key not in _OPTIONS or not equals:
                raise self.fail(
                    f"{item!r} is not an option",
                    hint=f"options are {', '.join(f'{name}=...' for name in _OPTIONS)}, after ';'",
                )
            if key in options:
                raise self.fail(f"the option {key} is given twice")
            if not value:
                raise self.fail(f"the option {key} is empty")
            options[key] = value
        return options

    def when(self, tokens: list[str]) -> tuple[When, list[str]]:
        keyword = tokens[0]
        if keyword == "always":
            return Always(), tokens[1:]
        if keyword == "first":
            count = self.count(tokens[1] if len(tokens) > 1 else "", "first:N needs a whole number N >= 1")
            return First(count), tokens[2:]
        if keyword in ("after", "after-same"):
            if len(tokens) < 5:
                raise self.fail(
                    f"{keyword} needs <service>:<operation>:<window>, e.g. {keyword}:iam:CreateRole:5s"
                )
            service = self.service(tokens[1])
            operation = self.operation(service, tokens[2])
            seconds, calls = self.window(tokens[3])
            after = After(service, operation, seconds, calls, same_resource=keyword == "after-same")
            return after, tokens[4:]
        if _RATE.fullmatch(keyword):
            share = float(keyword)
            if not 0 < share <= 1:
                raise self.fail(f"the share {keyword} is not between 0 (exclusive) and 1")
            return Rate(share), tokens[1:]
        raise self.fail(
            f"{keyword!r} is not a 'when'",
            hint="use a share such as 0.2, always, first:N, after:<service>:<operation>:<5s|3x> or "
            "after-same:<service>:<operation>:<5s|3x>",
        )

    def count(self, text: str, problem: str) -> int:
        if not text.isdigit() or int(text) < 1:
            raise self.fail(problem)
        return int(text)

    def window(self, text: str) -> tuple[float | None, int | None]:
        match = _WINDOW.fullmatch(text)
        if match is None:
            raise self.fail(f"the window {text!r} is neither seconds (5s) nor a number of calls (3x)")
        amount = match.group("amount")
        if match.group("unit") == "x":
            return None, self.count(amount, f"the window {text!r} needs a whole number of calls >= 1")
        seconds = float(amount)
        if not 0 < seconds < math.inf:
            raise self.fail(f"the window {text!r} must be longer than 0 s")
        return seconds, None

    def effect(self, service: str, tokens: list[str], options: dict[str, str]) -> Effect:
        if not tokens:
            tokens = [DEFAULT_ERROR]
        if not tokens[0]:
            raise self.fail("the effect is missing after ':': an error code, or state:<field>=<value>")
        if tokens[0] == "state":
            return self.state(service, ":".join(tokens[1:]), options)
        if len(tokens) > 1 or not _CODE.fullmatch(tokens[0]):
            raise self.fail(f"{':'.join(tokens)!r} is not an error code (letters, digits, '.', '_', '-')")
        code = tokens[0]
        status = default_status(service, code)
        if "status" in options:
            text = options["status"]
            if not text.isdigit() or not 400 <= int(text) <= 599:
                raise self.fail(f"the status {text} is not an HTTP error status (400-599)")
            status = int(text)
        return Error(code, status, options.get("message", INJECTED_MESSAGE))

    def state(self, service: str, text: str, options: dict[str, str]) -> State:
        if not set(models.service_model(service).protocols) & models.JSON_PROTOCOLS:
            raise self.fail(f"state: changes JSON answers, and {service} does not answer in JSON")
        if options.keys() & {"status", "message"}:
            raise self.fail("status= and message= belong to errors, not to state:")
        fields = []
        for item in text.split(","):
            path, equals, value = item.partition("=")
            if not equals or not _FIELD_PATH.fullmatch(path) or not value:
                raise self.fail(f"{item!r} is not <field>=<value>, as in Configuration.State=Pending")
            fields.append((path, value))
        return State(tuple(fields))
