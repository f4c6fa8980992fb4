"""The live suite: the installed ``mailflow`` command against a real AWS account (``make test-aws``).

``make test`` never collects this package (``--ignore=tests/aws`` in pyproject.toml); its orchestration
and cleanup are unit-tested without AWS in ``tests/test_live_suite_cleanup.py``. See docs/ci.md.
"""
