"""Writing files safely: atomic writes, and checks that an output never lands on an input.

:func:`atomic_write` writes a temporary file beside the target, flushes it to disk and renames
it over the target, so readers see the old file or the new one, never half of one.
:func:`check_output` is what every command runs on every output path before doing any work.
:func:`load_json` reads a JSON file a user named, telling a missing file from an unreadable one.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import MlquantError, OutputError, OverwriteError

__all__ = ["atomic_write", "check_output", "inside", "load_json", "same_file"]


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half of one.

    The temporary file is created with the permissions ``open()`` would give (0o666 less the
    process umask, applied by the system), written, flushed to disk with ``fsync``, then renamed
    over ``path``.

    Raises:
        OutputError: ``path`` is a folder, or it cannot be written (no permission, a full disk).
    """
    target = Path(path)
    if target.is_dir():
        msg = f"cannot write {target}: it is a folder"
        raise OutputError(msg)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = _create_beside(target)
    except OSError as error:
        msg = f"cannot write {target}: {error.strerror or error}"
        raise OutputError(msg) from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data.encode() if isinstance(data, str) else data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, target)
    except OSError as error:
        temp.unlink(missing_ok=True)
        msg = f"cannot write {target}: {error.strerror or error}"
        raise OutputError(msg) from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return target


def _create_beside(target: Path) -> tuple[int, Path]:
    """Create a new, empty, uniquely named file in ``target``'s folder; return its descriptor and path."""
    while True:
        temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temp
        except FileExistsError:
            continue


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` exists and is the same file as ``b``."""
    try:
        return a.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it (both resolved, symbolic links followed)."""
    resolved, root = path.resolve(), folder.resolve()
    return resolved == root or root in resolved.parents


def check_output(
    path: str | os.PathLike[str],
    *,
    folder: bool = False,
    inputs: Sequence[str | os.PathLike[str]] = (),
    data: Sequence[str | os.PathLike[str]] = (),
    what: str = "output",
) -> Path:
    """Check, before any work, that ``path`` can be written and is none of the inputs.

    Args:
        path: The output file (or folder, with ``folder=True``).
        folder: Whether the output is a folder (an existing file is then in the way).
        inputs: Files the command reads (a model): the output may not be one of them.
        data: Folders the command reads: the output may not lie inside them.
        what: Names the output in messages (``--csv``, ``the output folder``...).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OverwriteError: The output would overwrite an input (or, for a folder, holds one).
        OutputError: The output would land inside a data folder, a file or folder is in its
            way, or its folder cannot be written.
    """
    target = Path(path)
    for root in data:
        if inside(target, Path(root)):
            msg = f"{what} {target} lies inside the data folder {root}; mlquant never writes into its input"
            raise OutputError(msg)
    for source in map(Path, inputs):
        if source.exists() and (inside(source, target) if folder else same_file(target, source)):
            msg = (f"{what} {target} holds the input {source}; choose another folder" if folder else
                   f"refusing to overwrite {target}: it is an input of this command")
            raise OverwriteError(msg)
    if folder and target.exists() and not target.is_dir():
        msg = f"{what} {target} is a file; expected a folder (or a path that does not exist yet)"
        raise OutputError(msg)
    if not folder and target.is_dir():
        msg = f"{what} {target} is a folder; expected a file path"
        raise OutputError(msg)
    start = target if folder else target.parent
    parent = next((p for p in (start, *start.parents) if p.exists()), Path("."))
    if not parent.is_dir():
        msg = f"cannot write {what} {target}: {parent} is a file"
        raise OutputError(msg)
    if not os.access(parent, os.W_OK | os.X_OK):
        msg = f"cannot write {what} {target}: no permission to write in {parent}"
        raise OutputError(msg)
    return target


def load_json(path: str | os.PathLike[str], error: Callable[[str], MlquantError], what: str = "file") -> Any:
    """Read the JSON value in the file at ``path``.

    Args:
        path: The file.
        error: Makes the error to raise from a message (``DataError``, or a function that
            names the option the path came from).
        what: Names the file in the message for a missing one (``no <what> at <path>``).

    Raises:
        MlquantError: What ``error`` makes: the file is missing, or it is not readable JSON.
    """
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        msg = f"no {what} at {path}"
        raise error(msg) from None
    except (OSError, ValueError) as problem:
        msg = f"{path} is not readable JSON ({problem})"
        raise error(msg) from None
