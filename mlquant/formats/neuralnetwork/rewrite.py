"""Exact rewrites that make more of a model quantizable.

A NeuralNetwork model trained with a mean image (Caffe-era models such as the food
SqueezeNet) stores it in the image input's preprocessing as float32 values: 154,587 of them,
0.6 MB that no weight quantization can touch. :func:`move_mean_image` moves it into a
``bias`` layer at the front of the network, which computes the same thing (Core ML subtracts
the mean image; the bias layer adds its negation, which in IEEE arithmetic is the same
operation, bit for bit), and whose values are an ordinary weight: float16, or a look-up table,
which for integer-valued mean images is exact at 8 bits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import UnsupportedModelError
from . import layout

__all__ = ["MEAN_IMAGE_LAYER", "move_mean_image"]

#: The bias layer that :func:`move_mean_image` adds, followed by the input's name.
MEAN_IMAGE_LAYER = "mlquant_mean_image"


def move_mean_image(spec: Any) -> Any:
    """Return a copy of ``spec`` whose mean image is a ``bias`` layer instead of preprocessing.

    Each image input with a ``meanImage`` preprocessor gets a bias layer named
    ``mlquant_mean_image_<input>`` holding the negated mean image, shape ``[C, H, W]``; every
    layer that read the input now reads the bias layer's output. A spec without a mean image
    is returned as it is.

    Raises:
        UnsupportedModelError: The model is a pipeline (its inner models' inputs are not the
            file's inputs, so the rewrite is not attempted).
    """
    if spec.WhichOneof("Type") in layout.PIPELINE_TYPES:
        msg = "the mean-image rewrite works on a single neural network, not a pipeline"
        raise UnsupportedModelError(msg)
    if not any(p.HasField("meanImage") for p in layout.networks(spec)[0].preprocessing):
        return spec
    original, spec = spec, type(spec)()
    spec.CopyFrom(original)
    network = layout.networks(spec)[0]
    shapes = {f.name: f.type.imageType for f in spec.description.input if f.type.WhichOneof("Type") == "imageType"}
    kept = []
    for pre in network.preprocessing:
        if not pre.HasField("meanImage"):
            kept.append(pre)
            continue
        image = shapes[pre.featureName]
        channels = 1 if image.colorSpace in (10, 40) else 3
        mean = np.asarray(pre.meanImage.meanImage, dtype=np.float32)
        _insert_bias(network, pre.featureName, -mean, (channels, int(image.height), int(image.width)))
    del network.preprocessing[:]
    network.preprocessing.extend(kept)
    return spec


def _insert_bias(network: Any, feature: str, values: np.ndarray, shape: tuple[int, int, int]) -> None:
    output = f"{feature}__minus_mean_image"
    layers = []
    for old in network.layers:
        layer = type(old)()
        layer.CopyFrom(old)
        layer.input[:] = [output if blob == feature else blob for blob in layer.input]
        layers.append(layer)
    del network.layers[:]
    bias = network.layers.add()
    bias.name = f"{MEAN_IMAGE_LAYER}_{feature}"
    bias.input.append(feature)
    bias.output.append(output)
    bias.bias.shape.extend(shape)
    bias.bias.bias.floatValue.extend(values)
    network.layers.extend(layers)
