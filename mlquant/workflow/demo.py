"""The built-in demo: a small digit classifier trained from data that ships with scikit-learn.

:func:`build_digits_demo` needs no files of its own. It takes scikit-learn's 1,797 8x8
handwritten digits (``sklearn.datasets.load_digits``, values 0-16), holds out 30% of each
class, trains a small fully connected network in numpy, and writes

* ``digits.mlmodel``: a NeuralNetwork classifier with an 8x8 grayscale image input named
  ``image`` whose scaler maps a pixel p (0-255) to p * 16 / 255, the training data's scale;
  flatten, innerProduct 64 -> 128, ReLU, innerProduct 128 -> 64, ReLU, innerProduct 64 -> 10,
  softmax; labels ``"0"``-``"9"``;
* ``data/<label>/<index>.png``: the held-out digits as 8-bit grayscale PNGs, pixel =
  round(value * 255 / 16), named by their zero-padded index in ``load_digits``.

Same seed, same bytes, on every machine. Floating-point results usually differ between
machines in their last bits where the order of a sum is left to the library: BLAS kernels
and thread counts split matrix products differently, and SIMD ``exp`` differs from libm's.
Training therefore rounds the operands of every matrix product and every sum to a
power-of-two grid with :data:`_BITS` significant bits, so each product is a sum of integers
(times a power of two) below 2**53, which float64 adds exactly in any order; its softmax uses
a polynomial ``exp`` built from correctly rounded operations only; and the random numbers
(uniform initial weights, permutations) come from bit-exact generators. Everything else is
elementwise IEEE arithmetic, which gives the same result everywhere. PNGs are written without
compression (stored deflate blocks), so the bytes do not depend on the zlib build either.
"""

from __future__ import annotations

import io
import itertools
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from .. import _coreml
from .._files import atomic_write
from ..formats import NeuralNetworkModel

__all__ = ["DemoFiles", "build_digits_demo"]

#: The classifier's labels: the digit each class folder and output stands for.
CLASS_LABELS = tuple(str(digit) for digit in range(10))
#: Name of the model file under the output folder.
MODEL_NAME = "digits.mlmodel"
#: Name of the folder of held-out images under the output folder.
DATA_NAME = "data"
#: Largest value in ``load_digits``; the network sees pixels scaled back to 0-16.
INPUT_MAX = 16
#: Core ML's image scaler: pixel (0-255) times this is what the network computes with.
IMAGE_SCALE = INPUT_MAX / 255

_SIZES = (64, 128, 64, 10)  # layer widths, input first
_HELD_OUT_TENTHS = 3  # 30% of each class is held out
_EPOCHS = 30
_BATCH = 64
_LEARNING_RATE = 2e-3  # Adam, decayed linearly to zero
_WEIGHT_DECAY = 1e-4
_BITS = 22  # significant bits of matrix-product operands: 22 + 22 + log2(128) < 53
_EXP_BITS = 40  # grid of softmax numerators before they are summed
_LN2 = 0.6931471805599453  # log(2) as a literal, not from the platform's libm


@attrs.frozen
class DemoFiles:
    """What :func:`build_digits_demo` wrote, and how well the model does."""

    model: Path
    """The written ``digits.mlmodel``."""
    data: Path
    """Folder with one subfolder per class (``"0"``-``"9"``) of held-out PNG images."""
    train_accuracy: float
    """Accuracy of the written network on the training digits, through the same pixel rounding."""
    test_accuracy: float
    """Accuracy of the written network on the held-out PNGs (their exact pixels, in numpy)."""


def build_digits_demo(out_dir: str | os.PathLike[str], *, seed: int = 0) -> DemoFiles:
    """Train the demo classifier and write it and its held-out images under out_dir.

    The same ``seed`` gives byte-identical files on every run and machine. Files from an
    earlier build are overwritten; PNGs in the class folders that this build did not write
    (left by a build with another seed) are removed, so ``data`` holds exactly this build's
    held-out set.

    Args:
        out_dir: Folder to write ``digits.mlmodel`` and ``data/`` into; created if missing.
        seed: Seed of the train/held-out split, the initial weights and the batch order.

    Returns:
        The paths written and the network's training and held-out accuracy.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    values = np.asarray(digits.data, dtype=np.int64)
    labels = np.asarray(digits.target, dtype=np.int64)
    train, test = _split(labels, seed)
    layers = _train(values[train].astype(np.float64), labels[train], seed)
    exported = [(w.astype(np.float32), b.astype(np.float32)) for w, b in layers]

    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    model_path = NeuralNetworkModel(_spec(exported)).save(root / MODEL_NAME)
    pixels = _pixels(values)
    data_dir = _write_images(root / DATA_NAME, pixels[test], labels[test], test)
    return DemoFiles(
        model=model_path,
        data=data_dir,
        train_accuracy=_accuracy(exported, pixels[train], labels[train]),
        test_accuracy=_accuracy(exported, pixels[test], labels[test]),
    )


def _split(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted train and held-out indices: 30% of each class (rounded half up) held out."""
    rng = np.random.default_rng(seed)
    held_out = []
    for label in range(len(CLASS_LABELS)):
        members = rng.permutation(np.flatnonzero(labels == label))
        held_out.append(members[: (len(members) * _HELD_OUT_TENTHS + 5) // 10])
    test = np.sort(np.concatenate(held_out))
    return np.setdiff1d(np.arange(len(labels)), test), test


def _pixels(values: np.ndarray) -> np.ndarray:
    """Digits (0-16) as the 8-bit ``(N, 8, 8)`` pixels the PNGs hold: round(value * 255 / 16)."""
    return np.rint(values * 255 / INPUT_MAX).astype(np.uint8).reshape(-1, 8, 8)


def _fixed(a: np.ndarray) -> np.ndarray:
    """Round ``a`` to the power-of-two grid that keeps :data:`_BITS` bits of its largest value."""
    largest = float(np.max(np.abs(a)))
    if largest == 0.0:
        return a
    step = math.ldexp(1.0, math.frexp(largest)[1] - _BITS)
    return np.rint(a / step) * step


def _exp(x: np.ndarray) -> np.ndarray:
    """``exp(x)`` from correctly rounded operations only, so it is the same on every machine."""
    k = np.rint(x / _LN2)
    r = x - k * _LN2  # |r| <= log(2) / 2: the Taylor series below is exact to 1e-16
    total, term = np.ones_like(r), np.ones_like(r)
    for n in range(1, 14):
        term = term * r / n
        total = total + term
    return np.ldexp(total, k.astype(np.int32))


def _train(x: np.ndarray, labels: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train the network with Adam on softmax cross-entropy; return float64 ``(W, b)`` per layer.

    ``W`` is ``(out, in)`` as Core ML's innerProduct stores it. Every matrix product and sum
    is exact (see the module docstring), so BLAS may use as many threads as it likes; it is
    held to one because threads only slow these small products down.
    """
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    weights, biases = [], []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(_SIZES)):
        limit = math.sqrt(6 / fan_in) / (INPUT_MAX if i == 0 else 1)  # He uniform, inputs up to 16
        weights.append(rng.uniform(-limit, limit, (fan_out, fan_in)))
        biases.append(np.zeros(fan_out))
    params = weights + biases
    moment1 = [np.zeros_like(p) for p in params]
    moment2 = [np.zeros_like(p) for p in params]
    beta1, beta2, power1, power2 = 0.9, 0.999, 1.0, 1.0
    targets = np.eye(len(CLASS_LABELS))[labels]
    steps = _EPOCHS * math.ceil(len(x) / _BATCH)
    step = 0
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(_EPOCHS):
            order = rng.permutation(len(x))
            for start in range(0, len(x), _BATCH):
                batch = order[start:start + _BATCH]
                grads = _gradients(weights, biases, x[batch], targets[batch])
                step += 1
                power1, power2 = power1 * beta1, power2 * beta2
                rate = _LEARNING_RATE * (steps - step + 1) / steps
                for p, g, m, v in zip(params, grads, moment1, moment2, strict=True):
                    m *= beta1
                    m += (1 - beta1) * g
                    v *= beta2
                    v += (1 - beta2) * g * g
                    p -= rate * (m / (1 - power1)) / (np.sqrt(v / (1 - power2)) + 1e-8)
    return list(zip(weights, biases, strict=True))


def _gradients(
    weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray, targets: np.ndarray
) -> list[np.ndarray]:
    """Gradients of the mean cross-entropy (plus weight decay): every weight's, then every bias's."""
    activations = [x]
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        z = _fixed(activations[-1]) @ _fixed(w).T + b
        activations.append(np.maximum(z, 0.0) if i < len(weights) - 1 else z)
    logits = activations[-1]
    scale = math.ldexp(1.0, _EXP_BITS)
    numerators = np.rint(_exp(logits - logits.max(axis=1, keepdims=True)) * scale) / scale
    g = (numerators / numerators.sum(axis=1, keepdims=True) - targets) / len(x)
    weight_grads: list[np.ndarray] = [np.empty(0)] * len(weights)
    bias_grads: list[np.ndarray] = [np.empty(0)] * len(weights)
    for i in reversed(range(len(weights))):
        g = _fixed(g)
        weight_grads[i] = g.T @ _fixed(activations[i]) + _WEIGHT_DECAY * weights[i]
        bias_grads[i] = g.sum(axis=0)
        if i:
            g = (g @ _fixed(weights[i])) * (activations[i] > 0)
    return weight_grads + bias_grads


def _forward(layers: Sequence[tuple[np.ndarray, np.ndarray]], pixels: np.ndarray) -> np.ndarray:
    """Class probabilities ``(N, 10)`` of ``(N, 8, 8)`` pixels, in float64 as the model file says."""
    h = pixels.reshape(len(pixels), -1).astype(np.float64) * IMAGE_SCALE
    for i, (w, b) in enumerate(layers):
        h = h @ w.astype(np.float64).T + b.astype(np.float64)
        if i < len(layers) - 1:
            h = np.maximum(h, 0.0)
    e = np.exp(h - h.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _accuracy(
    layers: Sequence[tuple[np.ndarray, np.ndarray]], pixels: np.ndarray, labels: np.ndarray
) -> float:
    """Fraction of ``pixels`` whose most probable class is their label."""
    return float(np.mean(_forward(layers, pixels).argmax(axis=1) == labels))


def _spec(layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> Any:
    """The Core ML classifier spec: image input, scaler, the dense layers, softmax, labels."""
    _coreml.coremltools()
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder

    builder = NeuralNetworkBuilder(
        [("image", datatypes.Array(1, 8, 8))], [("classProbability", None)], mode="classifier"
    )
    builder.add_flatten("flatten", 0, "image", "flat")
    blob = "flat"
    for i, (w, b) in enumerate(layers, start=1):
        builder.add_inner_product(f"dense{i}", w, b, w.shape[1], w.shape[0], True, blob, f"dense{i}")
        blob = f"dense{i}"
        if i < len(layers):
            builder.add_activation(f"relu{i}", "RELU", blob, f"relu{i}")
            blob = f"relu{i}"
    builder.add_softmax("softmax", blob, "classProbability")
    builder.set_class_labels(list(CLASS_LABELS), predicted_feature_name="classLabel",
                             prediction_blob="classProbability")
    builder.set_pre_processing_parameters(image_input_names=["image"], image_scale=IMAGE_SCALE)
    spec = builder.spec
    description = spec.description
    description.metadata.shortDescription = (
        "Handwritten digit classifier (mlquant demo), trained on scikit-learn's 8x8 digits"
    )
    description.metadata.author = "mlquant"
    description.metadata.license = "BSD-3-Clause"
    description.input[0].shortDescription = "8x8 grayscale digit, white on black"
    for output in description.output:
        output.shortDescription = (
            "Most likely digit" if output.name == "classLabel" else "Probability of each digit"
        )
    return spec


def _write_images(folder: Path, pixels: np.ndarray, labels: np.ndarray, indices: np.ndarray) -> Path:
    """Write ``folder/<label>/<index>.png`` for each image; remove PNGs of earlier builds there."""
    from PIL import Image

    written: dict[str, set[str]] = {label: set() for label in CLASS_LABELS}
    for image, label, index in zip(pixels, labels, indices, strict=True):
        name = f"{index:04d}.png"
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG", compress_level=0)
        atomic_write(folder / CLASS_LABELS[label] / name, buffer.getvalue())
        written[CLASS_LABELS[label]].add(name)
    for label, names in written.items():
        (folder / label).mkdir(parents=True, exist_ok=True)
        for stale in (folder / label).glob("[0-9][0-9][0-9][0-9].png"):
            if stale.name not in names:
                stale.unlink()
    return folder
