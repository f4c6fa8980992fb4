"""The handler's own routing and verdict code, imported from the handler package shipped with the CLI.

``mailflow replay`` plans with exactly the functions the handler runs (never a copy of them): the package
``handler_source_dir()`` finds (inside the wheel, or the checkout's ``handler/``) is put first on the
import path once, and its modules are imported from there.
"""

from __future__ import annotations

import sys
from types import ModuleType


def handler_module(name: str) -> ModuleType:
    """``mailflow_handler.<name>`` from the shipped handler package."""
    import importlib

    from mailflow_cli.packaging import HANDLER_PACKAGE, handler_source_dir

    root = str(handler_source_dir().parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module(f"{HANDLER_PACKAGE}.{name}")
