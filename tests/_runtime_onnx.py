"""onnxruntime as an independent oracle for the reference runtime.

Two helpers: :func:`run_node` runs one ONNX operator on numpy arrays, and
:func:`food_to_onnx` translates a SqueezeNet-style Core ML spec (convolution, ReLU, pooling,
concat, softmax, mean-image or scaler preprocessing) into an ONNX graph layer by layer, with
the weights copied from the spec, so the whole food model can be checked against onnxruntime.
``benchmarks/runtime.py`` uses the same translation for its speed comparison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

OPSET = 19


def session(model: Any, threads: int | None = None) -> Any:
    """An onnxruntime CPU session for an ONNX ``ModelProto``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def run_node(
    op: str,
    inputs: Mapping[str, np.ndarray],
    attributes: Mapping[str, Any] | None = None,
    *,
    constants: Mapping[str, np.ndarray] | None = None,
    outputs: Sequence[str] = ("y",),
    order: Sequence[str] | None = None,
) -> list[np.ndarray]:
    """Run one ONNX operator with onnxruntime.

    Args:
        op: The operator type (``Conv``, ``MaxPool``...).
        inputs: Graph inputs by name, in the operator's input order (float32 arrays).
        attributes: The node's attributes.
        constants: Initializers, appended to the operator's inputs after ``inputs``.
        outputs: Output names.
        order: The node's input names in order, when they are not ``inputs`` then ``constants``
            (``""`` skips an optional input).

    Returns:
        The operator's outputs.
    """
    from onnx import TensorProto, helper, numpy_helper

    constants = dict(constants or {})
    names = list(order) if order is not None else [*inputs, *constants]
    node = helper.make_node(op, names, list(outputs), **dict(attributes or {}))
    graph = helper.make_graph(
        [node],
        "one_node",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, list(x.shape)) for name, x in inputs.items()],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs],
        [numpy_helper.from_array(np.asarray(v), name) for name, v in constants.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    feeds = {name: np.ascontiguousarray(x, dtype=np.float32) for name, x in inputs.items()}
    return session(model).run(list(outputs), feeds)


def _weights(wp: Any, shape: tuple[int, ...]) -> np.ndarray:
    from mlquant.formats.neuralnetwork.codec import decode

    return decode(wp, shape, None, "onnx export")


def food_to_onnx(spec: Any) -> Any:
    """Translate a SqueezeNet-style Core ML classifier spec into an ONNX model.

    The ONNX graph takes the image input as ``(B, C, H, W)`` raw pixels and returns the
    classifier's probabilities as ``(B, classes)`` under the same names. Supported: the
    ``meanImage`` and ``scaler`` preprocessing, ``convolution`` (``valid`` padding with
    ``paddingAmounts``, groups, dilation), ReLU ``activation``, MAX/AVERAGE ``pooling``
    (``includeLastPixel`` as ceil mode, ``valid``, global), ``concat`` and ``softmax``.

    Raises:
        NotImplementedError: A layer or option outside that list.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    kind = spec.WhichOneof("Type")
    network = getattr(spec, kind)
    feature = spec.description.input[0]
    image = feature.type.imageType
    channels = 1 if int(image.colorSpace) in (10, 40) else 3
    nodes, initializers = [], []

    def constant(name: str, value: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    current = {feature.name: feature.name}
    for step in network.preprocessing:
        which = step.WhichOneof("preprocessor")
        source = current[feature.name]
        if which == "meanImage":
            mean = np.asarray(step.meanImage.meanImage, np.float32).reshape(
                1, channels, image.height, image.width
            )
            nodes.append(helper.make_node("Sub", [source, constant("mean_image", mean)], ["preprocessed"]))
        elif which == "scaler":
            s = step.scaler
            bias = (
                [s.blueBias, s.greenBias, s.redBias]
                if int(image.colorSpace) == 30
                else ([s.redBias, s.greenBias, s.blueBias] if channels == 3 else [s.grayBias])
            )
            nodes.append(
                helper.make_node("Mul", [source, constant("scale", np.float32(s.channelScale))], ["scaled"])
            )
            nodes.append(
                helper.make_node(
                    "Add", ["scaled", constant("bias", np.reshape(bias, (1, -1, 1, 1)))], ["preprocessed"]
                )
            )
        current[feature.name] = "preprocessed"
    probabilities = spec.description.predictedProbabilitiesName
    for layer in network.layers:
        which = layer.WhichOneof("layer")
        ins = [current.get(n, n) for n in layer.input]
        outs = list(layer.output)
        p = getattr(layer, which)
        if which == "convolution":
            nodes.append(_conv(layer.name, p, ins[0], outs[0], constant))
        elif which == "activation" and p.WhichOneof("NonlinearityType") == "ReLU":
            nodes.append(helper.make_node("Relu", ins, outs))
        elif which == "pooling":
            nodes.append(_pool(p, ins[0], outs[0]))
        elif which == "concat" and not p.sequenceConcat:
            nodes.append(helper.make_node("Concat", ins, outs, axis=1))
        elif which == "softmax":
            nodes.append(helper.make_node("Softmax", ins, [outs[0] + "_4d"], axis=1))
            nodes.append(helper.make_node("Flatten", [outs[0] + "_4d"], outs, axis=1))
        else:
            raise NotImplementedError(f"layer '{layer.name}' ({which}) has no ONNX translation here")
    graph = helper.make_graph(
        nodes,
        "food",
        [
            helper.make_tensor_value_info(
                feature.name, TensorProto.FLOAT, ["B", channels, image.height, image.width]
            )
        ],
        [helper.make_tensor_value_info(probabilities, TensorProto.FLOAT, ["B", _labels(network)])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    return model


def _labels(network: Any) -> int:
    which = network.WhichOneof("ClassLabels")
    return len(getattr(network, which).vector)


def _conv(name: str, p: Any, source: str, target: str, constant: Any) -> Any:
    from onnx import helper

    kh, kw = list(p.kernelSize) or [3, 3]
    groups = p.nGroups or 1
    if p.isDeconvolution or p.WhichOneof("ConvolutionPaddingType") != "valid":
        raise NotImplementedError(f"convolution '{name}': only valid-padded convolution is translated")
    weights = _weights(p.weights, (p.outputChannels, p.kernelChannels, kh, kw))
    inputs = [source, constant(f"{name}.weights", weights)]
    if p.hasBias:
        inputs.append(constant(f"{name}.bias", _weights(p.bias, (p.outputChannels,))))
    edges = list(p.valid.paddingAmounts.borderAmounts)
    top, bottom, left, right = (
        (edges[0].startEdgeSize, edges[0].endEdgeSize, edges[1].startEdgeSize, edges[1].endEdgeSize)
        if edges
        else (0, 0, 0, 0)
    )
    return helper.make_node(
        "Conv",
        inputs,
        [target],
        kernel_shape=[kh, kw],
        strides=list(p.stride) or [1, 1],
        dilations=list(p.dilationFactor) or [1, 1],
        group=groups,
        pads=[int(top), int(left), int(bottom), int(right)],
    )


def _pool(p: Any, source: str, target: str) -> Any:
    from onnx import helper

    kind = int(p.type)
    if p.globalPooling:
        return helper.make_node(["GlobalMaxPool", "GlobalAveragePool"][kind], [source], [target])
    padding = p.WhichOneof("PoolingPaddingType")
    attributes: dict[str, Any] = {"kernel_shape": list(p.kernelSize), "strides": list(p.stride) or [1, 1]}
    if padding == "includeLastPixel":
        ph, pw = list(p.includeLastPixel.paddingAmounts) or [0, 0]
        attributes.update(ceil_mode=1, pads=[int(ph), int(pw), int(ph), int(pw)])
    elif padding == "valid" and not p.valid.paddingAmounts.borderAmounts:
        attributes["pads"] = [0, 0, 0, 0]
    else:
        raise NotImplementedError(f"pooling padding {padding} is not translated")
    if kind == 1:
        attributes["count_include_pad"] = int(not p.avgPoolExcludePadding)
    return helper.make_node(["MaxPool", "AveragePool"][kind], [source], [target], **attributes)
