"""Reading a model file of any format: :func:`load`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .. import _coreml
from ..errors import InvalidModelError, ModelNotFoundError, UnsupportedModelError
from ._model import Model, format_of

__all__ = ["load", "parse_spec"]


def load(path: str | os.PathLike[str]) -> Model:
    """Read a Core ML model file.

    Works on any platform: it reads the protobuf with coremltools' classes, never Core ML.

    Args:
        path: A ``.mlmodel`` file of type ``neuralNetwork``, ``neuralNetworkClassifier`` or
            ``neuralNetworkRegressor``, or a pipeline holding one.

    Returns:
        The model.

    Raises:
        ModelNotFoundError: There is no file at ``path``.
        InvalidModelError: The file is not a Core ML model, or is truncated or corrupted.
        UnsupportedModelError: The model is of another type (tree ensemble, ML Program...).
    """
    source = Path(path)
    if source.is_dir():
        if source.suffix == ".mlpackage" or (source / "Manifest.json").exists():
            msg = (
                f"{source} is an ML Program package (.mlpackage); mlquant reads NeuralNetwork "
                ".mlmodel files (ML Programs are not supported yet)"
            )
            raise UnsupportedModelError(msg)
        msg = f"{source} is a directory; expected a .mlmodel file"
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
        msg = f"{source} is an ML Program model; mlquant reads NeuralNetwork models (mlProgram is not supported yet)"
        raise UnsupportedModelError(msg)
    return format_of(spec)(spec, path=source)


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
