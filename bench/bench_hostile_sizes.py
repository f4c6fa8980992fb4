"""Benchmark 2: hostile sizes, each in a fresh subprocess: CPU time and peak RSS of the inbound pipeline.

Cases (generated into a temporary directory, never committed): an 800 KB Subject, a To: with 10,000
addresses, multipart nesting 400 deep (over limits.maxDepth: quarantined as too_deep, the parser stops
at the limit), and a 40 MB message with a 29 MB attachment. Targets: each
< 1 s CPU (``time.process_time`` around ``process()``); the 40 MB message at <= 256 MB peak RSS
(``ru_maxrss`` after processing, minus nothing). An idle process with the handler imported is the baseline.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import Target, finish, print_table, spread

REPEATS = 3
CPU_LIMIT_S = 1.0
RSS_LIMIT_MB = 256.0
MB = 1024 * 1024
HEAD = (
    b"From: Sender <sender@outside.example>\r\n"
    b"Message-ID: <hostile@outside.example>\r\n"
    b"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
    b"MIME-Version: 1.0\r\n"
)


def subject_800k() -> bytes:
    words = b" ".join(b"word%05d" % (i % 100000) for i in range(800 * 1024 // 10))
    folded = b"\r\n ".join(words[i : i + 76] for i in range(0, len(words), 76))
    return (
        HEAD
        + b"To: _app1@example.com\r\nSubject: "
        + folded
        + b"\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    )


def to_10k() -> bytes:
    addresses = b",\r\n ".join(b"Person %d <person%d@example.org>" % (i, i) for i in range(10_000))
    return HEAD + b"Subject: many\r\nTo: " + addresses + b"\r\nContent-Type: text/plain\r\n\r\nhello\r\n"


def nesting_400() -> bytes:
    depth = 400
    parts: list[bytes] = [HEAD, b"To: _app1@example.com\r\nSubject: deep\r\n"]
    for level in range(depth):
        parts.append(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (level, level))
    parts.append(b"Content-Type: text/plain\r\n\r\nthe bottom\r\n")
    for level in reversed(range(depth)):
        parts.append(b"--b%d--\r\n" % level)
    return b"".join(parts)


def big_40mb(path: Path) -> None:
    """Written in chunks so the generator itself stays small: 29 MiB of random bytes as base64."""
    with path.open("wb") as out:
        out.write(HEAD)
        out.write(
            b'To: _app1@example.com\r\nSubject: big\r\nContent-Type: multipart/mixed; boundary="BIG"\r\n\r\n'
        )
        out.write(b"--BIG\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the attachment.\r\n")
        out.write(
            b"--BIG\r\nContent-Type: application/octet-stream\r\n"
            b'Content-Disposition: attachment; filename="big.bin"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n"
        )
        chunk = 57 * 1024  # 57 raw bytes -> one 76-char base64 line
        remaining = 29 * MB
        while remaining:
            data = os.urandom(min(chunk, remaining))
            remaining -= len(data)
            encoded = base64.b64encode(data)
            out.write(b"\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76)) + b"\r\n")
        out.write(b"--BIG--\r\n")


CASES: dict[str, Callable[[], bytes] | None] = {
    "subject_800KB": subject_800k,
    "to_10000_addresses": to_10k,
    "nesting_400_deep": nesting_400,
    "message_40MB_attachment_29MB": None,  # written by big_40mb
}


def child(case: str, path: str, mode: str) -> None:
    """Runs in a fresh interpreter: import, read the input, process it, report CPU and peak RSS.

    ``mode`` "bytes": ``process(raw, ...)`` with the whole message in memory (the caller holds it);
    "s3": ``handle_record(...)``, the Lambda path, reading the S3 body as a stream (here: the file).
    """
    import contextlib
    import resource
    import time

    here = Path(__file__).resolve().parent
    sys.path[:0] = [str(here), str(here.parent / "handler")]
    from _fakes import FakeDynamoDB, FakeS3, FakeSES, FakeSQS, runtime_document, ses_record
    from mailflow_handler.clients import Deps
    from mailflow_handler.config import parse_config
    from mailflow_handler.inbound.pipeline import handle_record, process

    deps = Deps(
        config=parse_config(runtime_document(["app1"])),
        s3=FakeS3(),
        sqs=FakeSQS(),
        ses=FakeSES(),
        dynamodb=FakeDynamoDB(),
    )
    rss_idle = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report: dict[str, Any] = {"case": case, "idle_maxrss_kb": rss_idle}
    if case != "idle":
        record = ses_record("hostile-0001", ["_app1@example.com"])
        if mode == "s3":
            report["bytes"] = Path(path).stat().st_size
            deps.s3.get_object = lambda **_: {"Body": Path(path).open("rb")}  # noqa: SIM115 - a stream body
        else:
            raw = Path(path).read_bytes()
            report["bytes"] = len(raw)
        report["loaded_maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            c0, w0 = time.process_time(), time.perf_counter()
            result = handle_record(record, deps) if mode == "s3" else process(raw, record, deps)
            report["cpu_s"] = time.process_time() - c0
            report["wall_s"] = time.perf_counter() - w0
        report["outcome"] = result.reason or result.outcome
        report["attachments"] = result.attachments
        report["sqs_bytes"] = deps.sqs.bytes_sent
        report["s3_bytes_put"] = deps.s3.bytes_put
    report["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(report))


def run_child(case: str, path: Path, mode: str = "bytes") -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", case, str(path), mode],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    rows: dict[str, Any] = {}
    table: list[list[object]] = []
    targets: list[Target] = []
    with tempfile.TemporaryDirectory(prefix="mailflow-hostile-") as tmp:
        idle = [run_child("idle", Path(tmp)) for _ in range(REPEATS)]
        idle_mb = spread([r["maxrss_kb"] / 1024 for r in idle])
        rows["idle"] = {"maxrss_mb": idle_mb}
        table.append(["idle (handler imported)", "-", "-", "-", f"{idle_mb.median:.1f}", "-"])
        for case, make in CASES.items():
            path = Path(tmp) / f"{case}.eml"
            if make is None:
                big_40mb(path)
            else:
                path.write_bytes(make())
            big = make is None
            for mode in ("s3", "bytes") if big else ("bytes",):
                label = f"{case} ({'handle_record, S3 stream' if mode == 's3' else 'process, raw bytes'})"
                runs = [run_child(case, path, mode) for _ in range(REPEATS)]
                cpu = spread([r["cpu_s"] for r in runs])
                rss = spread([r["maxrss_kb"] / 1024 for r in runs])
                rows[label] = {"bytes": runs[0]["bytes"], "cpu_s": cpu, "maxrss_mb": rss, "runs": runs}
                table.append(
                    [
                        label,
                        f"{runs[0]['bytes'] / MB:.2f}",
                        cpu.fmt(" s"),
                        runs[0]["outcome"],
                        f"{rss.median:.1f} (max {rss.max:.1f})",
                        runs[0]["attachments"],
                    ]
                )
                targets.append(Target(f"{label}: CPU (median of {REPEATS})", cpu.median, CPU_LIMIT_S, "s"))
                if big:
                    targets.append(Target(f"{label}: peak RSS (max)", rss.max, RSS_LIMIT_MB, "MB"))
            path.unlink()
    print_table(
        f"hostile sizes: fresh subprocess per run, {REPEATS} runs each",
        ["case", "MiB", "CPU in process()", "outcome", "peak RSS MiB", "attachments"],
        table,
    )
    finish(
        "hostile_sizes",
        rows,
        targets,
        notes=["peak RSS is ru_maxrss of the whole process (interpreter + handler + input bytes + work)"],
    )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main()
