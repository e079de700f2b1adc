"""Networks in the shapes ``ct.convert`` produces from torchvision models, for :mod:`._twin`.

Small blocks for the whole-network tests (residual, depthwise-separable inverted residual,
squeeze-excitation, patch embedding + attention + MLP) and full-sized ResNet-18 and MobileNetV2
bodies for ``benchmarks/mlprogram_runtime.py``. Each is ``net(ops, x, weights)``.
"""

from __future__ import annotations

from typing import Any

from ._twin import Weights


def conv_bn(ops: Any, x: Any, w: Weights, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> Any:
    """Convolution (no bias) then batch normalization, as torchvision builds every block."""
    y = ops.conv(x, w.conv(cout, cin // groups, k), stride=stride, pad=k // 2, groups=groups)
    return ops.batch_norm(y, w.bn(cout))


def basic_block(ops: Any, x: Any, w: Weights, cin: int, cout: int, stride: int) -> Any:
    """ResNet's basic block: two 3x3 conv-bn, a projected shortcut when the shape changes, relu."""
    y = ops.relu(conv_bn(ops, x, w, cin, cout, 3, stride))
    y = conv_bn(ops, y, w, cout, cout, 3)
    shortcut = conv_bn(ops, x, w, cin, cout, 1, stride) if stride != 1 or cin != cout else x
    return ops.relu(ops.add(y, shortcut))


def head(ops: Any, x: Any, w: Weights, channels: int, classes: int) -> Any:
    """Global average pool, flatten, linear, softmax."""
    y = ops.reshape(ops.global_pool(x), [1, channels])
    return ops.softmax(ops.linear(y, w.dense(classes, channels), w.vector(classes)), axis=-1)


def residual_net(ops: Any, x: Any, w: Weights) -> Any:
    """A stem, two basic blocks (one strided with a projection) and a classifier head."""
    y = ops.relu(conv_bn(ops, x, w, 3, 8, 3, 2))
    y = ops.max_pool(y, 3, 2, 1)
    y = basic_block(ops, y, w, 8, 8, 1)
    y = basic_block(ops, y, w, 8, 16, 2)
    return head(ops, y, w, 16, 10)


def inverted_residual(ops: Any, x: Any, w: Weights, cin: int, cout: int, stride: int, expand: int) -> Any:
    """MobileNetV2's block: 1x1 expand, 3x3 depthwise, 1x1 project (relu6), residual when shapes allow."""
    hidden = cin * expand
    y = x
    if expand != 1:
        y = ops.relu6(conv_bn(ops, y, w, cin, hidden, 1))
    y = ops.relu6(conv_bn(ops, y, w, hidden, hidden, 3, stride, groups=hidden))
    y = conv_bn(ops, y, w, hidden, cout, 1)
    return ops.add(x, y) if stride == 1 and cin == cout else y


def separable_net(ops: Any, x: Any, w: Weights) -> Any:
    """A MobileNetV2-style stem and three inverted residual blocks."""
    y = ops.relu6(conv_bn(ops, x, w, 3, 8, 3, 2))
    y = inverted_residual(ops, y, w, 8, 8, 1, 1)
    y = inverted_residual(ops, y, w, 8, 12, 2, 4)
    y = inverted_residual(ops, y, w, 12, 12, 1, 4)
    return head(ops, y, w, 12, 10)


def squeeze_excitation(ops: Any, x: Any, w: Weights, channels: int, squeezed: int, hard: bool) -> Any:
    """Pool, 1x1 conv, activation, 1x1 conv, gate (sigmoid or hard sigmoid), scale the input."""
    s = ops.global_pool(x)
    s = ops.conv(s, w.conv(squeezed, channels, 1), w.vector(squeezed))
    s = ops.relu(s) if hard else ops.silu(s)
    s = ops.conv(s, w.conv(channels, squeezed, 1), w.vector(channels))
    return ops.mul(x, ops.hard_sigmoid(s) if hard else ops.sigmoid(s))


def se_net(ops: Any, x: Any, w: Weights) -> Any:
    """EfficientNet- and MobileNetV3-style blocks: silu and hard-sigmoid squeeze-excitation."""
    y = ops.silu(conv_bn(ops, x, w, 3, 12, 3, 2))
    y = squeeze_excitation(ops, y, w, 12, 4, hard=False)
    y = ops.relu(conv_bn(ops, y, w, 12, 12, 3, 1, groups=12))
    y = squeeze_excitation(ops, y, w, 12, 3, hard=True)
    return head(ops, y, w, 12, 10)


def vit_net(ops: Any, x: Any, w: Weights, dim: int = 16, heads: int = 2, patch: int = 4, size: int = 16) -> Any:
    """Patch embedding, one pre-norm transformer block (attention + MLP with gelu), mean pool, head."""
    tokens = (size // patch) ** 2
    d = dim // heads
    y = ops.conv(x, w.conv(dim, 3, patch), w.vector(dim), stride=patch)
    y = ops.transpose(ops.reshape(y, [1, dim, tokens]), [0, 2, 1])

    def split_heads(t: Any) -> Any:
        return ops.transpose(ops.reshape(t, [1, tokens, heads, d]), [0, 2, 1, 3])

    n = ops.layer_norm(y, w.vector(dim, 1.0), w.vector(dim))
    q = split_heads(ops.linear(n, w.dense(dim, dim), w.vector(dim)))
    k = split_heads(ops.linear(n, w.dense(dim, dim), w.vector(dim)))
    v = split_heads(ops.linear(n, w.dense(dim, dim), w.vector(dim)))
    attention = ops.softmax(ops.scale(ops.matmul(q, k, transpose_y=True), d**-0.5), axis=-1)
    a = ops.reshape(ops.transpose(ops.matmul(attention, v), [0, 2, 1, 3]), [1, tokens, dim])
    y = ops.add(y, ops.linear(a, w.dense(dim, dim), w.vector(dim)))
    n = ops.layer_norm(y, w.vector(dim, 1.0), w.vector(dim))
    m = ops.linear(ops.gelu(ops.linear(n, w.dense(2 * dim, dim), w.vector(2 * dim))), w.dense(dim, 2 * dim), w.vector(dim))
    y = ops.add(y, m)
    y = ops.layer_norm(ops.reduce_mean(y, 1), w.vector(dim, 1.0), w.vector(dim))
    return ops.softmax(ops.linear(y, w.dense(10, dim), w.vector(10)), axis=-1)


def resnet18(ops: Any, x: Any, w: Weights) -> Any:
    """ResNet-18's layers and sizes (224 x 224 input, 1000 classes)."""
    y = ops.relu(conv_bn(ops, x, w, 3, 64, 7, 2))
    y = ops.max_pool(y, 3, 2, 1)
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        y = basic_block(ops, y, w, cin, cout, stride)
        y = basic_block(ops, y, w, cout, cout, 1)
        cin = cout
    return head(ops, y, w, 512, 1000)


def mobilenet_v2(ops: Any, x: Any, w: Weights) -> Any:
    """MobileNetV2's layers and sizes (224 x 224 input, width 1.0, 1000 classes)."""
    y = ops.relu6(conv_bn(ops, x, w, 3, 32, 3, 2))
    cin = 32
    for expand, cout, repeats, stride in (
        (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
    ):
        for i in range(repeats):
            y = inverted_residual(ops, y, w, cin, cout, stride if i == 0 else 1, expand)
            cin = cout
    y = ops.relu6(conv_bn(ops, y, w, cin, 1280, 1))
    return head(ops, y, w, 1280, 1000)
