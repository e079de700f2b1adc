"""Writing files atomically: a temporary file beside the target, then a rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import OutputError


def _default_mode() -> int:
    """The permissions ``open()`` would give a new file (0o666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half of one."""
    target = Path(path)
    if target.is_dir():
        msg = f"cannot write {target}: it is a folder"
        raise OutputError(msg)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as error:
        msg = f"cannot write {target}: {error.strerror or error}"
        raise OutputError(msg) from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data.encode() if isinstance(data, str) else data)
        os.chmod(temp, _default_mode())
        os.replace(temp, target)
    except OSError as error:
        Path(temp).unlink(missing_ok=True)
        msg = f"cannot write {target}: {error.strerror or error}"
        raise OutputError(msg) from None
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target
