"""The shapes public Core ML models have, rebuilt with coremltools' ``NeuralNetworkBuilder``.

A corpus of public models (MNIST and QuickDraw CNNs converted from Keras, updatable models,
LSTMs, already-quantized SqueezeNets) found defects no home-made model showed (issue 8). These
builders reproduce their shapes: a grayscale CNN whose first convolution uses ``valid``
padding, an updatable network with a loss and an optimizer, a classifier holding every
recurrent and normalisation layer, and a quantized input model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlquant import _coreml

DIGIT_LABELS = [str(d) for d in range(10)]


def _builder(inputs: list[tuple[str, tuple[int, ...]]], outputs: list[str], **kwargs: Any) -> Any:
    _coreml.coremltools()
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder

    return NeuralNetworkBuilder([(n, datatypes.Array(*s)) for n, s in inputs], [(n, None) for n in outputs], **kwargs)


def grayscale_valid_cnn(conv: np.ndarray, conv_bias: np.ndarray, dense: np.ndarray, dense_bias: np.ndarray,
                        scale: float) -> Any:
    """An 8x8 grayscale digit classifier as Keras converters write MNIST ones.

    ``image`` (grayscale, scaled by ``scale``) -> ``conv2d_1`` (valid 3x3, weights ``(Cout, 1, 3, 3)``)
    -> ReLU -> flatten -> ``dense_1`` (weights ``(10, Cout * 36)``) -> softmax, labels ``"0"``-``"9"``.
    """
    cout = conv.shape[0]
    b = _builder([("image", (1, 8, 8))], ["probs"], mode="classifier")
    b.add_convolution("conv2d_1", 1, cout, 3, 3, 1, 1, "valid", 1, conv.transpose(2, 3, 1, 0), conv_bias, True,
                      input_name="image", output_name="c")
    b.add_activation("relu_1", "RELU", "c", "r")
    b.add_flatten("flatten_1", 0, "r", "f")
    b.add_inner_product("dense_1", dense, dense_bias, dense.shape[1], 10, True, "f", "logits")
    b.add_softmax("softmax", "logits", "probs")
    b.set_class_labels(DIGIT_LABELS, predicted_feature_name="classLabel", prediction_blob="probs")
    b.set_pre_processing_parameters(image_input_names=["image"], image_scale=scale)
    image = b.spec.description.input[0].type.imageType
    image.colorSpace = 10  # GRAYSCALE
    image.width = image.height = 8
    return b.spec


def updatable_classifier(seed: int = 0) -> Any:
    """A 16-input classifier whose last two innerProduct layers train on device (SGD, cross entropy)."""
    rng = np.random.default_rng(seed)
    normal = lambda *shape: rng.normal(scale=0.3, size=shape).astype(np.float32)
    b = _builder([("x", (16,))], ["probs"], mode="classifier")
    b.add_inner_product("frozen", normal(32, 16), normal(32), 16, 32, True, "x", "h0")
    b.add_activation("relu0", "RELU", "h0", "h0r")
    b.add_inner_product("dense1", normal(32, 32), normal(32), 32, 32, True, "h0r", "h1")
    b.add_activation("relu1", "RELU", "h1", "h1r")
    b.add_inner_product("dense2", normal(4, 32), normal(4), 32, 4, True, "h1r", "logits")
    b.add_softmax("softmax", "logits", "probs")
    b.set_class_labels(["a", "b", "c", "d"], predicted_feature_name="label", prediction_blob="probs")
    b.make_updatable(["dense1", "dense2"])
    b.set_categorical_cross_entropy_loss(name="loss", input="probs")
    from coremltools.models.neural_network import SgdParams

    b.set_sgd_optimizer(SgdParams(lr=0.01, batch=8))
    b.set_epochs(4)
    return b.spec


def every_weight_classifier(seed: int = 0) -> Any:
    """A one-input classifier holding convolution, batchnorm, scale, bias, innerProduct, simple RNN,
    GRU, LSTM, bidirectional LSTM and loadConstant layers, each with every weight it can carry."""
    rng = np.random.default_rng(seed)
    normal = lambda *shape: rng.normal(scale=0.5, size=shape).astype(np.float32)
    b = _builder([("x", (8, 1, 1))], ["probs"], mode="classifier")
    b.add_convolution("conv", 8, 8, 1, 1, 1, 1, "valid", 1, normal(1, 1, 8, 8), normal(8), True,
                      input_name="x", output_name="c")
    # ReLUs in between keep coremltools' optimizer from fusing batchnorm, scale and bias into the convolution
    b.add_activation("relu_c", "RELU", "c", "c1")
    b.add_batchnorm("bn", 8, normal(8), normal(8), normal(8), np.abs(normal(8)) + 1, input_name="c1", output_name="n")
    b.add_activation("relu_n", "RELU", "n", "n1")
    b.add_scale("scale", normal(8), normal(8), True, "n1", "s", shape_scale=[8], shape_bias=[8])
    b.add_activation("relu_s", "RELU", "s", "s1")
    b.add_bias("bias", normal(8), "s1", "t", shape_bias=[8])
    b.add_inner_product("fc", normal(8, 8), normal(8), 8, 8, True, "t", "f")
    b.add_simple_rnn("rnn", normal(6, 6), normal(6, 8), normal(6), 6, 8, "TANH", ["f"], ["r"])
    b.add_gru("gru", [normal(6, 6) for _ in range(3)], [normal(6, 8) for _ in range(3)], [normal(6) for _ in range(3)],
              6, 8, ["f"], ["g"])
    b.add_unilstm("lstm", [normal(6, 6) for _ in range(4)], [normal(6, 8) for _ in range(4)],
                  [normal(6) for _ in range(4)], 6, 8, ["f"], ["l"], peep=[normal(6) for _ in range(3)])
    b.add_bidirlstm("bilstm", [normal(5, 5) for _ in range(4)], [normal(5, 8) for _ in range(4)],
                    [normal(5) for _ in range(4)], [normal(5, 5) for _ in range(4)], [normal(5, 8) for _ in range(4)],
                    [normal(5) for _ in range(4)], 5, 8, ["f"], ["o", "o2", "o3", "o4", "o5"])
    b.add_load_constant("const", "k", normal(6), [6, 1, 1])
    b.add_elementwise("sum", ["r", "g", "l", "k"], "rs", "ADD")
    b.add_inner_product("head", normal(3, 6), normal(3), 6, 3, True, "rs", "logits")
    b.add_softmax("softmax", "logits", "probs")
    b.set_class_labels(["p", "q", "r"], predicted_feature_name="label", prediction_blob="probs")
    return b.spec


def wide_classifier(width: int = 256, seed: int = 0) -> Any:
    """A classifier with one ``width x width`` innerProduct: weights dominate the file, as in SqueezeNet."""
    rng = np.random.default_rng(seed)
    b = _builder([("x", (width,))], ["probs"], mode="classifier")
    b.add_inner_product("wide", rng.normal(size=(width, width)).astype(np.float32), None, width, width, False, "x", "h")
    b.add_inner_product("head", rng.normal(size=(2, width)).astype(np.float32), None, width, 2, False, "h", "logits")
    b.add_softmax("softmax", "logits", "probs")
    b.set_class_labels(["yes", "no"], predicted_feature_name="label", prediction_blob="probs")
    return b.spec


def lut_quantized(spec: Any, nbits: int = 8) -> Any:
    """``spec`` with its weights quantized to an ``nbits`` look-up table by coremltools itself."""
    ct = _coreml.coremltools()
    from coremltools.models.neural_network.quantization_utils import _quantize_spec_weights

    copy = type(spec)()
    copy.CopyFrom(spec)
    return _quantize_spec_weights(copy, nbits, ct.models._QUANTIZATION_MODE_LOOKUP_TABLE_LINEAR)
