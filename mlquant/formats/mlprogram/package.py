"""The ``.mlpackage`` folder: where the model message and its weights live, read and written whole.

A package holds ``Manifest.json`` (items by identifier; ``rootModelIdentifier`` names the model
item, whose ``path`` is relative to ``Data/``), the model message
(``Data/com.apple.CoreML/model.mlmodel``) and, beside it, ``weights/weight.bin``. Blob file names
in the program (``@model_path/weights/weight.bin``) are relative to the model message's folder.
An ML Program can also come as a bare ``.mlmodel`` file with its ``weights`` folder beside it.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import uuid
import zipfile
from pathlib import Path
from typing import Any

import attrs

from ...errors import InvalidModelError, ModelNotFoundError, OutputError

__all__ = [
    "MODEL_PATH",
    "WEIGHT_FILE",
    "Package",
    "package_bytes",
    "read_model_file",
    "read_package",
    "read_package_bytes",
    "write_package",
]

#: Where a package keeps its model message, relative to ``Data/``.
MODEL_PATH = "com.apple.CoreML/model.mlmodel"
#: The blob file name mlquant writes, as the program refers to it.
WEIGHT_FILE = "@model_path/weights/weight.bin"
_WEIGHTS_FOLDER = "weights"
MANIFEST_ITEMS = ("model.mlmodel", "weights")


@attrs.frozen
class Package:
    """What a package's files hold, before the model message is parsed."""

    model: bytes
    """The ``Model`` message's bytes."""
    model_path: Path
    """Where the model message was read from."""
    weights: dict[str, bytes] = attrs.field(factory=dict)
    """Blob files by the name the program uses (``@model_path/weights/weight.bin``)."""
    manifest: dict[str, Any] | None = None
    """``Manifest.json``, or None for a bare ``.mlmodel`` file."""


def read_package(folder: Path) -> Package:
    """Read a ``.mlpackage`` folder.

    Raises:
        InvalidModelError: No readable ``Manifest.json``, or it names a model that is not there.
    """
    manifest_path = folder / "Manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
        root = manifest["itemInfoEntries"][manifest["rootModelIdentifier"]]["path"]
    except FileNotFoundError:
        msg = f"{folder} has no Manifest.json; expected an .mlpackage folder"
        raise InvalidModelError(msg) from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        msg = f"{manifest_path} is not a readable package manifest ({type(error).__name__}: {error})"
        raise InvalidModelError(msg) from None
    model_path = folder / "Data" / root
    if not model_path.is_file():
        msg = f"{folder}: the manifest names the model {root}, which is not in the package"
        raise InvalidModelError(msg)
    return Package(model_path.read_bytes(), model_path, _weights(model_path.parent), manifest)


def read_model_file(path: Path) -> Package:
    """Read an ML Program ``.mlmodel`` file and the ``weights`` folder beside it (if any)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        msg = f"no model file at {path}"
        raise ModelNotFoundError(msg) from None
    return Package(data, path, _weights(path.parent))


#: The first bytes of :func:`package_bytes` (a zip archive's local file header).
PACKAGE_BYTES_MAGIC = b"PK\x03\x04"
_ZIP_MODEL = "model.mlmodel"
_ZIP_MANIFEST = "Manifest.json"
_ZIP_BLOBS = "blobs/"


def package_bytes(model: bytes, weights: dict[str, bytes], manifest: dict[str, Any] | None) -> bytes:
    """A package as one byte string: an uncompressed zip of the model message, its blob files and manifest.

    The same package gives the same bytes (entries in a fixed order with a fixed date); blob
    files keep the name the program uses (``blobs/@model_path/weights/weight.bin``).
    """
    stream = io.BytesIO()
    entries = [(_ZIP_MODEL, model)]
    if manifest is not None:
        entries.append((_ZIP_MANIFEST, json.dumps(manifest).encode()))
    entries += [(_ZIP_BLOBS + name, weights[name]) for name in sorted(weights)]
    with zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED) as archive:
        for name, data in entries:
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return stream.getvalue()


def read_package_bytes(data: bytes, where: str = "<bytes>") -> Package:
    """Read what :func:`package_bytes` wrote.

    Raises:
        InvalidModelError: The bytes are not such an archive, or it holds no model message.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if _ZIP_MODEL not in names:
                msg = f"{where}: the model archive holds no {_ZIP_MODEL} (it holds {', '.join(names) or 'nothing'})"
                raise InvalidModelError(msg)
            manifest = json.loads(archive.read(_ZIP_MANIFEST)) if _ZIP_MANIFEST in names else None
            weights = {n[len(_ZIP_BLOBS):]: archive.read(n) for n in names if n.startswith(_ZIP_BLOBS)}
            return Package(archive.read(_ZIP_MODEL), Path(where) / _ZIP_MODEL, weights, manifest)
    except (zipfile.BadZipFile, ValueError, KeyError) as error:
        msg = f"{where} is not a readable model archive ({type(error).__name__}: {error})"
        raise InvalidModelError(msg) from None


def _weights(model_folder: Path) -> dict[str, bytes]:
    folder = model_folder / _WEIGHTS_FOLDER
    if not folder.is_dir():
        return {}
    return {f"@model_path/{_WEIGHTS_FOLDER}/{f.name}": f.read_bytes() for f in sorted(folder.iterdir()) if f.is_file()}


def new_manifest() -> dict[str, Any]:
    """A manifest for a package holding a model message and its weights folder.

    Its item identifiers are fixed (name-based UUIDs), so that the same model gives the same bytes.
    """
    model_id, weights_id = (str(uuid.uuid5(uuid.NAMESPACE_URL, f"mlquant:{item}")).upper() for item in MANIFEST_ITEMS)
    return {
        "fileFormatVersion": "1.0.0",
        "itemInfoEntries": {
            model_id: {"author": "com.apple.CoreML", "description": "CoreML Model Specification",
                       "name": "model.mlmodel", "path": MODEL_PATH},
            weights_id: {"author": "com.apple.CoreML", "description": "CoreML Model Weights",
                         "name": "weights", "path": "com.apple.CoreML/weights"},
        },
        "rootModelIdentifier": model_id,
    }


def write_package(target: Path, model: bytes, weights: bytes | None, manifest: dict[str, Any] | None) -> None:
    """Write a package folder atomically: a complete folder beside ``target``, then renamed over it.

    Args:
        target: The ``.mlpackage`` folder to write.
        model: The ``Model`` message's bytes.
        weights: ``weight.bin``'s bytes, or None for a program without blobs.
        manifest: The manifest to keep (its model item must be at :data:`MODEL_PATH`), or None
            for a new one.

    Raises:
        OutputError: ``target`` is a file, or the folder cannot be written.
    """
    if target.exists() and not target.is_dir():
        msg = f"cannot write {target}: it is a file (an ML Program is saved as an .mlpackage folder)"
        raise OutputError(msg)
    if manifest is None or manifest["itemInfoEntries"][manifest["rootModelIdentifier"]]["path"] != MODEL_PATH:
        manifest = new_manifest()
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    old = target.with_name(f".{target.name}.{secrets.token_hex(6)}.old")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        model_file = temp / "Data" / MODEL_PATH
        (model_file.parent / _WEIGHTS_FOLDER).mkdir(parents=True)
        _write(temp / "Manifest.json", json.dumps(manifest, indent=4).encode())
        _write(model_file, model)
        if weights is not None:
            _write(model_file.parent / _WEIGHTS_FOLDER / "weight.bin", weights)
        if target.exists():
            os.replace(target, old)
        os.replace(temp, target)
    except OSError as error:
        if old.exists() and not target.exists():
            os.replace(old, target)
        msg = f"cannot write {target}: {error.strerror or error}"
        raise OutputError(msg) from None
    finally:
        shutil.rmtree(temp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
