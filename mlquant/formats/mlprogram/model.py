"""An ML Program Core ML model (``.mlpackage``): the program message and its ``weight.bin``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ...errors import InvalidModelError, OutputError, UnsupportedModelError
from ...weights import QuantizedWeights
from ...weights.storage import StorageRules
from .._model import Model, WeightInfo
from . import program as prog
from .blob import BlobFile
from .constexpr import Constants
from .package import package_bytes, write_package
from .storage import MLPROGRAM_STORAGE
from .values import MilType

__all__ = ["MLProgramModel"]


class MLProgramModel(Model):
    """An ML Program: a ``Model`` message of type ``mlProgram`` and the blob files beside it.

    Args:
        spec: A ``CoreML.Specification.Model`` message holding an ML Program.
        path: The package (or ``.mlmodel`` file) it was read from, if any.
        source: The file of the model it was derived from (defaults to ``path``).
        weights: Blob files by the name the program uses (``@model_path/weights/weight.bin``).
        manifest: The package's ``Manifest.json``, kept when saving.

    Raises:
        UnsupportedModelError: The spec holds no ML Program, or one whose weights mlquant cannot read.
        InvalidModelError: The program's constants contradict their blob files.
    """

    format: ClassVar[str] = "mlprogram"
    storage: ClassVar[StorageRules] = MLPROGRAM_STORAGE
    suffix: ClassVar[str] = ".mlpackage"
    weight_layer_types: ClassVar[tuple[str, ...]] = tuple(prog.WEIGHT_OPS)
    batch_in_input_shape: ClassVar[bool] = True

    def __init__(self, spec: Any, *, path: Any = None, source: Any = None,
                 weights: Mapping[str, bytes] | None = None, manifest: dict[str, Any] | None = None) -> None:
        super().__init__(spec, path=path, source=source)
        if not self.holds(spec):
            kind = spec.WhichOneof("Type") if hasattr(spec, "WhichOneof") else type(spec).__name__
            msg = f"MLProgramModel holds ML Programs (got a model of type {kind})"
            raise UnsupportedModelError(msg)
        where = f"{self._path}: " if self._path else ""
        self._files = {name: BlobFile(data, where + name.replace("@model_path/", "")) for name, data in (weights or {}).items()}
        self._manifest = manifest
        self._function = prog.function_name(spec)
        self._block = prog.main_block(spec, self._function)
        self._made = prog.producers(self._block)
        self._constants = Constants(self._made, self.read_blob if self._files else None)
        self._slots = prog.slots(self._block, self._made)
        self._weights = tuple(self._info(i, slot) for i, slot in enumerate(self._slots))

    @classmethod
    def holds(cls, spec: Any) -> bool:
        """Whether ``spec`` is an ML Program."""
        return hasattr(spec, "WhichOneof") and spec.WhichOneof("Type") == "mlProgram"

    # What the runtime reads -------------------------------------------------------------------

    @property
    def program(self) -> Any:
        """The MIL ``Program`` message (``spec.mlProgram``). Treat it as read-only."""
        return self._spec.mlProgram

    @property
    def function_name(self) -> str:
        """The function mlquant works on: the default function, usually ``main``."""
        return self._function

    @property
    def block(self) -> Any:
        """The function's block for its opset (the operations the runtime executes)."""
        return self._block

    @property
    def opset(self) -> str:
        """The function's opset, e.g. ``CoreML6`` (iOS16)."""
        return str(self.program.functions[self._function].opset)

    @property
    def deployment_target(self) -> str:
        """The deployment target the specification version stands for, e.g. ``iOS16``."""
        version = int(self._spec.specificationVersion)
        return {6: "iOS15", 7: "iOS16", 8: "iOS17", 9: "iOS18"}.get(version, f"specification version {version}")

    @property
    def compute_precision(self) -> str:
        """``fp16`` if the program computes in float16 (any float16 operation output), else ``fp32``."""
        for op in prog.operations(self._block):
            if op.type == "const" or op.type.startswith("constexpr_"):
                continue
            if any(out.type.tensorType.dataType == 10 for out in op.outputs):
                return "fp16"
        return "fp32"

    def details(self) -> dict[str, str]:
        """Deployment target (with the function's opset) and compute precision, for ``mlquant inspect``."""
        return {"deployment target": f"{self.deployment_target} (opset {self.opset})",
                "compute precision": self.compute_precision}

    def const_value(self, op: Any) -> np.ndarray:
        """The value of a constant: a ``const`` or ``constexpr_*`` operation's output.

        Args:
            op: The ``Operation`` message (its only output, or its first for the two-output
                sparse ops), or the name of any constant output.

        Returns:
            For ``const``: the immediate or blob value in its own dtype (float16 stays float16,
            integers stay integers). For ``constexpr_*``: the decompressed value in its output dtype.

        Raises:
            UnsupportedModelError: Not a constant, or a constexpr op mlquant cannot read (named).
            InvalidModelError: The constant's data contradicts its op definition.
        """
        if isinstance(op, str):
            return self._constants.value(op)
        return self._constants.outputs(op)[0]

    # The Model boundary ----------------------------------------------------------------------

    @property
    def size_bytes(self) -> int:
        """Bytes of the package's files (model message, weights, manifest)."""
        return int(self._spec.ByteSize()) + sum(len(f.data) for f in self._files.values()) + len(self._manifest_bytes())

    @property
    def weights(self) -> tuple[WeightInfo, ...]:
        """Every weight tensor, in operation order."""
        return self._weights

    @property
    def class_labels(self) -> tuple[str, ...] | tuple[int, ...] | None:
        """The labels bound to the program's ``classify`` operation, or None."""
        for op in prog.operations(self._block):
            if op.type == "classify" and "classes" in op.inputs:
                binding = op.inputs["classes"].arguments[0]
                if binding.WhichOneof("binding") == "value" and binding.value.immediateValue.WhichOneof("value") == "list":
                    items = binding.value.immediateValue.list.values
                    values = np.concatenate([self._constants.param(v).reshape(-1) for v in items]) if items else np.zeros(0)
                else:
                    values = self._constants.param(binding.value if binding.WhichOneof("binding") == "value" else binding.name)
                flat = values.reshape(-1).tolist()
                return tuple(str(v) for v in flat) if values.dtype == object else tuple(int(v) for v in flat)
        return None

    def to_bytes(self) -> bytes:
        """The package's files as one archive: model message, blob files and manifest."""
        data = {name: blob.data for name, blob in self._files.items()}
        return package_bytes(self._spec.SerializeToString(deterministic=True), data, self._manifest)

    def fingerprint(self) -> str:
        """A SHA-256 of the model message and its blob files."""
        digest = hashlib.sha256(self._spec.SerializeToString(deterministic=True))
        for name in sorted(self._files):
            digest.update(self._files[name].data)
        return digest.hexdigest()

    def content_fingerprint(self) -> str:
        """A SHA-256 of the dequantized weights and the rest of the program, however they are stored."""
        from .write import without_weights

        digest = hashlib.sha256()
        for weight in self._weights:
            digest.update(self.read(weight).tobytes())
        digest.update(without_weights(self._spec, self._function, self._slots).SerializeToString(deterministic=True))
        return digest.hexdigest()

    def problems(self) -> list[str]:
        """What Core ML would reject in this program's weights (empty if nothing)."""
        from .validate import problems

        return problems(self)

    def storage_problem(self, weight: WeightInfo, form: QuantizedWeights) -> str | None:
        """Why ``weight`` cannot be stored as ``form`` in an ML Program, or None if it can."""
        from .write import form_problem

        return form_problem(form)

    def _decode(self, index: int) -> np.ndarray:
        return np.asarray(self._constants.value(self._slots[index].producer), dtype=np.float32)

    def _replaced(self, new: Mapping[int, QuantizedWeights | np.ndarray]) -> Model:
        from .write import replace

        spec, weights = replace(self, new)
        return MLProgramModel(spec, source=self._source, weights=weights, manifest=self._manifest)

    def _write(self, target: Path) -> None:
        if target.suffix != self.suffix:
            msg = f"cannot write {target}: an ML Program is saved as a folder ending in .mlpackage"
            raise OutputError(msg)
        names = list(self._files)
        if len(names) > 1:
            msg = f"cannot write a program whose constants live in several blob files ({', '.join(names)})"
            raise UnsupportedModelError(msg)
        data = self._files[names[0]].data if names else None
        write_package(target, self._spec.SerializeToString(deterministic=True), data, self._manifest)

    # Helpers ---------------------------------------------------------------------------------

    @property
    def blob_files(self) -> dict[str, BlobFile]:
        """The blob files by the name the program uses."""
        return dict(self._files)

    @property
    def slots(self) -> list[prog.Slot]:
        """Where each weight lives in the program (same order as :attr:`weights`)."""
        return list(self._slots)

    def _blob_file(self, name: str) -> BlobFile:
        if name not in self._files:
            known = ", ".join(self._files) or "none"
            msg = f"the program reads blob file {name!r}, which the package does not hold (it holds {known})"
            raise InvalidModelError(msg)
        return self._files[name]

    def read_blob(self, name: str, offset: int, kind: MilType, count: int) -> np.ndarray:
        """``count`` elements of ``kind`` from the blob at ``offset`` of blob file ``name``.

        Raises:
            InvalidModelError: No such file, or no such blob of that type and length.
        """
        return self._blob_file(name).read(offset, kind, count)

    def _blob_size(self, name: str, offset: int) -> int:
        return self._blob_file(name).record(offset).size

    def _manifest_bytes(self) -> bytes:
        return json.dumps(self._manifest, indent=4).encode() if self._manifest else b""

    def _info(self, index: int, slot: prog.Slot) -> WeightInfo:
        storage = prog.storage_of(slot.producer, self._made, self._blob_size)
        return WeightInfo(
            index=index, layer=slot.layer, layer_type=slot.layer_type, field=slot.field, shape=slot.shape,
            channel_axis=slot.channel_axis, is_bias=slot.is_bias, updatable=False, storage=storage.kind,
            nbits=storage.nbits, nbytes=storage.nbytes,
        )
