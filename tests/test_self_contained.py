"""A clone tests anywhere: the corpus is in the repository and nothing reads outside it."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "tests" / "corpus"


def test_the_corpus_is_vendored_with_its_licences() -> None:
    messages = [p for p in CORPUS.rglob("*") if p.is_file() and p.name != "README.md"]
    assert len(messages) == 390
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    for folder in sorted({p.relative_to(CORPUS).parts[0] for p in messages}):
        assert f"| {folder}/ |" in readme, f"{folder}/ has no licence line in tests/corpus/README.md"


def test_no_test_or_benchmark_reads_outside_the_repository() -> None:
    outside = re.compile(r"""\.\./shared|shared/corpus|/\s*["']\.\.["']|parent\s*/\s*["']shared""")
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for folder in ("tests", "bench")
        for path in (REPO / folder).rglob("*.py")
        if path != Path(__file__)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if outside.search(line)
    ]
    assert offenders == []
