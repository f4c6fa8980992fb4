"""Entry point for ``python -m mailflow_cli`` and the ``mailflow`` console script."""

from __future__ import annotations


def main() -> None:
    from mailflow_cli.cli import run

    run()


if __name__ == "__main__":
    main()
