"""NeuralNetwork to ML Program: the same network, rewritten in MIL operations.

Owners of legacy ``.mlmodel`` files can compress them only with NeuralNetwork's forms (per-tensor
tables, per-channel linear); as ML Programs they get every iOS16 and iOS18 form. coremltools has
no such path, so mlquant builds the program itself, one MIL operation (or a few) per layer, with
coremltools' MIL builder, and lets coremltools serialize it.

Every tensor inside the program is ``(B, C, H, W)``: NeuralNetwork's rank-5 ``(S, B, C, H, W)``
blobs with the sequence axis dropped, which is exact for the layers translated here (none of them
acts on the sequence axis). A layer with no translation is an :class:`UnsupportedLayerError`
naming it, raised before anything is written.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ... import _coreml
from ..._files import check_output
from ...errors import OverwriteError, SettingsError, UnsupportedLayerError, UnsupportedModelError
from ...weights.storage import TARGETS as STORAGE_TARGETS
from .._load import load
from .._model import Model
from ._layer import Layer
from .layers import TRANSLATIONS

__all__ = ["PRECISIONS", "TARGETS", "convert"]

#: Deployment targets an ML Program may declare (iOS15, the first with ML Programs, and later),
#: and their specification versions.
TARGETS = {name: version for name, version in STORAGE_TARGETS.items() if version >= STORAGE_TARGETS["iOS15"]}
#: Compute precisions of the converted program.
PRECISIONS = ("float32", "float16")

_COLOR_LAYOUTS = {10: "G", 20: "RGB", 30: "BGR"}


def convert(
    model: Model,
    path: str | os.PathLike[str],
    *,
    precision: str = "float32",
    target: str = "iOS15",
    overwrite: bool = False,
) -> Model:
    """Rewrite a NeuralNetwork model as an ML Program that computes the same function, and save it.

    Args:
        model: A NeuralNetwork model (not a pipeline) with one input.
        path: Where to write the ``.mlpackage``.
        precision: ``float32`` keeps every tensor in single precision (the same predictions as
            the NeuralNetwork model on Core ML's CPU); ``float16`` is Core ML's default for ML
            Programs (weights and activations in half precision).
        target: The lowest deployment target the program declares (``iOS15`` to ``iOS18``);
            quantizing it later raises it where a storage form needs more.

        overwrite: Replace an existing package at ``path``.

    Returns:
        The ML Program, loaded from ``path``.

    Raises:
        SettingsError: Unknown precision or target.
        UnsupportedModelError: The model is not a NeuralNetwork model, or is a pipeline, or
            has an input that is neither an image nor a rank-1 or rank-3 array.
        UnsupportedLayerError: A layer with no MIL translation; the message names it.
        OverwriteError: ``path`` exists and ``overwrite`` is false.
    """
    target_path = Path(path)
    if target_path.suffix != ".mlpackage":
        msg = f"an ML Program is saved as a .mlpackage folder (got {target_path})"
        raise SettingsError(msg)
    if target_path.exists() and not overwrite:
        msg = f"{target_path} exists (pass overwrite=True, or --force)"
        raise OverwriteError(msg)
    check_output(target_path, folder=True, inputs=[model.source] if model.source else ())
    if precision not in PRECISIONS:
        msg = f"precision must be one of {', '.join(PRECISIONS)} (got {precision!r})"
        raise SettingsError(msg)
    if target not in TARGETS:
        msg = f"target must be one of {', '.join(TARGETS)} (got {target!r})"
        raise SettingsError(msg)
    spec = model.spec
    kind = spec.WhichOneof("Type")
    if model.format != "neuralnetwork" or kind not in {
        "neuralNetwork",
        "neuralNetworkClassifier",
        "neuralNetworkRegressor",
    }:
        msg = f"convert rewrites NeuralNetwork models (not pipelines); this model is a {kind}"
        raise UnsupportedModelError(msg)
    network = getattr(spec, kind)
    for layer in network.layers:
        layer_type = layer.WhichOneof("layer")
        if layer_type not in TRANSLATIONS:
            msg = (
                f"layer '{layer.name}' ({layer_type}) has no ML Program translation; convert handles "
                f"{', '.join(sorted(TRANSLATIONS))}"
            )
            raise UnsupportedLayerError(msg)
    ct = _coreml.coremltools()
    program, inputs = _program(model, network)
    options: dict[str, Any] = {}
    if kind == "neuralNetworkClassifier":
        options["classifier_config"] = ct.ClassifierConfig(
            list(model.class_labels or ()),
            predicted_feature_name=spec.description.predictedFeatureName or "classLabel",
            predicted_probabilities_output=spec.description.predictedProbabilitiesName or None,
        )
    with contextlib.redirect_stderr(io.StringIO()):  # coremltools' per-pass progress bars
        mlmodel = ct.convert(
            program,
            convert_to="mlprogram",
            inputs=inputs,
            minimum_deployment_target=getattr(ct.target, target),
            compute_precision=ct.precision.FLOAT16 if precision == "float16" else ct.precision.FLOAT32,
            skip_model_load=True,
            pass_pipeline=_pipeline(ct),
            **options,
        )
    _copy_description(spec, mlmodel)
    staging = target_path.with_name(f".{target_path.stem}-converting.mlpackage")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        mlmodel.save(os.fspath(staging))
        _keep_output_names(staging, spec)
        if target_path.exists():
            shutil.rmtree(target_path)
        staging.rename(target_path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return load(target_path)


#: coremltools passes that would change the arithmetic or merge weights (folding a batchnorm
#: into the convolution before it, deduplicating equal constants...): the program keeps one
#: operation per layer and one constant per weight, so it computes what the .mlmodel computes,
#: to the bit in float32, and a weight has the same name and values in both formats.
_REWRITING_PASSES = tuple(
    f"common::{name}"
    for name in (
        "const_deduplication", "divide_to_multiply", "fuse_matmul_weight_bias", "fuse_linear_bias",
        "fuse_gelu_tanh_approximation", "fuse_gelu_exact", "fuse_leaky_relu", "merge_consecutive_paddings",
        "fuse_pad_conv", "fuse_dilated_conv", "fuse_conv_scale", "fuse_conv_bias", "fuse_onehot_matmul_to_gather",
        "fuse_layernorm_or_instancenorm", "fuse_elementwise_to_batchnorm", "fuse_reduce_mean",
        "fuse_conv_batchnorm", "concat_to_pixel_shuffle", "fuse_prelu", "prelu_to_lrelu",
    )
)


def _pipeline(ct: Any) -> Any:
    pipeline = ct.PassPipeline.DEFAULT
    pipeline.remove_passes([name for name in _REWRITING_PASSES if name in pipeline.passes])
    return pipeline


def _keep_output_names(package: Path, spec: Any) -> None:
    """Give the saved classifier's probability output the NeuralNetwork model's name (``prob``).

    coremltools names it ``<label output>_probs``; code written against the ``.mlmodel`` reads
    the original name.
    """
    ct = _coreml.coremltools()
    wanted = spec.description.predictedProbabilitiesName
    file = package / "Data" / "com.apple.CoreML" / "model.mlmodel"
    converted = _coreml.new_spec()
    converted.ParseFromString(file.read_bytes())
    current = converted.description.predictedProbabilitiesName
    if not wanted or not current or wanted == current:
        return
    if any(feature.name == wanted for feature in converted.description.output):
        return
    ct.utils.rename_feature(converted, current, wanted)
    file.write_bytes(converted.SerializeToString(deterministic=True))


def _copy_description(spec: Any, mlmodel: Any) -> None:
    """Carry the NeuralNetwork model's metadata into the program (coremltools' public setters)."""
    metadata = spec.description.metadata
    mlmodel.author = metadata.author
    mlmodel.license = metadata.license
    mlmodel.short_description = metadata.shortDescription
    mlmodel.version = metadata.versionString
    mlmodel.user_defined_metadata.update(dict(metadata.userDefined))


def _program(model: Model, network: Any) -> tuple[Any, list[Any]]:
    """The MIL program for ``network`` and the input types ``ct.convert`` should declare."""
    ct = _coreml.coremltools()
    from coremltools.converters.mil import Builder as mb

    description = model.spec.description
    if len(description.input) != 1:
        msg = f"convert handles models with one input (this one has {len(description.input)})"
        raise UnsupportedModelError(msg)
    feature = description.input[0]
    shape, input_type, prepare = _input(feature, network)
    weights = {(w.layer, w.field): w for w in model.weights if w.network == 0}

    def weight(layer: Any, field: str) -> np.ndarray:
        return np.asarray(model.read(weights[(layer.name, field)]), dtype=np.float32)

    from coremltools.converters.mil.mil import Function, Program

    with Function({feature.name: mb.placeholder(shape=shape)}, opset_version=ct.target.iOS15) as function:
        blobs: dict[str, Any] = {feature.name: prepare(function.inputs[feature.name])}
        for layer in network.layers:
            layer_type = layer.WhichOneof("layer")
            sources = [blobs[name] for name in layer.input]
            results = TRANSLATIONS[layer_type](Layer(layer, getattr(layer, layer_type), sources, weight))
            for name, value in zip(layer.output, results, strict=True):
                blobs[name] = value
        names = [o.name for o in description.output if o.name in blobs]
        if not names:
            names = [network.layers[-1].output[0]]
        function.set_outputs([_named(mb, blobs[name], name) for name in names])
    program = Program()
    program.add_function("main", function)
    return program, [input_type(ct)]


def _named(mb: Any, value: Any, name: str) -> Any:
    return mb.identity(x=value, name=name) if value.name != name else value


def _input(feature: Any, network: Any) -> tuple[tuple[int, ...], Callable[[Any], Any], Callable[[Any], Any]]:
    """The program's input shape, its coremltools input type and the preprocessing ops."""
    from coremltools.converters.mil import Builder as mb

    kind = feature.type.WhichOneof("Type")
    if kind == "imageType":
        image = feature.type.imageType
        layout = _COLOR_LAYOUTS.get(int(image.colorSpace))
        if layout is None:
            msg = f"input '{feature.name}': color space {image.colorSpace} cannot be converted"
            raise UnsupportedModelError(msg)
        channels = 1 if layout == "G" else 3
        shape: tuple[int, ...] = (1, channels, int(image.height), int(image.width))
        pre = next((p for p in network.preprocessing if p.featureName in {"", feature.name}), None)

        def image_type(ct: Any) -> Any:
            return ct.ImageType(name=feature.name, shape=shape, color_layout=layout, channel_first=True)

        def prepare(x: Any) -> Any:
            if pre is None:
                return x
            which = pre.WhichOneof("preprocessor")
            if which == "meanImage":
                mean = np.asarray(pre.meanImage.meanImage, np.float32).reshape(1, *shape[1:])
                return mb.sub(x=x, y=mb.const(val=mean, name="mean_image"), name="preprocessed")
            scaler = pre.scaler
            if channels == 1:
                bias = np.array([scaler.grayBias], np.float32)
            elif layout == "RGB":
                bias = np.array([scaler.redBias, scaler.greenBias, scaler.blueBias], np.float32)
            else:
                bias = np.array([scaler.blueBias, scaler.greenBias, scaler.redBias], np.float32)
            scale = np.float32(scaler.channelScale or 1.0)
            scaled = mb.mul(x=x, y=scale, name="scaled") if scale != 1.0 else x
            return mb.add(x=scaled, y=bias.reshape(1, -1, 1, 1), name="preprocessed")

        return shape, image_type, prepare
    if kind == "multiArrayType":
        dims = tuple(int(n) for n in feature.type.multiArrayType.shape)
        if len(dims) not in {1, 3}:
            msg = f"input '{feature.name}': convert handles rank-1 and rank-3 arrays (got shape {dims})"
            raise UnsupportedModelError(msg)
        shape = (1, *dims)

        def tensor_type(ct: Any) -> Any:
            return ct.TensorType(name=feature.name, shape=shape)

        def expand(x: Any) -> Any:
            return mb.reshape(x=x, shape=(1, dims[0], 1, 1)) if len(dims) == 1 else x

        return shape, tensor_type, expand
    msg = f"input '{feature.name}' is a {kind}; convert handles image and multi-array inputs"
    raise UnsupportedModelError(msg)
