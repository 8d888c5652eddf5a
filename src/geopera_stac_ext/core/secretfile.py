"""Secret files (cluster password, signing key) created private: mode 0600 from the first byte."""

from __future__ import annotations

import os
from pathlib import Path

MODE = 0o600


def write_private(path: Path, text: str, *, exclusive: bool = False) -> bool:
    """Write `text` to `path` readable by its owner only; False when `exclusive` and it exists.

    NOTE: the mode is given to open(2), so the file never exists with umask-default
    permissions (write-then-chmod leaves a window where others can read it); an existing file
    is fchmod-ed before its content is replaced, and a symlink in its place is refused.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_EXCL if exclusive else os.O_TRUNC)
    try:
        fd = os.open(path, flags, MODE)
    except FileExistsError:
        if exclusive:
            return False
        raise
    try:
        os.fchmod(fd, MODE)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    return True
