"""Whole networks in the shapes the converter produces: the ML Program runtime (and its ONNX translation)
against onnxruntime.

Each network is built twice from the same weights (:mod:`._twin`): as a MIL program converted by
``ct.convert`` (float32, iOS16, the default graph passes: conv and batch norm fused, and so on)
and as an ONNX graph. The runtime's float32 outputs must equal onnxruntime's within 1e-4 relative.
"""

from __future__ import annotations

import numpy as np
import pytest

from . import _mil, _networks, _twin
from ._runtime_onnx import session

NETWORKS = {
    "residual": (_networks.residual_net, (1, 3, 32, 32)),
    "separable": (_networks.separable_net, (1, 3, 32, 32)),
    "squeeze_excitation": (_networks.se_net, (1, 3, 24, 24)),
    "vit": (_networks.vit_net, (1, 3, 16, 16)),
}


@pytest.fixture(scope="session")
def twins(tmp_path_factory):
    """Every network converted once per session: name -> (model, onnx session, input shape)."""
    folder = tmp_path_factory.mktemp("twins")
    built = {}
    for seed, (name, (net, shape)) in enumerate(NETWORKS.items()):
        model = _mil.convert(_twin.mil_program(net, shape, seed), folder)
        built[name] = (model, session(_twin.onnx_model(net, shape, seed)), shape)
    return built


@pytest.mark.parametrize("name", list(NETWORKS))
class TestNetworks:
    def test_float32_equals_onnxruntime(self, twins, name):
        """A batch of three through the runtime (float32) equals onnxruntime within 1e-4 relative."""
        model, reference, shape = twins[name]
        program = _mil.program(model, "float32")
        x = np.random.default_rng(0).standard_normal((3, *shape[1:])).astype(np.float32)
        (out,) = program.run({program.input_names[0]: x}).values()
        want = reference.run(["y"], {"x": x})[0]
        assert out.shape == want.shape
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-6 * np.abs(want).max())

    def test_batch_runs_in_one_pass_and_matches_items(self, twins, name):
        """The program runs a batch along axis 0, and each item's result equals running it alone."""
        model, _, shape = twins[name]
        program = _mil.program(model, "float32")
        assert program.batched, getattr(program, "batch_reason", "")
        x = np.random.default_rng(1).standard_normal((4, *shape[1:])).astype(np.float32)
        name_in = program.input_names[0]
        (batch,) = program.run({name_in: x}).values()
        items = np.concatenate([next(iter(program.run({name_in: x[i : i + 1]}).values())) for i in range(4)])
        np.testing.assert_allclose(batch, items, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("target", ["iOS15", "iOS17", "iOS18"])
def test_fp16_programs_of_every_target_agree_with_onnxruntime(tmp_path, target):
    """The vit and separable networks converted with fp16 compute for iOS15, iOS17 and iOS18 targets run
    in the program's precision within fp16 error of onnxruntime's float32 result, with the same top-1."""
    import coremltools as ct

    for seed, name in enumerate(("vit", "separable")):
        net, shape = NETWORKS[name]
        version = getattr(ct.target, target)
        program = _twin.mil_program(net, shape, seed, target=version)
        model = _mil.convert(program, tmp_path, precision="float16", target=version)
        runner = _mil.program(model)
        x = np.random.default_rng(seed).standard_normal((4, *shape[1:])).astype(np.float32)
        (out,) = runner.run({runner.input_names[0]: x}).values()
        want = session(_twin.onnx_model(net, shape, seed)).run(["y"], {"x": x})[0]
        np.testing.assert_allclose(out, want, rtol=0, atol=3e-2 * np.abs(want).max())
        np.testing.assert_array_equal(out.argmax(axis=1), want.argmax(axis=1))
