"""Benchmark 6: deploy against a local moto server (ThreadedMotoServer, AWS_ENDPOINT_URL).

mailflow.yaml.example: first deploy (target <= 3 s) and no-op re-deploy (target <= 1 s, zero mutating
calls), repeated on a reset server. Then 10, 100 and 1,000 apps: time and call count of the first
deploy and of a no-op re-deploy, per-app growth, and the sizes that have hard AWS limits (Lambda
environment 4 KB, a role's inline policies 10,240 characters). Each deploy runs with fresh clients,
as a new CLI process would; the moto server shares this process (its CPU is in the figures).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from _common import EXAMPLE_CONFIG, Target, finish, print_table, spread, use_project_paths
from _moto_server import CallCounter, config_with_apps, moto_server, open_context, reset, scratch_dir

REPEATS = 3
FIRST_LIMIT_S = 3.0
NOOP_LIMIT_S = 1.0
APP_COUNTS = (10, 100, 1000)
LAMBDA_ENV_LIMIT = 4096
ROLE_INLINE_POLICY_LIMIT = 10_240


def deploy_once(config: Path) -> dict[str, Any]:
    from mailflow_cli.deploy import deploy_stack

    counter = CallCounter()
    ctx = open_context(config, [("before-call.*.*", counter)])
    started = time.perf_counter()
    deploy_stack(ctx)
    elapsed = time.perf_counter() - started
    return {
        "seconds": elapsed,
        "calls": counter.total,
        "mutating": sum(counter.mutating.values()),
        "mutating_calls": counter.mutating,
        "by_call": dict(counter.calls),
        "ctx": ctx,
    }


def limits(ctx: Any) -> dict[str, int]:
    """Sizes with hard AWS limits, read back from the deployed stack."""
    names = ctx.names
    lam = ctx.clients.client("lambda")
    env = (
        lam.get_function_configuration(FunctionName=names.function)
        .get("Environment", {})
        .get("Variables", {})
    )
    iam = ctx.clients.client("iam")
    policy_chars = 0
    for policy in iam.list_role_policies(RoleName=names.role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=names.role, PolicyName=policy)["PolicyDocument"]
        text = document if isinstance(document, str) else json.dumps(document)
        policy_chars += len("".join(text.split()))  # IAM counts characters without whitespace
    return {
        "lambda_env_bytes": sum(len(k) + len(v) for k, v in env.items()),
        "role_policy_chars": policy_chars,
    }


def residual_diffs(config: Path) -> list[str]:
    """The plan's remaining diffs after a deploy: attributes the server did not store as sent."""
    from mailflow_cli.deploy import plan_stack

    plan = plan_stack(open_context(config, []))
    return [f"{c.kind} {c.name}: {d.attribute}" for c in plan.changes for d in c.diffs]


def strip(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if k != "ctx"}


def main() -> None:
    use_project_paths()
    app_counts = tuple(int(a) for a in sys.argv[1:]) or APP_COUNTS
    rows: dict[str, Any] = {}
    targets: list[Target] = []
    with moto_server() as endpoint, scratch_dir() as tmp:
        from mailflow_cli.deploy import deploy_stack  # noqa: F401  (import cost outside the timings)

        deploy_once(EXAMPLE_CONFIG)  # warm-up: moto imports each service's backend on its first request
        firsts: list[dict[str, Any]] = []
        noops: list[dict[str, Any]] = []
        for _ in range(REPEATS):
            reset(endpoint)
            firsts.append(deploy_once(EXAMPLE_CONFIG))
            noops.append(deploy_once(EXAMPLE_CONFIG))
        first_s = spread([r["seconds"] for r in firsts])
        noop_s = spread([r["seconds"] for r in noops])
        example_limits = limits(firsts[-1]["ctx"])
        rows["example"] = {
            "first": [strip(r) for r in firsts],
            "noop": [strip(r) for r in noops],
            "first_seconds": first_s,
            "noop_seconds": noop_s,
            "limits": example_limits,
        }
        print_table(
            f"deploy of mailflow.yaml.example against moto server ({REPEATS} runs, reset between)",
            ["run", "wall", "calls", "mutating calls"],
            [
                ["first deploy", first_s.fmt(" s"), firsts[-1]["calls"], firsts[-1]["mutating"]],
                ["no-op re-deploy", noop_s.fmt(" s"), noops[-1]["calls"], noops[-1]["mutating"]],
            ],
        )
        residual = residual_diffs(EXAMPLE_CONFIG)
        rows["example"]["residual_diffs_after_redeploy"] = residual
        if noops[-1]["mutating_calls"]:
            print(f"  mutating calls in the no-op re-deploy: {noops[-1]['mutating_calls']}")
            print(f"  what the plan still wants to change after two deploys: {residual}")
        targets += [
            Target("example: first deploy (median)", first_s.median, FIRST_LIMIT_S, "s"),
            Target("example: no-op re-deploy (median)", noop_s.median, NOOP_LIMIT_S, "s"),
            Target(
                "example: mutating calls in no-op re-deploy (max)", max(r["mutating"] for r in noops), 0, ""
            ),
        ]

        scale: list[list[object]] = []
        for apps in app_counts:
            reset(endpoint)
            config = config_with_apps(apps, Path(tmp))
            first = deploy_once(config)
            noop = deploy_once(config)
            sizes = limits(first["ctx"])
            rows[f"{apps}_apps"] = {"first": strip(first), "noop": strip(noop), "limits": sizes}
            scale.append(
                [
                    apps,
                    f"{first['seconds']:.2f}",
                    first["calls"],
                    f"{first['calls'] / apps:.1f}",
                    f"{noop['seconds']:.2f}",
                    noop["calls"],
                    noop["mutating"],
                    sizes["lambda_env_bytes"],
                    sizes["role_policy_chars"],
                ]
            )
            targets += [
                Target(
                    f"{apps} apps: Lambda environment size", sizes["lambda_env_bytes"], LAMBDA_ENV_LIMIT, "B"
                ),
                Target(
                    f"{apps} apps: role inline policy size",
                    sizes["role_policy_chars"],
                    ROLE_INLINE_POLICY_LIMIT,
                    "chars",
                ),
                Target(f"{apps} apps: mutating calls in no-op re-deploy", noop["mutating"], 0, ""),
            ]
        print_table(
            "deploy scaling (one run each)",
            [
                "apps",
                "first s",
                "first calls",
                "calls/app",
                "no-op s",
                "no-op calls",
                "no-op mutating",
                "Lambda env B",
                "policy chars",
            ],
            scale,
        )
        if len(app_counts) >= 2:
            lo, hi = app_counts[0], app_counts[-1]
            growth = rows[f"{hi}_apps"]["first"]["calls"] / rows[f"{lo}_apps"]["first"]["calls"]
            time_growth = rows[f"{hi}_apps"]["first"]["seconds"] / rows[f"{lo}_apps"]["first"]["seconds"]
            rows["growth"] = {"apps_ratio": hi / lo, "calls_ratio": growth, "seconds_ratio": time_growth}
            print(f"  {lo} -> {hi} apps (x{hi / lo:g}): calls x{growth:.1f}, first deploy x{time_growth:.1f}")
    finish(
        "deploy",
        rows,
        targets,
        notes=[
            "mutating = any operation not named Get*/List*/Describe*/Head*",
            "moto runs in this process (ThreadedMotoServer): its request handling is inside the wall times",
        ],
    )


if __name__ == "__main__":
    main()
