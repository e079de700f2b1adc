"""Reading a model file of any format: :func:`load`."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from .. import _coreml
from ..errors import InvalidModelError, MlquantWarning, ModelNotFoundError, UnsupportedModelError
from ._model import Model, format_of
from .mlprogram.model import MLProgramModel
from .mlprogram.package import PACKAGE_BYTES_MAGIC, Package, read_model_file, read_package, read_package_bytes
from .mlprogram.write import blob_files

__all__ = ["from_bytes", "load", "parse_spec"]


def load(path: str | os.PathLike[str]) -> Model:
    """Read a Core ML model file.

    Works on any platform: it reads the protobuf with coremltools' classes, never Core ML.

    Args:
        path: A ``.mlmodel`` file of type ``neuralNetwork``, ``neuralNetworkClassifier`` or
            ``neuralNetworkRegressor``, or a pipeline holding one; an ``.mlpackage`` folder
            holding an ML Program (or a NeuralNetwork); or an ML Program ``.mlmodel`` file with
            its ``weights`` folder beside it.

    Returns:
        The model.

    Raises:
        ModelNotFoundError: There is no file at ``path``.
        InvalidModelError: The file is not a Core ML model, or is truncated or corrupted.
        UnsupportedModelError: The model is of another type (tree ensemble, a pipeline holding
            an ML Program...).

    Warns:
        MlquantWarning: A multi-function ML Program: mlquant works on its default function.
    """
    source = Path(path)
    if source.is_dir():
        if source.suffix == ".mlpackage" or (source / "Manifest.json").exists():
            return _load_package(source)
        msg = f"{source} is a directory; expected a .mlmodel file or an .mlpackage folder"
        raise InvalidModelError(msg)
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        msg = f"no model file at {source}"
        raise ModelNotFoundError(msg) from None
    except OSError as error:
        msg = f"cannot read {source}: {error.strerror or error}"
        raise InvalidModelError(msg) from None
    spec = parse_spec(data, source)
    if spec.WhichOneof("Type") == "mlProgram":
        return _ml_program(spec, source, read_model_file(source))
    _refuse_pipelined_programs(spec, source)
    return format_of(spec)(spec, path=source)


def from_bytes(data: bytes) -> Model:
    """Rebuild a model from :meth:`Model.to_bytes`, whatever its format.

    Args:
        data: What ``to_bytes`` returned (a NeuralNetwork's ``.mlmodel`` bytes also work).

    Returns:
        An equal model, with no path.

    Raises:
        InvalidModelError: The bytes hold no Core ML model.
    """
    where = Path("<model bytes>")
    if data.startswith(PACKAGE_BYTES_MAGIC):
        package = read_package_bytes(data, str(where))
        spec = parse_spec(package.model, package.model_path)
        return MLProgramModel(spec, weights=package.weights, manifest=package.manifest)
    spec = parse_spec(data, where)
    return format_of(spec)(spec)


def _load_package(folder: Path) -> Model:
    package = read_package(folder)
    spec = parse_spec(package.model, package.model_path)
    if spec.WhichOneof("Type") != "mlProgram":
        _refuse_pipelined_programs(spec, folder)
        return format_of(spec)(spec, path=folder)
    return _ml_program(spec, folder, package)


def _ml_program(spec: Any, source: Path, package: Package) -> Model:
    """An :class:`MLProgramModel`, after checking its blob files are there and naming the function used."""
    from .mlprogram.program import function_name

    wanted = blob_files(spec)
    missing = sorted(wanted - set(package.weights))
    if missing:
        folder = package.model_path.parent / "weights"
        msg = (f"{source}: the ML Program keeps its weights in {', '.join(missing)}, but {folder} "
               f"{'holds no such file' if folder.is_dir() else 'does not exist'}")
        raise InvalidModelError(msg)
    functions = sorted(spec.mlProgram.functions)
    if len(functions) > 1:
        used = function_name(spec)
        others = ", ".join(f for f in functions if f != used)
        warnings.warn(f"{source} holds {len(functions)} functions ({', '.join(functions)}); mlquant reads and "
                      f"quantizes {used!r} only and keeps {others} as they are", MlquantWarning, stacklevel=3)
    return MLProgramModel(spec, path=source, weights=package.weights, manifest=package.manifest)


def _refuse_pipelined_programs(spec: Any, source: Path) -> None:
    from .neuralnetwork.layout import models

    pipelines = ("pipeline", "pipelineClassifier", "pipelineRegressor")
    if spec.WhichOneof("Type") in pipelines and any(m.WhichOneof("Type") == "mlProgram" for m in models(spec)):
        msg = (f"{source} is a {spec.WhichOneof('Type')} holding an ML Program; mlquant reads ML Programs "
               "on their own (.mlpackage), not inside pipelines")
        raise UnsupportedModelError(msg)


def parse_spec(data: bytes, source: Path) -> Any:
    """Parse a ``Model`` protobuf message, with errors that name the file.

    Raises:
        InvalidModelError: The bytes are not a Core ML model.
    """
    from google.protobuf.message import DecodeError

    spec = _coreml.new_spec()
    try:
        spec.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as error:
        msg = f"{source} is not a readable Core ML model (truncated or corrupted protobuf: {error})"
        raise InvalidModelError(msg) from None
    if spec.WhichOneof("Type") is None or not spec.HasField("description"):
        msg = f"{source} is not a Core ML model (no model type or description in the file)"
        raise InvalidModelError(msg)
    return spec
