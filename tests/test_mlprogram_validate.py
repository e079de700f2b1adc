"""The ML Program validator reports what Core ML's MIL loader would refuse in what mlquant writes."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import mlquant
from mlquant.formats.mlprogram.package import read_package, write_package


def _edited(source: Path, target: Path, change_spec=None, change_blob=None) -> Path:  # type: ignore[no-untyped-def]
    """A copy of ``source`` with its model message and weight.bin bytes changed."""
    from coremltools.proto import Model_pb2

    package = read_package(source)
    spec = Model_pb2.Model()
    spec.ParseFromString(package.model)
    if change_spec:
        change_spec(spec)
    blob = bytearray(next(iter(package.weights.values())))
    if change_blob:
        change_blob(blob)
    write_package(target, spec.SerializeToString(), bytes(blob), package.manifest)
    return target


def _block(spec):  # type: ignore[no-untyped-def]
    function = spec.mlProgram.functions["main"]
    return function.block_specializations[function.opset]


def _op(spec, kind: str):  # type: ignore[no-untyped-def]
    return next(op for op in _block(spec).operations if op.type == kind)


def _relabel_opset(spec, version: int, source: str, target: str) -> None:  # type: ignore[no-untyped-def]
    """Give the main function's ``source`` block the opset name ``target``, and the model ``version``."""
    spec.specificationVersion = version
    function = spec.mlProgram.functions["main"]
    function.block_specializations[target].CopyFrom(function.block_specializations[source])
    del function.block_specializations[source]
    function.opset = target


class TestProblems:
    def test_written_packages_are_clean(self, mlpackages, tmp_path) -> None:
        """Packages mlquant writes in each form have no problems (the conftest fixture checks every save too)."""
        model = mlquant.load(mlpackages["fp16_16"])
        for index, quantizer in enumerate([mlquant.LinearLUTQuantizer(2), mlquant.KMeansLUTQuantizer(3),
                                           mlquant.LinearQuantizer(8), mlquant.Float16Quantizer()]):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", mlquant.MlquantWarning)
                small = mlquant.quantize(model, quantizer)
            written = mlquant.load(small.save(tmp_path / f"{index}.mlpackage"))
            assert written.problems() == []

    def test_an_opset_that_contradicts_the_version(self, mlpackages, tmp_path) -> None:
        """A specification version whose opset the function does not declare is reported."""
        def change(spec) -> None:  # type: ignore[no-untyped-def]
            spec.specificationVersion = 8

        found = mlquant.load(_edited(mlpackages["fp32_16"], tmp_path / "m.mlpackage", change)).problems()
        assert any("needs opset CoreML7 (got CoreML6)" in p for p in found), found

    def test_an_ios18_op_in_an_ios16_program(self, mlpackages, tmp_path) -> None:
        """An iOS18-only op in an iOS16 program is reported with the target it needs."""
        change = lambda spec: _relabel_opset(spec, 7, "CoreML8", "CoreML6")
        found = mlquant.load(_edited(mlpackages["block_int4_18"], tmp_path / "m.mlpackage", change)).problems()
        assert any("(constexpr_blockwise_shift_scale): needs iOS18" in p for p in found), found

    def test_a_table_of_the_wrong_size(self, mlpackages, tmp_path) -> None:
        """A look-up table whose size is not 2**nbits of its indices is reported."""
        def change(spec) -> None:  # type: ignore[no-untyped-def]
            lut = _op(spec, "constexpr_lut_to_dense").inputs["lut"].arguments[0].value
            lut.type.tensorType.dimensions[-2].constant.size = 4

        found = mlquant.load(_edited(mlpackages["grouped3_18"], tmp_path / "m.mlpackage", change)).problems()
        assert any("need a table of rank 6 with 8 entries" in p for p in found), found

    def test_a_blob_of_the_wrong_type(self, mlpackages, tmp_path) -> None:
        """A blob whose record holds another type than its value declares is reported."""
        def change(blob: bytearray) -> None:
            blob[68:72] = (2).to_bytes(4, "little")

        model = mlquant.load(_edited(mlpackages["fp16_16"], tmp_path / "m.mlpackage", change_blob=change))
        assert any("offset 64: the program expects fp16 data, the blob holds fp32" in p for p in model.problems())
        with pytest.raises(mlquant.InvalidModelError, match="expects fp16 data, the blob holds fp32"):
            model.read(0)

    def test_an_orphaned_blob(self, mlpackages, tmp_path) -> None:
        """A blob no value refers to is reported (mlquant never leaves one)."""
        from mlquant.formats.mlprogram.blob import BlobFile, BlobWriter
        from mlquant.formats.mlprogram.values import by_name

        def change(blob: bytearray) -> None:
            source = BlobFile(bytes(blob))
            writer = BlobWriter()
            for offset in source.offsets():
                record = source.record(offset)
                assert writer.add_raw(source.raw(offset), record.kind, record.padding_bits) == offset
            extra = writer.add(np.arange(16, dtype=np.float32), by_name("fp32"))
            blob[:] = writer.to_bytes()
            change.extra = extra  # type: ignore[attr-defined]

        found = mlquant.load(_edited(mlpackages["fp32_16"], tmp_path / "m.mlpackage", change_blob=change)).problems()
        assert found == [f"m.mlpackage: weights/weight.bin holds 1 blob(s) no value refers to (at [{change.extra}])"
                         .replace("m.mlpackage", str(tmp_path / "m.mlpackage"))], found  # type: ignore[attr-defined]

    def test_an_ios16_lut_in_an_ios18_program(self, mlpackages, tmp_path) -> None:
        """An iOS16-form look-up op left in an iOS18 program is reported."""
        change = lambda spec: _relabel_opset(spec, 9, "CoreML6", "CoreML8")
        found = mlquant.load(_edited(mlpackages["palettize4_16"], tmp_path / "m.mlpackage", change)).problems()
        assert any("iOS16 form" in p for p in found), found


class TestFingerprints:
    def test_same_values_stored_differently_share_a_content_fingerprint(self, mlpackages) -> None:
        """A weight rewritten with its own values keeps the content fingerprint; other values change it."""
        model = mlquant.load(mlpackages["palettize4_16"])
        same = model.replace({0: model.read(0)})
        assert same.weights[0].storage == "float16" and model.weights[0].storage == "lut"
        assert same.content_fingerprint() == model.content_fingerprint()
        assert same.fingerprint() != model.fingerprint()
        other = model.replace({0: model.read(0) + np.float32(1)})
        assert other.content_fingerprint() != model.content_fingerprint()


class TestMultiFunction:
    def test_other_functions_keep_their_blobs(self, mlpackages, tmp_path) -> None:
        """Quantizing the default function of a two-function package keeps the other's values readable."""
        def add_function(spec) -> None:  # type: ignore[no-untyped-def]
            spec.mlProgram.functions["second"].CopyFrom(spec.mlProgram.functions["main"])
            spec.description.defaultFunctionName = "main"

        path = _edited(mlpackages["fp32_16"], tmp_path / "multi.mlpackage", add_function)
        with pytest.warns(mlquant.MlquantWarning, match="functions"):
            model = mlquant.load(path)
        with pytest.warns(mlquant.MlquantWarning, match="not smaller"):  # the second function keeps the float blobs
            small = mlquant.quantize(model, mlquant.LinearLUTQuantizer(4))
        with pytest.warns(mlquant.MlquantWarning, match="functions"):
            written = mlquant.load(small.save(tmp_path / "q.mlpackage"))
        assert written.problems() == []
        from mlquant.formats.mlprogram.constexpr import Constants
        from mlquant.formats.mlprogram.program import main_block, producers

        second = main_block(written.spec, "second")
        constants = Constants(producers(second), written.read_blob)
        original = main_block(model.spec, "main")
        for op in original.operations:
            if op.type == "const" and op.attributes["val"].WhichOneof("value") == "blobFileValue":
                assert np.array_equal(constants.value(op.outputs[0].name), model.const_value(op))
