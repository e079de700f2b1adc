"""Small Core ML models built in the tests with coremltools' NeuralNetworkBuilder."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlquant import _coreml


def _builder(inputs: list[tuple[str, tuple[int, ...]]], outputs: list[str], **kwargs: Any) -> Any:
    ct = _coreml.coremltools()
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder

    features_in = [(name, datatypes.Array(*shape)) for name, shape in inputs]
    features_out = [(name, None) for name in outputs]
    del ct
    return NeuralNetworkBuilder(features_in, features_out, **kwargs)


def every_weight_layer() -> Any:
    """A spec holding one layer of every type that carries weights (not meant to run)."""
    rng = np.random.default_rng(0)
    normal = lambda *shape: rng.normal(size=shape).astype(np.float32)
    b = _builder([("x", (8, 4, 4)), ("ids", (1,))], ["out"], disable_rank5_shape_mapping=False)
    b.add_convolution("conv", 8, 6, 3, 3, 1, 1, "same", 1, normal(3, 3, 8, 6), normal(6), True, input_name="x", output_name="c")
    b.add_convolution("deconv", 6, 4, 2, 2, 2, 2, "valid", 1, normal(2, 2, 6, 4), normal(4), True,
                      is_deconv=True, output_shape=[8, 8], input_name="c", output_name="d")
    # activations in between keep coremltools from fusing batchnorm, scale and bias into the convolution
    b.add_activation("act1", "RELU", "d", "d1")
    b.add_batchnorm("bn", 4, normal(4), normal(4), normal(4), np.abs(normal(4)) + 1, input_name="d1", output_name="e")
    b.add_activation("act2", "RELU", "e", "e1")
    b.add_scale("scale", normal(4), normal(4), True, "e1", "f", shape_scale=[4], shape_bias=[4])
    b.add_activation("act3", "RELU", "f", "f1")
    b.add_bias("bias", normal(4, 8, 8), "f1", "g", shape_bias=[4, 8, 8])
    b.add_flatten("flat", 0, "g", "h")
    b.add_inner_product("fc", normal(10, 256), normal(10), 256, 10, True, "h", "i")
    b.add_embedding("embed", normal(5, 7), normal(5), 7, 5, True, "ids", "j")
    b.add_load_constant("const", "k", normal(3, 1, 1).ravel(), [3, 1, 1])
    b.add_simple_rnn("rnn", normal(6, 6), normal(6, 10), normal(6), 6, 10, "TANH", ["i"], ["l"])
    b.add_gru("gru", [normal(6, 6)] * 3, [normal(6, 10)] * 3, [normal(6)] * 3, 6, 10, ["i"], ["m"])
    b.add_unilstm("lstm", [normal(6, 6)] * 4, [normal(6, 10)] * 4, [normal(6)] * 4, 6, 10, ["i"], ["n"],
                  peep=[normal(6)] * 3)
    b.add_bidirlstm("bilstm", [normal(5, 5)] * 4, [normal(5, 10)] * 4, [normal(5)] * 4,
                    [normal(5, 5)] * 4, [normal(5, 10)] * 4, [normal(5)] * 4, 5, 10, ["i"], ["o", "o2", "o3", "o4", "o5"])
    return b.spec


def nd_weight_layers() -> Any:
    """A spec (rank-N mapping) with batchedMatmul, embeddingND and loadConstantND layers."""
    rng = np.random.default_rng(1)
    b = _builder([("x", (2, 6)), ("ids", (3, 1))], ["y"], disable_rank5_shape_mapping=True)
    b.add_batched_mat_mul("matmul", ["x"], "y", weight_matrix_rows=6, weight_matrix_columns=4,
                          W=rng.normal(size=(6, 4)).astype(np.float32), bias=rng.normal(size=4).astype(np.float32))
    b.add_embedding_nd("embed_nd", "ids", "e", vocab_size=9, embedding_size=3,
                       W=rng.normal(size=(3, 9)).astype(np.float32), b=rng.normal(size=3).astype(np.float32))
    b.add_load_constant_nd("const_nd", "c", rng.normal(size=(2, 3)).astype(np.float32), [2, 3])
    return b.spec


def mlp_classifier() -> Any:
    """A small runnable classifier: innerProduct, ReLU, innerProduct, softmax, labels a-d."""
    rng = np.random.default_rng(2)
    b = _builder([("x", (12,))], ["probs"], mode="classifier")
    b.add_inner_product("fc1", rng.normal(size=(16, 12)).astype(np.float32), rng.normal(size=16).astype(np.float32),
                        12, 16, True, "x", "h")
    b.add_activation("relu", "RELU", "h", "hr")
    b.add_inner_product("fc2", rng.normal(size=(4, 16)).astype(np.float32), rng.normal(size=4).astype(np.float32),
                        16, 4, True, "hr", "logits")
    b.add_softmax("softmax", "logits", "probs")
    b.set_class_labels(["a", "b", "c", "d"], predicted_feature_name="label", prediction_blob="probs")
    return b.spec
