"""What a model takes and gives: its evaluated input and its class outputs.

Read from the model description (``spec.description``), which every Core ML model type shares;
flexible image sizes resolve to one size inside the declared range.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..errors import UnsupportedModelError
from ..formats import Model

__all__ = ["ArrayInput", "ImageInput", "Signature", "signature"]

_COLOR_SPACES = {10: "GRAYSCALE", 20: "RGB", 30: "BGR", 40: "GRAYSCALE_FLOAT16"}


@attrs.frozen
class ImageInput:
    """An image input: its size and the channel order the network sees."""

    name: str
    """The input's feature name."""
    width: int
    """Width in pixels the network takes."""
    height: int
    """Height in pixels the network takes."""
    color_space: str
    """``RGB``, ``BGR`` or ``GRAYSCALE``."""

    @property
    def channels(self) -> int:
        """3 for colour, 1 for grayscale."""
        return 1 if self.color_space.startswith("GRAYSCALE") else 3


@attrs.frozen
class ArrayInput:
    """A multi-array input, fed from ``.npy`` files."""

    name: str
    """The input's feature name."""
    shape: tuple[int, ...]
    """One input's shape: what one ``.npy`` file holds and what a backend takes per item."""
    declared: tuple[int, ...] | None = None
    """The model's declared shape where it differs from ``shape`` (an ML Program declares the
    batch's leading 1 too), for backends that feed one item as the model declares it."""


@attrs.frozen
class Signature:
    """The parts of a model's interface an evaluation needs."""

    input: ImageInput | ArrayInput
    """The one input that is fed from the data set."""
    labels: tuple[str, ...] | tuple[int, ...] | None
    """Class labels in score order, or None for a model that is not a classifier."""
    probabilities: str | None
    """Name of the output holding class probabilities, if the model declares one."""

    @property
    def key(self) -> tuple[Any, ...]:
        """Equal for models whose inputs can share one decoded batch."""
        return attrs.astuple(self.input)


def signature(model: Model) -> Signature:
    """Describe ``model``'s evaluated input and class outputs.

    Raises:
        UnsupportedModelError: The model needs more than one input, or an input type mlquant
            cannot feed (strings, dictionaries, sequences).
    """
    description = model.spec.description
    required = [feature for feature in description.input if not feature.type.isOptional]
    if len(required) != 1:
        names = ", ".join(feature.name for feature in required) or "none"
        msg = f"mlquant evaluates models with exactly one required input (this model needs: {names})"
        raise UnsupportedModelError(msg)
    feature = required[0]
    kind = feature.type.WhichOneof("Type")
    if kind == "imageType":
        evaluated: ImageInput | ArrayInput = _image_input(feature.name, feature.type.imageType)
    elif kind == "multiArrayType":
        declared = tuple(int(n) for n in feature.type.multiArrayType.shape)
        if model.batch_in_input_shape and len(declared) > 1 and declared[0] == 1:
            evaluated = ArrayInput(feature.name, declared[1:], declared)
        else:
            evaluated = ArrayInput(feature.name, declared)
    else:
        msg = f"input {feature.name!r} is a {kind}; mlquant feeds image and multi-array inputs"
        raise UnsupportedModelError(msg)
    probabilities = description.predictedProbabilitiesName or None
    return Signature(evaluated, model.class_labels, probabilities)


def _image_input(name: str, image: Any) -> ImageInput:
    width, height = int(image.width), int(image.height)
    flexible = image.WhichOneof("SizeFlexibility")
    if flexible == "enumeratedSizes":
        sizes = [(int(s.width), int(s.height)) for s in image.enumeratedSizes.sizes]
        if sizes and (width, height) not in sizes:
            width, height = sizes[0]
    elif flexible == "imageSizeRange":
        width = _inside(width, image.imageSizeRange.widthRange)
        height = _inside(height, image.imageSizeRange.heightRange)
    space = _COLOR_SPACES.get(int(image.colorSpace), "RGB")
    return ImageInput(name, width, height, space)


def _inside(value: int, bounds: Any) -> int:
    """``value`` moved into ``[lowerBound, upperBound]`` (an upper bound of -1 is unbounded)."""
    low, high = int(bounds.lowerBound), int(bounds.upperBound)
    value = max(value, low, 1)
    return value if high < 0 else min(value, high)
