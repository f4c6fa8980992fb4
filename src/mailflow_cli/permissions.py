"""The deployer's least-privilege IAM policy, generated from the permissions declared next to the code
that makes the AWS calls (:mod:`mailflow_cli.access`).

:data:`COMMANDS` names, for each command that calls AWS, the declarations of the code it runs.
:func:`deployer_policy` merges the grants of the chosen commands into few statements: one per scope and
condition (its ``Sid`` is made from their labels), Allow before Deny, each in ``Sid`` order, actions
sorted, so the same inputs always give the same text. What only an administrator may do (writing the
handler role's permissions boundary) is left out, and the Deny statements that keep the deployer from
ever doing it are in.

``python -m mailflow_cli.permissions docs/templates/permissions.md docs/permissions.md`` (``make docs``)
writes the documentation from its template, for placeholder names (``<acct>``, ``<region>``, ``<env>``,
``<domain>``).
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from mailflow_cli.access import Grant, Scopes
from mailflow_cli.errors import UsageError
from mailflow_cli.naming import StackNames

CommandGrants = Callable[[Scopes], tuple[Grant, ...]]


def _account_only(scopes: Scopes) -> tuple[Grant, ...]:
    """The account id (sts:GetCallerIdentity), which IAM allows to every identity; nothing else."""
    return ()


def _commands() -> dict[str, CommandGrants]:
    from mailflow_cli.deploy import deploy_permissions, destroy_permissions, plan_permissions
    from mailflow_cli.deploy.outputs import permissions as outputs_permissions
    from mailflow_cli.operate import (
        dlq_command,
        doctor_command,
        logs_command,
        replay_command,
        send_test_command,
        status_command,
        suppression,
        tail_command,
        trace_command,
        verify_domain_command,
        wait_command,
    )

    return {
        "plan": plan_permissions,
        "deploy": deploy_permissions,
        "outputs": outputs_permissions,
        "destroy": destroy_permissions,
        "status": status_command.permissions,
        "logs": logs_command.permissions,
        "tail": tail_command.permissions,
        "wait": wait_command.permissions,
        "dlq list": dlq_command.list_permissions,
        "dlq show": dlq_command.show_permissions,
        "dlq redrive": dlq_command.redrive_permissions,
        "dlq purge": dlq_command.purge_permissions,
        "verify-domain": verify_domain_command.permissions,
        "verify-domain --route53": verify_domain_command.route53_permissions,
        "send-test": send_test_command.permissions,
        "trace": trace_command.permissions,
        "replay": replay_command.permissions,
        "doctor": doctor_command.permissions,
        "suppression list": suppression.list_permissions,
        "suppression check": suppression.check_permissions,
        "suppression add": suppression.add_permissions,
        "suppression remove": suppression.remove_permissions,
        "app-policy": _account_only,
        "permissions": _account_only,
    }


COMMANDS = _commands()
"""Every command that calls AWS, as typed (``dlq redrive``; ``verify-domain --route53`` for the option
that writes DNS records), and the grants of the code it runs."""

GROUPS = {
    "dlq": ("dlq list", "dlq show", "dlq redrive", "dlq purge"),
    "suppression": ("suppression list", "suppression check", "suppression add", "suppression remove"),
}
"""Names that stand for several commands in ``--commands``."""

WITHOUT_AWS = ("init", "cost", "local", "demo")
"""Commands (and command groups) that make no AWS call: ``local`` and ``demo`` talk to the emulator."""

VERSION = "2012-10-17"
ROLE_INLINE_LIMIT = 10240
"""The most characters (not counting white space) IAM accepts in a role's inline policies together; a
managed policy may hold 6144, a group's inline policies 5120, a user's 2048."""


def select_commands(text: str | None) -> tuple[str, ...]:
    """The commands ``--commands`` names (comma-separated; a group stands for its commands), in
    :data:`COMMANDS` order; all of them without ``--commands``."""
    if text is None:
        return tuple(COMMANDS)
    chosen: set[str] = set()
    for item in text.split(","):
        name = " ".join(item.split())
        if name in GROUPS:
            chosen.update(GROUPS[name])
        elif name in COMMANDS:
            chosen.add(name)
        else:
            known = [*COMMANDS, *GROUPS]
            close = difflib.get_close_matches(name, known, n=1)
            suggestion = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageError(
                f"--commands: {name!r} is not a command that calls AWS{suggestion}",
                hint=f"choose from: {', '.join(known)} (comma-separated)",
            )
    return tuple(name for name in COMMANDS if name in chosen)


def command_grants(scopes: Scopes, commands: Iterable[str]) -> list[Grant]:
    return [grant for name in commands for grant in COMMANDS[name](scopes)]


def deployer_policy(scopes: Scopes, commands: Iterable[str] = tuple(COMMANDS)) -> dict[str, Any]:
    """The policy an identity needs to run ``commands``; administrative grants left out."""
    grants = [grant for grant in command_grants(scopes, commands) if not grant.administrative]
    return {"Version": VERSION, "Statement": statements(grants)}


def administrator_grants(scopes: Scopes) -> list[Grant]:
    """What an administrator needs on top of the deployer's policy (and without its Deny statements)."""
    return [grant for grant in command_grants(scopes, ("deploy", "destroy")) if grant.administrative]


def statements(grants: Iterable[Grant]) -> list[dict[str, Any]]:
    """One statement per effect, scope and condition, named by them. Grants without resources (no app
    names senderPrincipals, say) are left out, and so is an unconditional Allow of an action on resources
    that another unconditional Allow of that action already covers."""
    given = [grant for grant in grants if grant.scope.resources]
    actions: dict[tuple[bool, str, tuple[str, ...], str], set[str]] = {}
    named: dict[tuple[bool, str], tuple[bool, str, tuple[str, ...], str]] = {}
    for grant in given:
        needed = {action for action in grant.actions if not _covered(grant, action, given)}
        if not needed:
            continue
        condition = json.dumps(grant.condition.to_json() if grant.condition else None, sort_keys=True)
        key = (grant.deny, grant.statement_id, grant.scope.resources, condition)
        if named.setdefault((grant.deny, grant.statement_id), key) != key:
            raise ValueError(f"two different statements would both be named {grant.statement_id!r}")
        actions.setdefault(key, set()).update(needed)
    return [_statement(key, actions[key]) for key in sorted(actions, key=lambda key: (key[0], key[1]))]


def _covered(grant: Grant, action: str, grants: Sequence[Grant]) -> bool:
    if grant.deny or grant.condition is not None:
        return False
    return any(
        action in other.actions
        and not other.deny
        and other.condition is None
        and other.scope.resources != grant.scope.resources
        and all(
            any(_within(resource, pattern) for pattern in other.scope.resources)
            for resource in grant.scope.resources
        )
        for other in grants
    )


def _within(resource: str, pattern: str) -> bool:
    """Whether every ARN that ``resource`` stands for matches ``pattern`` (both may end in ``*``s: a
    ``*`` of ``resource`` is only matched by one of ``pattern``)."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), resource) is not None


def _statement(key: tuple[bool, str, tuple[str, ...], str], actions: set[str]) -> dict[str, Any]:
    deny, sid, resources, condition = key
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Deny" if deny else "Allow",
        "Action": _one_or_list(sorted(actions)),
        "Resource": _one_or_list(list(resources)),
    }
    if condition != "null":
        statement["Condition"] = json.loads(condition)
    return statement


def _one_or_list(values: Sequence[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else list(values)


def policy_size(document: dict[str, Any]) -> int:
    """The size IAM counts: the JSON without white space."""
    return len(json.dumps(document, separators=(",", ":")))


# docs/permissions.md ---------------------------------------------------------------------------------
PLACEHOLDERS = Scopes(
    StackNames(environment="<env>", region="<region>", account_id="<acct>"),
    domains=("<domain>",),
    sender_principals=(
        "arn:aws:iam::<acct>:role/<each role in apps[].senderPrincipals>",
        "arn:aws:iam::<acct>:user/<each user in apps[].senderPrincipals>",
    ),
)
MARKERS = ("{{deployer-policy}}", "{{commands}}", "{{administrator}}")
TEMPLATE = "docs/templates/permissions.md"
GENERATED = (
    f"<!-- Generated by `make docs` from {TEMPLATE} and the permissions the code declares: edit the "
    "template, not this file. -->\n"
)


def render_doc(template: str, scopes: Scopes = PLACEHOLDERS) -> str:
    """The template, its leading comment replaced by a note that the file is generated and its markers
    by the policy, what each command needs, and what only an administrator does."""
    missing = [marker for marker in MARKERS if marker not in template]
    if missing:
        raise ValueError(f"the template has no {', '.join(missing)}")
    body = re.sub(r"\A<!--.*?-->\n", "", template, flags=re.DOTALL)
    policy = json.dumps(deployer_policy(scopes), indent=2)
    return GENERATED + (
        body.replace("{{deployer-policy}}", f"```json\n{policy}\n```")
        .replace("{{commands}}", _commands_table(scopes))
        .replace("{{administrator}}", _administrator_list(scopes))
    )


def _commands_table(scopes: Scopes) -> str:
    """One row per command; a command that makes every call of one above it says so."""
    granted = {
        name: {grant for grant in grants(scopes) if not (grant.deny or grant.administrative)}
        for name, grants in COMMANDS.items()
    }
    rows = ["| Command | IAM actions |", "|---|---|"]
    for position, (name, own) in enumerate(granted.items()):
        earlier = [other for other in list(granted)[:position] if granted[other] and granted[other] < own]
        base = max(earlier, key=lambda other: len(granted[other]), default=None)
        actions = {action for grant in own for action in grant.actions}
        if base is not None:
            actions -= {action for grant in granted[base] for action in grant.actions}
        listed = ", ".join(f"`{action}`" for action in sorted(actions))
        cell = f"those of `{base}`, and {listed}" if base else listed or "none (the account id only)"
        rows.append(f"| `{name}` | {cell} |")
    return "\n".join(rows)


def _administrator_list(scopes: Scopes) -> str:
    unique = list(dict.fromkeys(administrator_grants(scopes)))
    return "\n".join(
        f"- {', '.join(f'`{action}`' for action in grant.actions)} on `{', '.join(grant.scope.resources)}`"
        for grant in unique
    )


def main(argv: list[str] | None = None) -> None:
    """``TEMPLATE OUTPUT``: write the rendered document (only once it rendered)."""
    template, output = sys.argv[1:] if argv is None else argv
    text = render_doc(Path(template).read_text(encoding="utf-8"))
    Path(output).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
