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


def _network(name: str) -> object:
    """The architecture with random weights; tensors torchvision starts at zero (a ViT's head) drawn too."""
    torch.manual_seed(0)
    network = getattr(torchvision.models, name)(weights=None).eval()
    with torch.no_grad():
        for parameter in network.parameters():
            if parameter.ndim >= 2 and not parameter.any():
                parameter.normal_(0.0, 0.02)
    return network


def _convert(name: str, side: int, precision: str, folder: Path) -> tuple[mlquant.Model, np.ndarray, np.ndarray]:
    """Convert with TorchScript tracing, or torch.export where coremltools cannot read the trace."""
    import coremltools as ct

    network = _network(name)
    images = torch.randn(INPUTS, 3, side, side)
    with torch.no_grad():
        expected = network(images).numpy()
    options = {
        "inputs": [ct.TensorType(name="image", shape=(1, 3, side, side))],
        "convert_to": "mlprogram",
        "minimum_deployment_target": ct.target.iOS16,
        "compute_precision": ct.precision.FLOAT32 if precision == "float32" else ct.precision.FLOAT16,
        "skip_model_load": True,
    }
    failures = []
    for route in ("trace", "export"):
        try:
            with torch.no_grad():
                if route == "trace":
                    source = torch.jit.trace(network, images[:1])
                else:
                    source = torch.export.export(network, (images[:1],)).run_decompositions({})
            mlmodel = ct.convert(source, **options)
            break
        except Exception as error:  # coremltools' torch frontends raise many kinds
            failures.append(f"{route}: {type(error).__name__}: {str(error).splitlines()[0][:120]}")
    else:
        FIGURES.append(f"{name:<20}{precision:<11}  coremltools cannot convert it ({'; '.join(failures)})")
        pytest.skip(f"coremltools cannot convert {name}: {failures}")
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
    largest = float(np.abs(expected).max())
    if precision == "float16" and largest < 1e-2:
        FIGURES.append(f"{name:<20}{precision:<11}  outputs up to {largest:.1e}: near or below fp16's range, not compared")
        pytest.skip(f"{name}'s random-weight outputs (up to {largest:.1e}) are too small for fp16")
    agreement = float(np.mean(got.argmax(axis=1) == expected.argmax(axis=1)))
    error = float(np.abs(got - expected).max() / largest)
    FIGURES.append(f"{name:<20}{precision:<11}{agreement:>15.0%}{error:>20.2e}")
    if precision == "float32":
        assert error < 1e-3 and agreement == 1.0
    else:
        assert error < 0.1
