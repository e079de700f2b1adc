"""The ML Program runtime's normalization, reduction, dense and resampling kernels, against onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from . import _mil
from ._runtime_onnx import run_node

TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}


def _rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _one(tmp_path, make, *inputs):
    return _mil.run(_mil.one_op(tmp_path, make, list(inputs)), list(inputs))


def _matches_onnx_linear_resize(tmp_path, make, x, sizes, transform):
    """The one-op program ``make(mb, x)`` equals ONNX Resize, linear in the ``transform`` coordinate mode, to ``sizes``."""
    (got,) = _one(tmp_path, make, x)
    attributes = {"mode": "linear", "coordinate_transformation_mode": transform}
    constants = {"sizes": np.int64(sizes)}
    want = run_node("Resize", {"x": x}, attributes, constants=constants, order=["x", "", "", "sizes"])[0]
    np.testing.assert_allclose(got, want, **TOLERANCE)


class TestNormalization:
    def test_batch_norm_matches_onnx(self, tmp_path):
        """batch_norm equals ONNX BatchNormalization in inference mode."""
        rng = np.random.default_rng(0)
        x = _rand(rng, 1, 4, 3, 5)
        mean, var, gamma, beta = _rand(rng, 4), np.abs(_rand(rng, 4)) + 0.1, _rand(rng, 4), _rand(rng, 4)
        (got,) = _one(
            tmp_path,
            lambda mb, a: mb.batch_norm(x=a, mean=mean, variance=var, gamma=gamma, beta=beta, epsilon=np.float32(1e-3)),
            x,
        )
        constants = {"scale": gamma, "bias": beta, "mean": mean, "var": var}
        want = run_node("BatchNormalization", {"x": x}, {"epsilon": 1e-3}, constants=constants)[0]
        np.testing.assert_allclose(got, want, **TOLERANCE)

    def test_instance_norm_matches_onnx(self, tmp_path):
        """instance_norm normalizes each channel of each item over height and width."""
        rng = np.random.default_rng(1)
        x, gamma, beta = _rand(rng, 1, 3, 4, 5) * 3 + 1, _rand(rng, 3), _rand(rng, 3)
        (got,) = _one(tmp_path, lambda mb, a: mb.instance_norm(x=a, gamma=gamma, beta=beta, epsilon=np.float32(1e-5)), x)
        want = run_node("InstanceNormalization", {"x": x}, {"epsilon": 1e-5}, constants={"s": gamma, "b": beta})[0]
        np.testing.assert_allclose(got, want, **TOLERANCE)

    @pytest.mark.parametrize("axes", [[-1], [2, 3]])
    def test_layer_norm_matches_onnx(self, tmp_path, axes):
        """layer_norm over the trailing axes with gamma and beta equals ONNX LayerNormalization."""
        rng = np.random.default_rng(2)
        x = _rand(rng, 1, 2, 3, 8) * 2 + 0.5
        shape = x.shape[axes[0] :]
        gamma, beta = _rand(rng, *shape), _rand(rng, *shape)
        (got,) = _one(tmp_path, lambda mb, a: mb.layer_norm(x=a, axes=axes, gamma=gamma, beta=beta, epsilon=np.float32(1e-5)), x)
        want = run_node("LayerNormalization", {"x": x}, {"axis": axes[0], "epsilon": 1e-5}, constants={"g": gamma, "b": beta})[0]
        np.testing.assert_allclose(got, want, **TOLERANCE)

    def test_l2_norm_divides_by_the_norm_of_the_last_three_axes(self, tmp_path):
        """l2_norm divides each item by sqrt(sum of squares + epsilon) over its last three axes."""
        rng = np.random.default_rng(3)
        x = _rand(rng, 1, 3, 2, 4)
        (got,) = _one(tmp_path, lambda mb, a: mb.l2_norm(x=a, epsilon=np.float32(1e-6)), x)
        want = x / np.sqrt(np.square(x).sum(axis=(1, 2, 3), keepdims=True) + 1e-6)
        np.testing.assert_allclose(got, want, **TOLERANCE)

    def test_local_response_norm_matches_onnx(self, tmp_path):
        """local_response_norm across channels equals ONNX LRN."""
        rng = np.random.default_rng(4)
        x = _rand(rng, 1, 6, 3, 3)
        (got,) = _one(
            tmp_path,
            lambda mb, a: mb.local_response_norm(x=a, size=3, alpha=np.float32(1e-2), beta=np.float32(0.75), k=np.float32(2.0)),
            x,
        )
        want = run_node("LRN", {"x": x}, {"size": 3, "alpha": 1e-2, "beta": 0.75, "bias": 2.0})[0]
        np.testing.assert_allclose(got, want, **TOLERANCE)


class TestReduce:
    @pytest.mark.parametrize(
        ("op", "onnx"),
        [
            ("reduce_mean", "ReduceMean"),
            ("reduce_sum", "ReduceSum"),
            ("reduce_max", "ReduceMax"),
            ("reduce_min", "ReduceMin"),
            ("reduce_prod", "ReduceProd"),
            ("reduce_l1_norm", "ReduceL1"),
            ("reduce_l2_norm", "ReduceL2"),
            ("reduce_sum_square", "ReduceSumSquare"),
            ("reduce_log_sum_exp", "ReduceLogSumExp"),
        ],
    )
    @pytest.mark.parametrize(("axes", "keep"), [([2, 3], False), ([-1], True)])
    def test_matches_onnx(self, tmp_path, op, onnx, axes, keep):
        """Each reduction over axes, keeping or dropping them, equals its ONNX operator."""
        rng = np.random.default_rng(5)
        x = _rand(rng, 1, 3, 4, 5) * 0.5 + 1
        (got,) = _one(tmp_path, lambda mb, a: getattr(mb, op)(x=a, axes=axes, keep_dims=keep), x)
        want = run_node(onnx, {"x": x}, {"keepdims": int(keep)}, constants={"axes": np.int64(axes)})[0]
        np.testing.assert_allclose(got, want, **TOLERANCE)

    def test_argmax(self, tmp_path):
        """reduce_argmax gives int32 indices of the largest value along an axis."""
        rng = np.random.default_rng(6)
        x = _rand(rng, 1, 3, 7)
        (got,) = _one(tmp_path, lambda mb, a: mb.reduce_argmax(x=a, axis=-1, keep_dims=False), x)
        np.testing.assert_array_equal(got, np.argmax(x, axis=-1))


class TestDense:
    def test_linear_matches_onnx_gemm(self, tmp_path):
        """linear is x @ weight.T + bias over the last axis, also for rank-3 inputs."""
        rng = np.random.default_rng(7)
        x, w, b = _rand(rng, 1, 5, 8), _rand(rng, 6, 8), _rand(rng, 6)
        (got,) = _one(tmp_path, lambda mb, a: mb.linear(x=a, weight=w, bias=b), x)
        want = run_node("Gemm", {"x": x[0]}, {"transB": 1}, constants={"w": w, "b": b})[0]
        np.testing.assert_allclose(got[0], want, **TOLERANCE)

    @pytest.mark.parametrize(("tx", "ty"), [(False, False), (True, False), (False, True), (True, True)])
    def test_matmul_with_transposes_matches_onnx(self, tmp_path, tx, ty):
        """matmul with transpose_x/transpose_y and a broadcast batch axis equals ONNX MatMul of the transposes."""
        rng = np.random.default_rng(8)
        x = _rand(rng, 1, 2, *((5, 4) if tx else (4, 5)))
        y = _rand(rng, 2, *((3, 5) if ty else (5, 3)))
        (got,) = _one(tmp_path, lambda mb, a, b: mb.matmul(x=a, y=b, transpose_x=tx, transpose_y=ty), x, y)
        xs = np.swapaxes(x, -1, -2) if tx else x
        ys = np.swapaxes(y, -1, -2) if ty else y
        want = run_node("MatMul", {"a": np.ascontiguousarray(xs), "b": np.ascontiguousarray(ys)})[0]
        np.testing.assert_allclose(got, want, **TOLERANCE)

    @pytest.mark.parametrize(
        ("equation", "a_shape", "b_shape"),
        [("nchw,nwhu->nchu", (1, 2, 3, 4), (1, 4, 3, 5)), ("abcd,adce->abce", (1, 2, 3, 4), (1, 4, 3, 5))],
    )
    def test_einsum_matches_onnx(self, tmp_path, equation, a_shape, b_shape):
        """einsum in the patterns the converter emits equals ONNX Einsum."""
        rng = np.random.default_rng(9)
        a, b = _rand(rng, *a_shape), _rand(rng, *b_shape)
        (got,) = _one(tmp_path, lambda mb, p, q: mb.einsum(values=(p, q), equation=equation), a, b)
        want = run_node("Einsum", {"a": a, "b": b}, {"equation": equation})[0]
        np.testing.assert_allclose(got, want, **TOLERANCE)


    @pytest.mark.parametrize("mask", [None, "bool", "float"])
    def test_scaled_dot_product_attention(self, tmp_path, mask):
        """scaled_dot_product_attention (iOS18) is softmax(Q K^T / sqrt(E) + mask) V, a bool mask dropping scores."""
        import coremltools as ct

        rng = np.random.default_rng(12)
        q, k, v = _rand(rng, 1, 2, 3, 4), _rand(rng, 1, 2, 5, 4), _rand(rng, 1, 2, 5, 6)
        masks = {"bool": rng.random((3, 5)) > 0.3, "float": _rand(rng, 3, 5)}
        m = masks.get(mask)
        if m is not None and m.dtype == bool:
            m[:, 0] = True

        def make(mb, a, b, c):
            extra = {} if m is None else {"attn_mask": m}
            return mb.scaled_dot_product_attention(query=a, key=b, value=c, **extra)

        model = _mil.one_op(tmp_path, make, [q, k, v], target=ct.target.iOS18)
        (got,) = _mil.run(model, [q, k, v])
        scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(4)
        if m is not None:
            scores = np.where(m, scores, -np.inf) if m.dtype == bool else scores + m
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
        np.testing.assert_allclose(got, (e / e.sum(axis=-1, keepdims=True)) @ v, **TOLERANCE)


class TestResize:
    @pytest.mark.parametrize("scale", [2, 3])
    def test_upsample_nearest_matches_onnx(self, tmp_path, scale):
        """upsample_nearest_neighbor repeats pixels as ONNX Resize (nearest, asymmetric, floor) does."""
        x = np.arange(1 * 2 * 3 * 4, dtype=np.float32).reshape(1, 2, 3, 4)
        (got,) = _one(
            tmp_path, lambda mb, a: mb.upsample_nearest_neighbor(x=a, scale_factor_height=scale, scale_factor_width=2), x
        )
        attributes = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
        scales = np.float32([1, 1, scale, 2])
        want = run_node("Resize", {"x": x}, attributes, constants={"scales": scales}, order=["x", "", "scales"])[0]
        np.testing.assert_array_equal(got, want)

    @pytest.mark.parametrize(("align", "mode"), [(True, "align_corners"), (False, "half_pixel")])
    def test_upsample_bilinear_matches_onnx(self, tmp_path, align, mode):
        """upsample_bilinear with and without align_corners equals ONNX Resize (linear) in the matching mode."""
        rng = np.random.default_rng(10)
        make = lambda mb, a: mb.upsample_bilinear(x=a, scale_factor_height=2, scale_factor_width=3, align_corners=align)
        _matches_onnx_linear_resize(tmp_path, make, _rand(rng, 1, 2, 3, 4), [1, 2, 6, 12], mode)

    @pytest.mark.parametrize(
        ("sampling", "onnx_mode"), [("STRICT_ALIGN_CORNERS", "align_corners"), ("DEFAULT", "asymmetric"), ("UNALIGN_CORNERS", "half_pixel")]
    )
    def test_resize_bilinear_matches_onnx(self, tmp_path, sampling, onnx_mode):
        """resize_bilinear to a target size in each sampling mode equals ONNX Resize in the matching mode."""
        rng = np.random.default_rng(11)
        make = lambda mb, a: mb.resize_bilinear(x=a, target_size_height=7, target_size_width=3, sampling_mode=sampling)
        _matches_onnx_linear_resize(tmp_path, make, _rand(rng, 1, 2, 4, 6), [1, 2, 7, 3], onnx_mode)
