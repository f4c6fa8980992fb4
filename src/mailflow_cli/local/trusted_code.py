"""Which Lambda functions the emulator runs: Mailflow's own handler, exactly as this CLI ships it.

The runner executes a function's code on this machine, as this user. Anything that could call
CreateFunction or UpdateFunctionCode would otherwise run code here, so a function runs only when

- its name is ``mailflow-<environment>-handler`` and its handler ``mailflow_handler.handler``;
- it carries Mailflow's ownership tags for that environment (``mailflow:managed-by = mailflow``,
  ``mailflow:environment = <environment>``, ``mailflow:component = handler``);
- its zip holds the handler package this CLI ships (the same files, byte for byte) plus the generated
  runtime config ``mailflow_config.json``, and nothing else: no other module, no ``sitecustomize``, no
  compiled file that Python would import instead of a source file.

Anything else is refused (:class:`FunctionRefused`) and never unpacked or started.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mailflow_cli.config import ENVIRONMENT_PATTERN
from mailflow_cli.naming import HANDLER_STRING, TAG_COMPONENT, is_owned
from mailflow_cli.packaging import RUNTIME_CONFIG_NAME, handler_files, handler_source_dir

HANDLER_COMPONENT = "handler"
MAX_UNPACKED_BYTES = 250 * 1024 * 1024
"""Lambda's limit for an unzipped deployment package."""
_SHOWN_DIFFERENCES = 3


class FunctionRefused(Exception):
    """This function is not Mailflow's handler as this CLI ships it; the emulator does not run it."""

    def __init__(self, function: str, reason: str) -> None:
        super().__init__(f"{function}: {reason}")
        self.function = function
        self.reason = reason


def check_identity(name: str, handler: str, tags: Mapping[str, str]) -> None:
    """The function's name, handler and ownership tags are those of a Mailflow stack's handler."""
    environment = name.removeprefix("mailflow-").removesuffix("-handler")
    if name != f"mailflow-{environment}-handler" or not ENVIRONMENT_PATTERN.match(environment):
        raise FunctionRefused(
            name, "only Mailflow's handler functions (mailflow-<environment>-handler) run here"
        )
    if handler != HANDLER_STRING:
        raise FunctionRefused(name, f"its handler is {handler!r}; only {HANDLER_STRING!r} runs here")
    if not is_owned(dict(tags), environment) or tags.get(TAG_COMPONENT) != HANDLER_COMPONENT:
        raise FunctionRefused(name, f"it lacks Mailflow's ownership tags for environment {environment!r}")


def _summary(kind: str, names: set[str]) -> list[str]:
    shown = sorted(names)[:_SHOWN_DIFFERENCES]
    more = len(names) - len(shown)
    return [f"{kind} {', '.join(shown)}" + (f" and {more} more" if more else "")] if names else []


@dataclass(frozen=True)
class ShippedHandler:
    """The handler package's files (zip entry name -> bytes) that deployed code must match."""

    files: Mapping[str, bytes] = field(repr=False)

    @classmethod
    def from_directory(cls, root: Path | None = None) -> ShippedHandler:
        return cls({name: path.read_bytes() for name, path in handler_files(root or handler_source_dir())})

    def verified_files(self, function: str, zip_bytes: bytes) -> dict[str, bytes]:
        """The zip's files, once they are this package plus the runtime config; else FunctionRefused."""
        try:
            with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
                entries = archive.infolist()
                names = [entry.filename for entry in entries]
                if len(set(names)) != len(names):
                    raise FunctionRefused(function, "its zip holds the same name twice")
                if sum(entry.file_size for entry in entries) > MAX_UNPACKED_BYTES:
                    raise FunctionRefused(function, "its zip unpacks to more than Lambda's 250 MB")
                expected = set(self.files) | {RUNTIME_CONFIG_NAME}
                if set(names) != expected:
                    problems = _summary("unknown", set(names) - expected)
                    problems += _summary("missing", expected - set(names))
                    raise FunctionRefused(function, self._differs("; ".join(problems)))
                files = {name: archive.read(name) for name in names}
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise FunctionRefused(function, f"its code is not a readable zip ({exc})") from None
        changed = {name for name, data in self.files.items() if files[name] != data}
        if changed:
            raise FunctionRefused(function, self._differs("; ".join(_summary("changed", changed))))
        return files

    @staticmethod
    def _differs(details: str) -> str:
        return (
            f"its code differs from the handler this CLI ships ({details}); "
            "deploy it again with this mailflow (`mailflow deploy --local`)"
        )
