"""Files only this user may read: the emulator's state directory holds sent mail, logs and its access key.

Directories are created 0700 and files 0600 whatever the process's umask (the mode is given to
``mkdir``/``open`` and then set again, because the umask can only remove bits). :func:`make_private`
fixes a tree made by an older version or by hand.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as 0700 directories; an existing ``path`` is made 0700."""
    missing = [parent for parent in (path, *path.parents) if not parent.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=DIRECTORY_MODE, exist_ok=True)
        os.chmod(directory, DIRECTORY_MODE)
    os.chmod(path, DIRECTORY_MODE)
    return path


def _open_private(path: Path, flags: int) -> int:
    descriptor = os.open(path, flags | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
    os.fchmod(descriptor, FILE_MODE)
    return descriptor


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (0600), replacing what was there."""
    with os.fdopen(_open_private(path, os.O_WRONLY | os.O_TRUNC), "wb") as handle:
        handle.write(data)


def replace_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (0600) atomically: readers see the old content or the new, never part."""
    partial = path.with_name(path.name + ".tmp")
    write_private(partial, data)
    partial.replace(path)


def append_private(path: Path) -> BinaryIO:
    """Open ``path`` (0600) for appending, creating it if needed."""
    return os.fdopen(_open_private(path, os.O_WRONLY | os.O_APPEND), "ab")


def make_private(root: Path) -> None:
    """Make ``root`` and everything under it private (0700 directories, 0600 files); links are left alone."""
    private_dir(root)
    for directory, subdirectories, files in os.walk(root):
        for name in subdirectories:
            path = Path(directory, name)
            if not path.is_symlink():
                os.chmod(path, DIRECTORY_MODE)
        for name in files:
            path = Path(directory, name)
            if not path.is_symlink():
                os.chmod(path, FILE_MODE)
