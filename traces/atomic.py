"""Files that appear whole or not at all: write a temporary file, then rename it.

A failure (or Ctrl-C) while writing leaves the target as it was -- never half a file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_write(path: str | Path, encoding: str = "utf-8") -> Iterator[IO[str]]:
    """Open a text file for writing whose content replaces `path` only on success.

    The temporary file sits beside `path` (same file system, so the rename is atomic)
    and is removed if the block raises. Raises OSError if the folder is not writable.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        out_file = tmp.open("w", encoding=encoding)
    except OSError as exc:  # name the file asked for, not the temporary one
        raise OSError(exc.errno, exc.strerror, str(target)) from None
    try:
        with out_file as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
