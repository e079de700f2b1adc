"""Conformance of the ML Program runtime with PyTorch on torchvision's architectures.

Each architecture, with random weights (nothing is downloaded), is traced, converted by
``ct.convert`` to an ML Program (float32 and float16 compute, iOS16), loaded with
:func:`mlquant.load` and run by :class:`mlquant.runtime.MILProgram`; its outputs are compared
with PyTorch's on the same inputs: top-1 agreement and the largest error relative to the
largest output magnitude.

PyTorch's wheels are several GB here, so this suite is not part of CI: it skips without
torchvision, and ``nox -s conformance`` installs what it needs and runs it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mlquant
from mlquant.runtime import MILProgram

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

#: Architecture -> input side. The families issue 11 names: ResNet, MobileNetV2/V3, EfficientNet,
#: RegNet, ShuffleNet, SqueezeNet, DenseNet, ConvNeXt, ViT and Swin.
ARCHITECTURES = {
    "resnet18": 224,
    "mobilenet_v2": 224,
    "mobilenet_v3_small": 224,
    "efficientnet_b0": 224,
    "regnet_y_400mf": 224,
    "shufflenet_v2_x0_5": 224,
    "squeezenet1_1": 224,
    "densenet121": 224,
    "convnext_tiny": 224,
    "vit_b_16": 224,
    "swin_t": 224,
}
INPUTS = 8
FIGURES: list[str] = []


def _convert(name: str, side: int, precision: str, folder: Path) -> tuple[mlquant.Model, np.ndarray, np.ndarray]:
    import coremltools as ct

    torch.manual_seed(0)
    network = getattr(torchvision.models, name)(weights=None).eval()
    images = torch.randn(INPUTS, 3, side, side)
    with torch.no_grad():
        expected = network(images).numpy()
        traced = torch.jit.trace(network, images[:1])
    mlmodel = ct.convert(
        traced,
        inputs=[ct.TensorType(name="image", shape=(1, 3, side, side))],
        convert_to="mlprogram",
        minimum_deployment_target=ct.target.iOS16,
        compute_precision=ct.precision.FLOAT32 if precision == "float32" else ct.precision.FLOAT16,
        skip_model_load=True,
    )
    path = folder / f"{name}-{precision}.mlpackage"
    mlmodel.save(str(path))
    return mlquant.load(path), images.numpy(), expected


@pytest.fixture(scope="module", autouse=True)
def _report() -> object:
    yield
    print("\n" + "\n".join(["architecture        precision  top-1 agreement  max relative error", *FIGURES]))


@pytest.mark.parametrize("precision", ["float32", "float16"])
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_runtime_matches_pytorch(name: str, precision: str, tmp_path: Path) -> None:
    model, images, expected = _convert(name, ARCHITECTURES[name], precision, tmp_path)
    program = MILProgram(model, precision="program")
    feed = program.input_names[0]
    got = program.run({feed: images})[program.output_names[0]].reshape(expected.shape)
    agreement = float(np.mean(got.argmax(axis=1) == expected.argmax(axis=1)))
    error = float(np.abs(got - expected).max() / np.abs(expected).max())
    FIGURES.append(f"{name:<20}{precision:<11}{agreement:>15.0%}{error:>20.2e}")
    if precision == "float32":
        assert error < 1e-3 and agreement == 1.0
    else:
        assert error < 0.1
