"""A network's inputs and outputs: feeds to rank-5 arrays (with preprocessing), blobs to results.

Feeds are batch first: an image input takes ``(B, C, H, W)`` raw pixel values (0-255) in the
channel order the model declares; a multi-array input of declared shape ``[C]`` or
``[C, H, W]`` takes ``(B, C)`` or ``(B, C, H, W)``. Inside the network every array is
``(S, B, C, H, W)`` with ``S = 1``. Results are batch first as well.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from ...errors import DataError, InvalidModelError, UnsupportedModelError

_GRAYSCALE, _RGB, _BGR, _GRAYSCALE_FLOAT16 = 10, 20, 30, 40


@attrs.frozen
class InputPlan:
    """How one feed becomes the network's rank-5 input array."""

    name: str
    """The input's name."""
    shape: tuple[int, ...]
    """The feed's shape after the batch axis; ``-1`` where the size may vary."""
    scale: np.ndarray | None = attrs.field(default=None, eq=False, repr=False)
    """Per-channel ``(C, 1, 1)`` multiplier of the image scaler, if any."""
    bias: np.ndarray | None = attrs.field(default=None, eq=False, repr=False)
    """Per-channel ``(C, 1, 1)`` bias of the image scaler, if any."""
    mean: np.ndarray | None = attrs.field(default=None, eq=False, repr=False)
    """The ``(C, H, W)`` mean image to subtract, if any."""

    def check(self, feed: Any) -> np.ndarray:
        """Return a feed as a float32 array after checking its shape (a view when it already is one).

        Raises:
            DataError: The feed is not an array of the input's shape.
        """
        try:
            x = np.asarray(feed, dtype=np.float32)
        except (TypeError, ValueError) as error:
            msg = f"input '{self.name}': expected a float array (got {type(feed).__name__}: {error})"
            raise DataError(msg) from None
        wanted = ("B", *(str(n) if n >= 0 else "*" for n in self.shape))
        fits = x.ndim == len(self.shape) + 1 and all(
            n < 0 or n == got for n, got in zip(self.shape, x.shape[1:], strict=False)
        )
        if not fits or x.shape[0] < 1:
            msg = f"input '{self.name}': expected shape ({', '.join(wanted)}) (got {x.shape})"
            raise DataError(msg)
        if self.mean is not None and x.shape[1:] != self.mean.shape:
            msg = f"input '{self.name}': the mean image is {self.mean.shape}, the feed {x.shape[1:]}"
            raise DataError(msg)
        return x

    def prepare(self, x: np.ndarray, float16: bool) -> np.ndarray:
        """Preprocess a checked feed into the network's ``(1, B, C, H, W)`` input.

        Preprocessed images are written channels-last in memory (what convolution reads).
        """
        b = x.shape[0]
        if x.ndim == 2:
            return _round(x.reshape(1, b, -1, 1, 1), float16)
        if self.scale is None and self.mean is None:
            return _round(x.reshape(1, *x.shape), float16)
        if self.scale is not None:
            x = x * self.scale + self.bias
        if self.mean is not None:
            x = x - self.mean
        out = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        return _round(out.transpose(0, 3, 1, 2).reshape(1, *x.shape), float16)


def _round(x: np.ndarray, float16: bool) -> np.ndarray:
    return x.astype(np.float16).astype(np.float32) if float16 else x


def input_plans(description: Any, network: Any) -> tuple[InputPlan, ...]:
    """One :class:`InputPlan` per model input, with the network's preprocessing attached.

    Raises:
        UnsupportedModelError: An input is neither an image nor a rank 1 or 3 multi-array.
        InvalidModelError: The preprocessing contradicts the inputs.
    """
    plans = []
    images = [f.name for f in description.input if f.type.WhichOneof("Type") == "imageType"]
    for feature in description.input:
        kind = feature.type.WhichOneof("Type")
        if kind == "imageType":
            plans.append(_image_plan(feature, network, images))
        elif kind == "multiArrayType":
            shape = tuple(int(n) for n in feature.type.multiArrayType.shape)
            if len(shape) not in (1, 3):
                msg = (
                    f"input '{feature.name}' is a rank-{len(shape)} multi-array {list(shape)}; the "
                    "reference runtime takes images and multi-arrays of shape [C] or [C, H, W]"
                )
                raise UnsupportedModelError(msg)
            flexible = feature.type.multiArrayType.WhichOneof("ShapeFlexibility") is not None
            plans.append(InputPlan(feature.name, tuple(-1 if flexible else n for n in shape)))
        else:
            msg = f"input '{feature.name}' is of type {kind}; the reference runtime takes images and multi-arrays"
            raise UnsupportedModelError(msg)
    return tuple(plans)


def _image_plan(feature: Any, network: Any, images: Sequence[str]) -> InputPlan:
    image = feature.type.imageType
    space = int(image.colorSpace)
    if space not in (_GRAYSCALE, _RGB, _BGR, _GRAYSCALE_FLOAT16):
        msg = f"input '{feature.name}': unknown image color space {space}"
        raise InvalidModelError(msg)
    channels = 3 if space in (_RGB, _BGR) else 1
    flexible = image.WhichOneof("SizeFlexibility") is not None
    shape = (channels, -1, -1) if flexible else (channels, int(image.height), int(image.width))
    plan = InputPlan(feature.name, shape)
    for step in network.preprocessing:
        target = step.featureName or (images[0] if len(images) == 1 else "")
        if target != feature.name:
            continue
        kind = step.WhichOneof("preprocessor")
        if kind == "scaler":
            s = step.scaler
            biases = {_RGB: (s.redBias, s.greenBias, s.blueBias), _BGR: (s.blueBias, s.greenBias, s.redBias)}
            bias = biases.get(space, (s.grayBias,))
            plan = attrs.evolve(
                plan,
                scale=np.full((channels, 1, 1), s.channelScale, np.float32),
                bias=np.asarray(bias, np.float32).reshape(channels, 1, 1),
            )
        elif kind == "meanImage":
            values = np.asarray(step.meanImage.meanImage, dtype=np.float32)
            size = channels * image.height * image.width
            if flexible or values.size != size:
                msg = (
                    f"input '{feature.name}': the mean image has {values.size} values; a "
                    f"{channels}x{image.height}x{image.width} image needs {size}"
                )
                raise InvalidModelError(msg)
            plan = attrs.evolve(plan, mean=values.reshape(channels, image.height, image.width))
    return plan


@attrs.frozen
class OutputPlan:
    """How one blob becomes one of :meth:`Network.run`'s results."""

    name: str
    """The result's name (a model output)."""
    blob: str
    """The blob that holds it."""
    classes: int | None = None
    """For a classifier's probabilities, the number of class labels; else None."""
    shape: tuple[int, ...] | None = None
    """The declared multi-array shape, if any."""

    def format(self, y: np.ndarray) -> np.ndarray:
        """Turn an ``(S, B, C, H, W)`` blob into a batch-first result (a new array).

        Probabilities become ``(B, classes)``; other blobs ``(B, *declared shape)`` when the
        sizes agree, else ``(B, C, H, W)``; with a sequence longer than 1, ``(B, S, C, H, W)``.

        Raises:
            InvalidModelError: The probabilities do not hold one value per class label.
        """
        s, b = y.shape[:2]
        if self.classes is not None:
            flat = y.transpose(1, 0, 2, 3, 4).reshape(b, -1)
            if flat.shape[1] != self.classes:
                msg = (
                    f"output '{self.name}': the blob '{self.blob}' holds {flat.shape[1]} values per "
                    f"item for {self.classes} class labels"
                )
                raise InvalidModelError(msg)
            return np.array(flat, dtype=np.float32)
        if s != 1:
            return np.array(y.transpose(1, 0, 2, 3, 4), dtype=np.float32)
        item = y[0]
        if self.shape and math.prod(self.shape) == item[0].size and item[0].shape != self.shape:
            return np.array(item.reshape(b, *self.shape), dtype=np.float32)
        return np.array(item, dtype=np.float32)


def output_plans(
    description: Any, network: Any, kind: str, produced: Sequence[str]
) -> tuple[OutputPlan, ...]:
    """One :class:`OutputPlan` per model output that the network computes.

    A classifier's probabilities come from ``labelProbabilityLayerName``, else from the blob
    named like the probabilities output, else from the last layer's output; its predicted
    label is not a blob and is left out, like any output no layer produces.
    """
    plans = []
    labels = None
    if kind == "neuralNetworkClassifier":
        which = network.WhichOneof("ClassLabels")
        labels = len(getattr(network, which).vector) if which else None
    probabilities = description.predictedProbabilitiesName
    for feature in description.output:
        if labels is not None and feature.name == probabilities:
            blob = network.labelProbabilityLayerName or feature.name
            if blob not in produced and produced:
                blob = produced[-1]
            plans.append(OutputPlan(feature.name, blob, classes=labels))
        elif feature.name in produced:
            array = (
                feature.type.multiArrayType if feature.type.WhichOneof("Type") == "multiArrayType" else None
            )
            shape = tuple(int(n) for n in array.shape) if array is not None and len(array.shape) else None
            plans.append(OutputPlan(feature.name, feature.name, shape=shape))
    return tuple(plans)
