"""The ML Program executor: construction errors, feeds, precision, batches, memory, classifiers, constexpr weights.

Every test runs with both engines (``tests/_mil.py``), except those of the reference runtime's own machinery.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from mlquant.errors import DataError, InternalError, SettingsError, UnsupportedLayerError
from mlquant.runtime import MILProgram

from . import _mil
from ._runtime_onnx import run_node


def _rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _conv_relu_add(mb, x, w, c):
    return mb.add(x=mb.relu(x=mb.conv(x=x, weight=w, pad_type="valid")), y=c)


def _program(body, shape):
    import coremltools as ct

    return _mil._program([_spec(shape)], ct.target.iOS16, body)


def _spec(shape):
    from coremltools.converters.mil import Builder as mb

    return mb.TensorSpec(shape=shape)


class TestConstruction:
    def test_unsupported_operation_fails_before_any_input(self, tmp_path):
        """An operation type without a kernel raises UnsupportedLayerError naming the op and its type."""
        x = np.ones((1, 3), np.int32)
        model = _mil.one_op(tmp_path, lambda mb, a: mb.one_hot(indices=mb.abs(x=a), one_hot_vector_size=4), [x])
        with pytest.raises(UnsupportedLayerError, match=r"operation 'one_hot_0' \(one_hot\)"):
            _mil.program(model)

    def test_unknown_precision_is_a_settings_error(self, tmp_path):
        """precision takes 'program' or 'float32' only."""
        x = np.ones((1, 2), np.float32)
        model = _mil.one_op(tmp_path, lambda mb, a: mb.relu(x=a), [x])
        with pytest.raises(SettingsError, match="precision"):
            _mil.program(model, "float64")

    @pytest.mark.reference_only("the reference runtime's kernels")
    def test_kernel_failure_names_the_operation_and_shapes(self, tmp_path, monkeypatch):
        """A kernel that fails raises InternalError naming the operation, its type and input shapes."""
        from mlquant.runtime.mlprogram import registry

        def broken(ctx):
            def kernel(args):
                raise ValueError("boom")

            return kernel

        monkeypatch.setitem(registry.KERNELS, "relu", broken)
        x = np.ones((1, 2, 3), np.float32)
        model = _mil.one_op(tmp_path, lambda mb, a: mb.relu(x=a), [x])
        with pytest.raises(InternalError, match=r"'relu_0' \(relu\) failed on inputs x=\[\(1, 2, 3\)\].*boom"):
            MILProgram(model).run({"x0": x})


class TestFeeds:
    @pytest.fixture
    def program(self, tmp_path):
        x = np.ones((1, 2, 3), np.float32)
        return _mil.program(_mil.one_op(tmp_path, lambda mb, a: mb.relu(x=a), [x]))

    def test_wrong_shape_names_the_input(self, program):
        """A feed of the wrong shape raises DataError with the expected shape."""
        with pytest.raises(DataError, match=r"input 'x0': expected shape \(B, 2, 3\)"):
            program.run({"x0": np.ones((2, 3, 3), np.float32)})

    def test_missing_and_unknown_feeds(self, program):
        """Feeds must name exactly the inputs."""
        with pytest.raises(DataError, match="missing"):
            program.run({"y": np.ones((1, 2, 3), np.float32)})


@pytest.fixture(scope="module")
def fp16(tmp_path_factory):
    """An fp16 program (conv, relu, add) and its float32 weights."""
    rng = np.random.default_rng(0)
    w, c = _rand(rng, 4, 3, 3, 3), _rand(rng, 4, 1, 1)
    model = _mil.convert(
        _program(lambda x: _conv_relu_add(_mb(), x, w, c), (1, 3, 6, 6)), tmp_path_factory.mktemp("fp16"),
        precision="float16",
    )
    return model, w, c


class TestPrecision:
    def test_program_precision_rounds_every_fp16_result(self, fp16):
        """With precision='program' each fp16 op's result is rounded to fp16, as a hand computation does."""
        model, w, c = fp16
        assert "cast" in _mil.op_types(model)
        x = _rand(np.random.default_rng(1), 2, 3, 6, 6)
        (got,) = _mil.program(model).run({"x0": x}).values()
        half = lambda v: np.asarray(v, np.float32).astype(np.float16).astype(np.float32)
        conv = half(run_node("Conv", {"x": half(x)}, {}, constants={"w": half(w)})[0])
        want = half(np.maximum(conv, 0) + half(c))
        np.testing.assert_array_equal(got, half(got))
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3)

    def test_float32_precision_skips_the_rounding(self, fp16):
        """With precision='float32' the same fp16 program computes in float32 (from its fp16 weights)."""
        model, w, c = fp16
        x = _rand(np.random.default_rng(2), 2, 3, 6, 6)
        (got,) = _mil.program(model, "float32").run({"x0": x}).values()
        half = lambda v: np.asarray(v, np.float32).astype(np.float16).astype(np.float32)
        want = np.maximum(run_node("Conv", {"x": x}, {}, constants={"w": half(w)})[0], 0) + half(c)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        assert not np.array_equal(got, half(got))


def _mb():
    from coremltools.converters.mil import Builder as mb

    return mb


class TestBatches:
    def test_program_mixing_the_batch_axis_runs_item_by_item(self, tmp_path, mil_engine):
        """A reshape that folds the leading 1 into another axis makes the program run item by item, correctly."""
        x = _rand(np.random.default_rng(3), 1, 2, 3, 4)

        def make(mb, a):
            flat = mb.reshape(x=a, shape=[2, 12])
            return mb.softmax(x=mb.transpose(x=flat, perm=[1, 0]), axis=0)

        program = _mil.program(_mil.one_op(tmp_path, make, [x]))
        assert not program.batched
        if mil_engine == "reference":
            assert "reshape" in program.batch_reason
        batch = _rand(np.random.default_rng(4), 3, 2, 3, 4)
        (got,) = program.run({"x0": batch}).values()
        for i in range(3):
            t = batch[i].reshape(2, 12).T
            e = np.exp(t - t.max(axis=0))
            np.testing.assert_allclose(got[i], e / e.sum(axis=0), rtol=1e-6)

    def test_einsum_keeping_the_leading_index_runs_batched(self, tmp_path):
        """An einsum whose operands and result all start with the same index runs a batch in one pass."""
        rng = np.random.default_rng(11)
        a, b = _rand(rng, 1, 2, 3, 4), _rand(rng, 1, 4, 3, 5)
        equation = "nchw,nwhu->nchu"
        program = _mil.program(_mil.one_op(tmp_path, lambda mb, p, q: mb.einsum(values=(p, q), equation=equation), [a, b]))
        assert program.batched
        xs, ys = _rand(rng, 3, 2, 3, 4), _rand(rng, 3, 4, 3, 5)
        (got,) = program.run({"x0": xs, "x1": ys}).values()
        np.testing.assert_allclose(got, np.einsum(equation, xs, ys), rtol=1e-5, atol=1e-6)

    @pytest.mark.reference_only("the reference runtime's batch rules")
    def test_batch_rules_read_the_einsum_equation(self):
        """The batch rule accepts an einsum that keeps the leading index apart and names one that does not."""
        from mlquant.runtime.mlprogram._batch import _einsum

        assert _einsum("nchw,nwhu->nchu") is None
        assert "does not keep" in _einsum("nchw,nwhu->cnhu")
        assert "does not keep" in _einsum("...c,...d->...cd")

    @pytest.mark.reference_only("the reference runtime's memory use")
    def test_intermediates_are_freed_after_their_last_reader(self, tmp_path):
        """A chain of 16 ops on 1 MiB tensors peaks at a few tensors' memory, not the chain's."""
        x = np.ones((1, 64, 64, 64), np.float32)

        def make(mb, a):
            y = a
            for i in range(16):
                y = mb.add(x=mb.relu(x=y), y=np.float32(i))
            return y

        program = MILProgram(_mil.one_op(tmp_path, make, [x]))
        program.run({"x0": x})
        tracemalloc.start()
        (out,) = program.run({"x0": x}).values()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        np.testing.assert_array_equal(out, np.full_like(x, sum(range(16)) + 1))
        assert peak < 6 * x.nbytes


class TestClassifierAndPreprocessing:
    def test_classify_returns_probabilities_in_label_order_and_labels(self, tmp_path):
        """An image classifier (scale, per-channel bias, BGR) returns (B, classes) probabilities and labels."""
        import coremltools as ct

        rng = np.random.default_rng(5)
        w = _rand(rng, 3, 3, 1, 1)

        def body(x):
            mb = _mb()
            y = mb.reduce_mean(x=mb.conv(x=x, weight=w, pad_type="valid"), axes=[2, 3], keep_dims=False)
            return mb.softmax(x=y, axis=-1)

        bias = [0.1, -0.2, 0.3]
        model = _mil.convert(
            _program(body, (1, 3, 4, 4)), tmp_path,
            inputs=[ct.ImageType(name="x0", shape=(1, 3, 4, 4), scale=1 / 255, bias=bias, color_layout=ct.colorlayout.BGR)],
            classifier_config=ct.ClassifierConfig(["cat", "dog", "eel"]),
        )
        program = _mil.program(model)
        assert program.batched, getattr(program, "batch_reason", "")
        pixels = rng.integers(0, 256, size=(2, 3, 4, 4)).astype(np.float32)
        out = program.run({"x0": pixels})
        probabilities = out[model.spec.description.predictedProbabilitiesName]
        labels = out[model.spec.description.predictedFeatureName]
        pre = pixels / 255 + np.float32(bias).reshape(1, 3, 1, 1)
        logits = np.einsum("oc,bchw->bo", w[:, :, 0, 0], pre) / 16
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        want = e / e.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(probabilities, want, rtol=1e-5)
        assert list(labels) == [["cat", "dog", "eel"][i] for i in want.argmax(axis=1)]


def _compressions():
    """(name, target, optimization config) for each compressed form coremltools writes."""
    import coremltools as ct
    import coremltools.optimize.coreml as cto

    return {
        "affine_iOS16": (ct.target.iOS16, cto.OpLinearQuantizerConfig(weight_threshold=0)),
        "lut_iOS16": (ct.target.iOS16, cto.OpPalettizerConfig(nbits=4, weight_threshold=0)),
        "blockwise_iOS18": (
            ct.target.iOS18,
            cto.OpLinearQuantizerConfig(
                dtype="int4", granularity="per_block", block_size=4, weight_threshold=0
            ),
        ),
        "grouped_lut_iOS18": (
            ct.target.iOS18,
            cto.OpPalettizerConfig(nbits=2, granularity="per_grouped_channel", group_size=4, weight_threshold=0),
        ),
    }


class TestConstexpr:
    @pytest.mark.parametrize("form", ["affine_iOS16", "lut_iOS16", "blockwise_iOS18", "grouped_lut_iOS18"])
    def test_compressed_weights_run_dequantized(self, tmp_path, form):
        """Weights stored as constexpr ops run as coremltools dequantizes them (affine, LUT, per block, grouped LUT)."""
        import warnings

        import coremltools as ct
        import coremltools.optimize.coreml as cto
        from coremltools.converters.mil.frontend.milproto import load as milproto

        import mlquant

        target, op_config = _compressions()[form]
        rng = np.random.default_rng(6)
        w = _rand(rng, 8, 8, 3, 3)

        def body(x):
            return _mb().conv(x=x, weight=w, pad_type="valid")

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mlmodel = ct.convert(
                _mil._program([_spec((1, 8, 5, 5))], target, body), convert_to="mlprogram",
                compute_precision=ct.precision.FLOAT32, minimum_deployment_target=target,
            )
            compress = cto.palettize_weights if "lut" in form else cto.linear_quantize_weights
            compressed = compress(mlmodel, cto.OptimizationConfig(global_config=op_config))
        path = tmp_path / "compressed.mlpackage"
        compressed.save(str(path))
        model = mlquant.load(path)
        assert any(t.startswith("constexpr_") for t in _mil.op_types(model))
        spec = compressed.get_spec()
        loaded = milproto.load(spec, spec.specificationVersion, compressed.weights_dir)
        conv = next(op for op in loaded.functions["main"].operations if op.op_type == "conv")
        weight_op = conv.weight.op
        dequantized = np.asarray(
            weight_op.materialized_val_inference() if weight_op.op_type.startswith("constexpr_") else weight_op.val.val,
            dtype=np.float32,
        )
        assert not np.array_equal(dequantized, w)
        x = _rand(rng, 2, 8, 5, 5)
        (got,) = _mil.program(model).run({"x0": x}).values()
        want = run_node("Conv", {"x": x}, {}, constants={"w": dequantized})[0]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


class TestInputLayouts:
    def test_input_without_a_leading_one_takes_an_extra_batch_axis(self, tmp_path):
        """An input declared (4, 6) takes (B, 4, 6) feeds; each item runs as the program declares it."""
        x = _rand(np.random.default_rng(7), 4, 6)
        program = _mil.program(_mil.one_op(tmp_path, lambda mb, a: mb.softmax(x=a, axis=0), [x]))
        batch = _rand(np.random.default_rng(8), 3, 4, 6)
        (got,) = program.run({"x0": batch}).values()
        e = np.exp(batch - batch.max(axis=1, keepdims=True))
        np.testing.assert_allclose(got, e / e.sum(axis=1, keepdims=True), rtol=1e-6)

    def test_flexible_batch_runs_natively(self, tmp_path):
        """A program converted with a flexible leading axis runs any batch in one pass."""
        import coremltools as ct
        from coremltools.converters.mil import Builder as mb
        from coremltools.converters.mil.mil import get_new_symbol

        w = _rand(np.random.default_rng(9), 2, 3, 3, 3)

        @mb.program(input_specs=[mb.TensorSpec(shape=(get_new_symbol(), 3, 5, 5))], opset_version=ct.target.iOS16)
        def program(x):
            return mb.relu(x=mb.conv(x=x, weight=w, pad_type="same"))

        model = _mil.convert(
            program, tmp_path, inputs=[ct.TensorType(name="x", shape=(ct.RangeDim(1, 16), 3, 5, 5))]
        )
        runner = _mil.program(model)
        assert runner.batched
        x = _rand(np.random.default_rng(10), 5, 3, 5, 5)
        (got,) = runner.run({"x": x}).values()
        want = np.maximum(run_node("Conv", {"x": x}, {"pads": [1, 1, 1, 1]}, constants={"w": w})[0], 0)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
