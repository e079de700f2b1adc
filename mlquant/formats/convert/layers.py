"""MIL translations of NeuralNetwork layers, one function per layer type.

Each takes a :class:`~._layer.Layer` and returns the layer's outputs as MIL values, built with
coremltools' MIL builder. Tensors are ``(B, C, H, W)``; the semantics each function reproduces
are ``NeuralNetwork.proto``'s, as the reference runtime (``mlquant/runtime/neuralnetwork``)
implements them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._layer import Layer

__all__ = ["TRANSLATIONS"]


def _mb() -> Any:
    from coremltools.converters.mil import Builder as mb

    return mb


def convolution(layer: Layer) -> list[Any]:
    """``convolution`` (not deconvolution) to ``conv``, with ``valid``/``same`` padding."""
    p = layer.params
    if p.isDeconvolution:
        raise layer.unsupported("deconvolution")
    if len(layer.inputs) != 1:
        raise layer.unsupported("a convolution with its weights as a second input")
    kwargs: dict[str, Any] = {
        "x": layer.inputs[0],
        "weight": layer.weight("weights"),
        "strides": [int(s) for s in p.stride] or [1, 1],
        "dilations": [int(d) for d in p.dilationFactor] or [1, 1],
        "groups": int(p.nGroups) or 1,
        "name": layer.name,
    }
    if p.hasBias:
        kwargs["bias"] = layer.weight("bias")
    kwargs.update(_conv_padding(layer, p))
    return [_mb().conv(**kwargs)]


def _conv_padding(layer: Layer, p: Any) -> dict[str, Any]:
    kind = p.WhichOneof("ConvolutionPaddingType")
    if kind == "same":
        heavy = p.same.asymmetryMode  # 0 BOTTOM_RIGHT_HEAVY, 1 TOP_LEFT_HEAVY
        return {"pad_type": "same_lower" if heavy == 1 else "same"}
    pad = _borders(p.valid.paddingAmounts) if kind == "valid" else None
    return {"pad_type": "custom", "pad": pad} if pad else {"pad_type": "valid"}


def _borders(amounts: Any) -> list[int] | None:
    """A ``BorderAmounts`` message as MIL's ``[top, bottom, left, right]``; None when it is empty."""
    edges = [(int(b.startEdgeSize), int(b.endEdgeSize)) for b in amounts.borderAmounts]
    return [edges[0][0], edges[0][1], edges[1][0], edges[1][1]] if edges else None


def inner_product(layer: Layer) -> list[Any]:
    """``innerProduct`` on a ``(B, C, 1, 1)`` blob: ``linear`` between two reshapes."""
    mb = _mb()
    p = layer.params
    if p.int8DynamicQuantize:
        raise layer.unsupported("int8 dynamic quantization")
    x = mb.reshape(x=layer.inputs[0], shape=[-1, int(p.inputChannels)], name=f"{layer.name}_flat")
    kwargs: dict[str, Any] = {"x": x, "weight": layer.weight("weights"), "name": f"{layer.name}_linear"}
    if p.hasBias:
        kwargs["bias"] = layer.weight("bias")
    y = mb.linear(**kwargs)
    return [mb.reshape(x=y, shape=[-1, int(p.outputChannels), 1, 1], name=layer.name)]


def activation(layer: Layer) -> list[Any]:
    """``activation``: each nonlinearity to its MIL op."""
    mb = _mb()
    p = layer.params
    kind = p.WhichOneof("NonlinearityType")
    x, name = layer.inputs[0], layer.name
    a: Any = getattr(p, kind) if kind else None
    simple = {"ReLU": mb.relu, "tanh": mb.tanh, "sigmoid": mb.sigmoid, "softsign": mb.softsign, "softplus": mb.softplus}
    if kind in simple:
        return [simple[kind](x=x, name=name)]
    if kind == "leakyReLU":
        return [mb.leaky_relu(x=x, alpha=float(a.alpha), name=name)]
    if kind == "linear":
        return [mb.linear_activation(x=x, alpha=float(a.alpha), beta=float(a.beta), name=name)]
    if kind == "sigmoidHard":
        return [mb.sigmoid_hard(x=x, alpha=float(a.alpha), beta=float(a.beta), name=name)]
    if kind == "ELU":
        return [mb.elu(x=x, alpha=float(a.alpha), name=name)]
    if kind == "thresholdedReLU":
        return [mb.thresholded_relu(x=x, alpha=float(a.alpha), name=name)]
    if kind == "scaledTanh":
        return [mb.scaled_tanh(x=x, alpha=float(a.alpha), beta=float(a.beta), name=name)]
    if kind == "PReLU":
        alpha = _floats(a.alpha)
        return [mb.prelu(x=x, alpha=np.broadcast_to(alpha, (x.shape[1],)).astype(np.float32), name=name)]
    raise layer.unsupported(f"activation {kind}")


def pooling(layer: Layer) -> list[Any]:
    """``pooling``: global pooling to a reduction, windows to ``max_pool``/``avg_pool``."""
    mb = _mb()
    p = layer.params
    x, name = layer.inputs[0], layer.name
    kind = {0: "max", 1: "average"}.get(int(p.type))
    if kind is None:
        raise layer.unsupported("L2 pooling")
    if p.globalPooling:
        reduce = mb.reduce_max if kind == "max" else mb.reduce_mean
        return [reduce(x=x, axes=[2, 3], keep_dims=True, name=name)]
    kernel = [int(k) for k in p.kernelSize] or [3, 3]
    strides = [int(s) for s in p.stride] or [1, 1]
    padding = p.WhichOneof("PoolingPaddingType")
    kwargs: dict[str, Any] = {"x": x, "kernel_sizes": kernel, "strides": strides, "name": name}
    if padding == "same":
        kwargs["pad_type"] = "same"
    elif padding == "includeLastPixel":
        top, left = [int(n) for n in p.includeLastPixel.paddingAmounts] or [0, 0]
        kwargs.update(pad_type="custom", pad=[top, top, left, left], ceil_mode=True)
    else:
        pad = _borders(p.valid.paddingAmounts) if padding == "valid" else None
        kwargs.update({"pad_type": "custom", "pad": pad} if pad else {"pad_type": "valid"})
    if kind == "max":
        return [mb.max_pool(**kwargs)]
    return [mb.avg_pool(exclude_padding_from_average=bool(p.avgPoolExcludePadding), **kwargs)]


def concat(layer: Layer) -> list[Any]:
    """``concat`` along channels (``sequenceConcat`` has no translation)."""
    if layer.params.sequenceConcat:
        raise layer.unsupported("sequence concatenation")
    return [_mb().concat(values=layer.inputs, axis=1, name=layer.name)]


def softmax(layer: Layer) -> list[Any]:
    """``softmax`` over channels."""
    return [_mb().softmax(x=layer.inputs[0], axis=1, name=layer.name)]


def flatten(layer: Layer) -> list[Any]:
    """``flatten`` to ``(B, C*H*W, 1, 1)``, channel-first or channel-last order."""
    mb = _mb()
    x = layer.inputs[0]
    if layer.params.mode == 1:  # CHANNEL_LAST
        x = mb.transpose(x=x, perm=[0, 2, 3, 1], name=f"{layer.name}_hwc")
    return [mb.reshape(x=x, shape=[-1, int(np.prod(layer.inputs[0].shape[1:])), 1, 1], name=layer.name)]


def add(layer: Layer) -> list[Any]:
    """``add``: the sum of the inputs, plus ``alpha`` for a single input."""
    return [_fold(layer, _mb().add, float(layer.params.alpha))]


def multiply(layer: Layer) -> list[Any]:
    """``multiply``: the product of the inputs, times ``alpha`` for a single input."""
    return [_fold(layer, _mb().mul, float(layer.params.alpha))]


def maximum(layer: Layer) -> list[Any]:
    """``max``: the elementwise maximum of the inputs."""
    return [_fold(layer, _mb().maximum, None)]


def minimum(layer: Layer) -> list[Any]:
    """``min``: the elementwise minimum of the inputs."""
    return [_fold(layer, _mb().minimum, None)]


def _fold(layer: Layer, op: Callable[..., Any], alpha: float | None) -> Any:
    inputs = layer.inputs
    if len(inputs) == 1:
        if alpha is None:
            return _mb().identity(x=inputs[0], name=layer.name)
        return op(x=inputs[0], y=np.float32(alpha), name=layer.name)
    value = inputs[0]
    for i, other in enumerate(inputs[1:], start=1):
        value = op(x=value, y=other, name=layer.name if i == len(inputs) - 1 else f"{layer.name}_{i}")
    return value


def batchnorm(layer: Layer) -> list[Any]:
    """``batchnorm`` with stored statistics to ``batch_norm``."""
    p = layer.params
    if p.computeMeanVar or p.instanceNormalization:
        raise layer.unsupported("batchnorm computing its own mean and variance")
    return [
        _mb().batch_norm(
            x=layer.inputs[0],
            mean=layer.weight("mean"),
            variance=layer.weight("variance"),
            gamma=layer.weight("gamma"),
            beta=layer.weight("beta"),
            epsilon=float(p.epsilon),
            name=layer.name,
        )
    ]


def scale(layer: Layer) -> list[Any]:
    """``scale``: times a broadcast scale, plus a broadcast bias if it has one."""
    mb = _mb()
    p = layer.params
    scaled = mb.mul(x=layer.inputs[0], y=layer.weight("scale", _broadcast(p.shapeScale)),
                    name=layer.name if not p.hasBias else f"{layer.name}_scaled")
    if not p.hasBias:
        return [scaled]
    return [mb.add(x=scaled, y=layer.weight("bias", _broadcast(p.shapeBias)), name=layer.name)]


def bias(layer: Layer) -> list[Any]:
    """``bias``: plus a broadcast bias."""
    return [_mb().add(x=layer.inputs[0], y=layer.weight("bias", _broadcast(layer.params.shape)), name=layer.name)]


def _broadcast(shape: Any) -> tuple[int, ...]:
    """A NeuralNetwork ``[1]``, ``[C]``, ``[1, H, W]`` or ``[C, H, W]`` shape as a rank-4 broadcast."""
    dims = tuple(int(n) for n in shape) or (1,)
    return (1, dims[0], 1, 1) if len(dims) == 1 else (1, *dims)


def padding(layer: Layer) -> list[Any]:
    """``padding``: constant, reflection or replication padding of height and width."""
    p = layer.params
    kind = p.WhichOneof("PaddingType")
    top, bottom, left, right = _borders(p.paddingAmounts) or [0, 0, 0, 0]
    mode = {"constant": "constant", "reflection": "reflect", "replication": "replicate"}[kind]
    value = float(p.constant.value) if kind == "constant" else 0.0
    return [_mb().pad(x=layer.inputs[0], pad=[top, bottom, left, right], mode=mode, constant_val=value, name=layer.name)]


def upsample(layer: Layer) -> list[Any]:
    """``upsample`` by whole factors: nearest neighbour, or bilinear with aligned corners or not."""
    mb = _mb()
    p = layer.params
    if len(p.fractionalScalingFactor):
        raise layer.unsupported("fractional upsampling")
    sh, sw = ([int(n) for n in p.scalingFactor] or [1, 1])
    if p.mode == 0:
        return [mb.upsample_nearest_neighbor(x=layer.inputs[0], scale_factor_height=sh, scale_factor_width=sw, name=layer.name)]
    align = p.linearUpsampleMode == 1  # ALIGN_CORNERS_TRUE
    if p.linearUpsampleMode == 2:
        raise layer.unsupported("bilinear upsampling with ALIGN_CORNERS_FALSE")
    return [
        mb.upsample_bilinear(
            x=layer.inputs[0], scale_factor_height=sh, scale_factor_width=sw, align_corners=align, name=layer.name
        )
    ]


def lrn(layer: Layer) -> list[Any]:
    """``lrn`` to ``local_response_norm``."""
    p = layer.params
    return [
        _mb().local_response_norm(
            x=layer.inputs[0], size=int(p.localSize), alpha=float(p.alpha), beta=float(p.beta), k=float(p.k),
            name=layer.name,
        )
    ]


def _floats(wp: Any) -> np.ndarray:
    if len(wp.floatValue):
        return np.asarray(wp.floatValue, np.float32)
    return np.frombuffer(wp.float16Value, np.float16).astype(np.float32)


#: NeuralNetwork layer type -> translation.
TRANSLATIONS: dict[str, Callable[[Layer], list[Any]]] = {
    "activation": activation,
    "add": add,
    "batchnorm": batchnorm,
    "bias": bias,
    "concat": concat,
    "convolution": convolution,
    "flatten": flatten,
    "innerProduct": inner_product,
    "lrn": lrn,
    "max": maximum,
    "min": minimum,
    "multiply": multiply,
    "padding": padding,
    "pooling": pooling,
    "scale": scale,
    "softmax": softmax,
    "upsample": upsample,
}
