"""Benchmark 4: the handler zip's size (built by the deploy engine's packager) and the handler's import cost.

Size: ``mailflow_cli.packaging.build_bundle`` for mailflow.yaml.example (and, for growth, 100 and 1,000
apps). Target <= 100 KB. Import cost: ``python -X importtime -c "import boto3; import <module>"`` in a
fresh process, summing the cumulative time of the outermost ``mailflow_handler`` imports (so stdlib
modules first pulled in by the handler count, boto3's do not); repeated, median. Target <= 30 ms for
``mailflow_handler`` (what Lambda imports at init); the modules loaded by the first inbound and outbound
email are reported beside it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from typing import Any

from _common import EXAMPLE_CONFIG, HANDLER_DIR, Target, finish, print_table, spread, use_project_paths

REPEATS = 11
ZIP_LIMIT_KB = 100.0
IMPORT_LIMIT_MS = 30.0
LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")
IMPORTS = {
    "init: import mailflow_handler": "import mailflow_handler",
    "+ first emails: inbound.pipeline, outbound.send": (
        "import mailflow_handler, mailflow_handler.inbound.pipeline, mailflow_handler.outbound.send"
    ),
}


def bundle_sizes() -> dict[str, Any]:
    from mailflow_cli.config import load_config
    from mailflow_cli.naming import stack_names
    from mailflow_cli.packaging import build_bundle

    config = load_config(EXAMPLE_CONFIG)
    sizes: dict[str, Any] = {}
    for apps in (len(config.apps), 100, 1000):
        shaped = (
            config
            if apps == len(config.apps)
            else config.model_copy(
                update={
                    "apps": tuple(config.apps[0].model_copy(update={"name": f"app{i}"}) for i in range(apps))
                }
            )
        )
        bundle = build_bundle(shaped, stack_names(shaped, "123456789012"))
        sizes[str(apps)] = len(bundle.zip_bytes)
    return sizes


def handler_import_ms(statement: str, pycache: str | None) -> tuple[float, float]:
    """(cumulative ms of the outermost handler imports, sum of the handler modules' own self ms).

    ``pycache=None`` compiles the handler from source, as Lambda does: the zip holds no ``.pyc`` and
    ``/var/task`` is read-only. Otherwise bytecode is cached under that prefix (warmed by a first run).
    """
    env = dict(os.environ, PYTHONPATH=str(HANDLER_DIR), PYTHONDONTWRITEBYTECODE="1")
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE")
        env["PYTHONPYCACHEPREFIX"] = pycache
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import boto3; {statement}"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    outer_us = 0
    self_us = 0
    started = False
    for line in done.stderr.splitlines():
        match = LINE.match(line)
        if not match:
            continue
        own, cumulative, indent, module = int(match[1]), int(match[2]), len(match[3]) - 1, match[4]
        if module == "boto3":
            started = True  # everything before belongs to "import boto3"
            continue
        if not started or not module.startswith("mailflow_handler"):
            continue
        self_us += own
        if indent == 0:
            outer_us += cumulative
    return outer_us / 1000, self_us / 1000


def main() -> None:
    use_project_paths()
    sizes = bundle_sizes()
    print_table(
        "handler zip (build_bundle, deflate level 9)",
        ["apps in config", "zip bytes", "KB"],
        [[apps, size, f"{size / 1024:.1f}"] for apps, size in sizes.items()],
    )
    rows: dict[str, Any] = {"zip_bytes": sizes}
    table: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="mailflow-pycache-") as pycache:
        for mode, prefix in (("no .pyc (as on Lambda)", None), ("cached .pyc", pycache)):
            for label, statement in IMPORTS.items():
                handler_import_ms(statement, prefix)  # warm the OS page cache (and the .pyc cache)
                samples = [handler_import_ms(statement, prefix) for _ in range(REPEATS)]
                outer = spread([s[0] for s in samples])
                own = spread([s[1] for s in samples])
                rows[f"{label} [{mode}]"] = {"statement": statement, "cumulative_ms": outer, "self_ms": own}
                table.append([label, mode, outer.fmt(" ms", 1), own.fmt(" ms", 1)])
    print_table(
        f"handler import cost beyond boto3 (python -X importtime, {REPEATS} fresh processes)",
        ["what", "bytecode", "cumulative (incl. stdlib first loaded)", "handler modules' self time"],
        table,
    )
    example = sizes[next(iter(sizes))]
    init = rows["init: import mailflow_handler [no .pyc (as on Lambda)]"]["cumulative_ms"]
    first = rows["+ first emails: inbound.pipeline, outbound.send [no .pyc (as on Lambda)]"]["cumulative_ms"]
    finish(
        "handler_package",
        rows,
        [
            Target("handler zip, mailflow.yaml.example", example / 1024, ZIP_LIMIT_KB, "KB"),
            Target("handler zip, 1,000 apps", sizes["1000"] / 1024, ZIP_LIMIT_KB, "KB"),
            Target("import mailflow_handler beyond boto3, no .pyc", init.median, IMPORT_LIMIT_MS, "ms"),
            Target("+ modules of the first emails, no .pyc", first.median, IMPORT_LIMIT_MS, "ms"),
        ],
    )


if __name__ == "__main__":
    main()
