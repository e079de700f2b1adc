"""Small ML Programs built on the fly with coremltools' MIL Builder, and coremltools' reading of them.

Every package is built with coremltools (``ct.convert(prog, convert_to="mlprogram")``) and
compressed with ``coremltools.optimize.coreml``, so each constexpr form is exactly what
coremltools writes. :func:`coremltools_constants` is the oracle: coremltools' own MIL loader
and each op's ``materialized_val_inference``.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

logging.getLogger("coremltools").setLevel(logging.ERROR)

RNG_SEED = 0


def _ct() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import coremltools as ct
    return ct


def conv_program(target: Any, *, channels: int = 16, classes: int = 10) -> Any:
    """conv (with bias) -> relu -> batch_norm -> linear: the weights every test quantizes."""
    ct = _ct()
    from coremltools.converters.mil import Builder as mb

    rng = np.random.default_rng(RNG_SEED)
    conv = rng.standard_normal((channels, 8, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(channels).astype(np.float32)
    fc = rng.standard_normal((classes, channels * 36)).astype(np.float32)
    mean, var = rng.standard_normal(channels).astype(np.float32), rng.random(channels).astype(np.float32) + 0.5
    del ct

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 8, 8, 8))], opset_version=target)
    def prog(x: Any) -> Any:
        y = mb.conv(x=x, weight=conv, bias=bias, name="conv1")
        y = mb.relu(x=y, name="relu")
        y = mb.batch_norm(x=y, mean=mean, variance=var, gamma=var, beta=mean, name="bn")
        y = mb.reshape(x=y, shape=(1, -1), name="flat")
        return mb.linear(x=y, weight=fc, name="fc")

    return prog


def convert(prog: Any, target: Any, precision: str) -> Any:
    """An MLModel converted from a MIL program, quietly."""
    ct = _ct()
    chosen = ct.precision.FLOAT16 if precision == "fp16" else ct.precision.FLOAT32
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ct.convert(prog, convert_to="mlprogram", minimum_deployment_target=target, compute_precision=chosen)


def compressed(model: Any, config: Any, *, joint: bool = False) -> Any:
    """``model`` compressed by coremltools.optimize.coreml with one global op config."""
    import coremltools.optimize.coreml as cto

    make = {
        cto.OpLinearQuantizerConfig: cto.linear_quantize_weights,
        cto.OpPalettizerConfig: cto.palettize_weights,
        cto.OpMagnitudePrunerConfig: cto.prune_weights,
    }[type(config)]
    options = {"joint_compression": True} if joint else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make(model, cto.OptimizationConfig(global_config=config), **options)


def save(model: Any, path: Path) -> Path:
    """Save an MLModel as a package; return its path."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(str(path))
    return path


def coremltools_constants(path: Path) -> dict[str, np.ndarray]:
    """Output name -> value of every const and constexpr op of ``main``, as coremltools computes it."""
    ct = _ct()
    from coremltools.converters.mil.frontend.milproto.load import load as milproto_load

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ct.models.MLModel(str(path), skip_model_load=True)
        spec = model.get_spec()
        program = milproto_load(model_spec=spec, specification_version=spec.specificationVersion,
                                file_weights_dir=model.weights_dir)
    found: dict[str, np.ndarray] = {}

    def walk(block: Any) -> None:
        for op in block.operations:
            if op.op_type == "const":
                found[op.outputs[0].name] = np.asarray(op.outputs[0].val)
            elif op.op_type.startswith("constexpr_"):
                values = _materialized(op, found)
                for out, value in zip(op.outputs, values if isinstance(values, tuple) else (values,)):
                    found[out.name] = np.asarray(value)
            for inner in op.blocks:
                walk(inner)

    walk(program.functions["main"])
    return found


def _materialized(op: Any, found: dict[str, np.ndarray]) -> Any:
    """An op's ``materialized_val_inference``; where an input is another constexpr's output (which
    coremltools leaves without a value), the op's own ``decompress`` with that output's value."""
    import inspect

    if all(var.val is not None for var in op.inputs.values()):
        return op.materialized_val_inference()
    names = inspect.signature(type(op).decompress).parameters
    args = {key: (found[var.name] if var.val is None else var.val) for key, var in op.inputs.items()}
    return type(op).decompress(**{key: args.get(key) for key in names})


def build_all(folder: Path) -> dict[str, Path]:
    """Every package the ML Program tests read: plain and compressed by coremltools in each form."""
    ct = _ct()
    import coremltools.optimize.coreml as cto

    ios16, ios18 = ct.target.iOS16, ct.target.iOS18
    base = {
        "fp32_16": convert(conv_program(ios16), ios16, "fp32"),
        "fp16_16": convert(conv_program(ios16), ios16, "fp16"),
        "fp16_18": convert(conv_program(ios18), ios18, "fp16"),
        "fp32_18": convert(conv_program(ios18), ios18, "fp32"),
        "fp32_15": convert(conv_program(ct.target.iOS15), ct.target.iOS15, "fp32"),
    }
    paths = {name: save(model, folder / f"{name}.mlpackage") for name, model in base.items()}
    t = {"weight_threshold": 100}
    forms = {
        "linear_channel_16": ("fp16_16", cto.OpLinearQuantizerConfig(mode="linear", **t)),
        "symmetric_tensor_16": ("fp32_16", cto.OpLinearQuantizerConfig(mode="linear_symmetric", granularity="per_tensor", **t)),
        "palettize4_16": ("fp16_16", cto.OpPalettizerConfig(mode="uniform", nbits=4, **t)),
        "palettize2_fp32_16": ("fp32_16", cto.OpPalettizerConfig(mode="kmeans", nbits=2, **t)),
        "palettize6_16": ("fp16_16", cto.OpPalettizerConfig(mode="uniform", nbits=6, **t)),
        "prune_16": ("fp16_16", cto.OpMagnitudePrunerConfig(target_sparsity=0.5, **t)),
        "block_int4_18": ("fp16_18", cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int4",
                                                                  granularity="per_block", block_size=8, **t)),
        "block_uint4_fp32_18": ("fp32_18", cto.OpLinearQuantizerConfig(mode="linear", dtype="uint4",
                                                                        granularity="per_block", block_size=12, **t)),
        "grouped3_18": ("fp16_18", cto.OpPalettizerConfig(mode="kmeans", nbits=3, granularity="per_grouped_channel",
                                                          group_size=4, **t)),
        "grouped1_18": ("fp32_18", cto.OpPalettizerConfig(mode="uniform", nbits=1, granularity="per_grouped_channel",
                                                          group_size=2, **t)),
        "vector_18": ("fp16_18", cto.OpPalettizerConfig(mode="kmeans", nbits=2, cluster_dim=2, **t)),
        "prune_18": ("fp16_18", cto.OpMagnitudePrunerConfig(target_sparsity=0.5, **t)),
    }
    made: dict[str, Any] = {}
    for name, (source, config) in forms.items():
        made[name] = compressed(base[source], config)
        paths[name] = save(made[name], folder / f"{name}.mlpackage")
    joint = {
        "prune_palettize_18": cto.OpPalettizerConfig(mode="uniform", nbits=4, **t),
        "prune_quantize_18": cto.OpLinearQuantizerConfig(mode="linear", **t),
    }
    for name, config in joint.items():
        paths[name] = save(compressed(made["prune_18"], config, joint=True), folder / f"{name}.mlpackage")
    palettized = compressed(base["fp16_18"], cto.OpPalettizerConfig(mode="uniform", nbits=4, **t))
    quantized_tables = cto.OpLinearQuantizerConfig(mode="linear", granularity="per_tensor", weight_threshold=1)
    paths["palettize_quantize_18"] = save(compressed(palettized, quantized_tables, joint=True),
                                          folder / "palettize_quantize_18.mlpackage")
    paths["cast_16"] = save(convert(_cast_program(ios16), ios16, "fp32"), folder / "cast_16.mlpackage")
    paths["layers_16"] = save(convert(_layers_program(ios16), ios16, "fp32"), folder / "layers_16.mlpackage")
    return paths


def _cast_program(target: Any) -> Any:
    """A float32 program whose linear weight is a float16 constant cast by ``constexpr_cast``."""
    from coremltools.converters.mil import Builder as mb

    weight = np.random.default_rng(1).standard_normal((6, 20)).astype(np.float16)

    @mb.program(input_specs=[mb.TensorSpec(shape=(2, 20))], opset_version=target)
    def prog(x: Any) -> Any:
        w = mb.constexpr_cast(source_val=weight, output_dtype="fp32", name="w_cast")
        return mb.linear(x=x, weight=w, name="fc")

    return prog


def _layers_program(target: Any) -> Any:
    """Weights of matmul, layer_norm, gather (embedding) and lstm, for weight discovery."""
    from coremltools.converters.mil import Builder as mb

    rng = np.random.default_rng(2)
    table = rng.standard_normal((30, 12)).astype(np.float32)
    mat = rng.standard_normal((12, 16)).astype(np.float32)
    gamma, beta = rng.standard_normal(16).astype(np.float32), rng.standard_normal(16).astype(np.float32)
    w_ih = rng.standard_normal((4 * 5, 16)).astype(np.float32)
    w_hh = rng.standard_normal((4 * 5, 5)).astype(np.float32)
    bias = rng.standard_normal(4 * 5).astype(np.float32)

    @mb.program(input_specs=[mb.TensorSpec(shape=(3, 1), dtype=_ct().converters.mil.mil.types.int32)],
                opset_version=target)
    def prog(ids: Any) -> Any:
        e = mb.gather(x=table, indices=mb.squeeze(x=ids, axes=[1]), axis=0, name="embed")
        m = mb.matmul(x=e, y=mat, name="proj")
        n = mb.layer_norm(x=m, axes=[-1], gamma=gamma, beta=beta, name="norm")
        seq = mb.expand_dims(x=n, axes=[1])
        h0 = np.zeros((1, 5), np.float32)
        out, _, _ = mb.lstm(x=seq, initial_h=h0, initial_c=h0, weight_ih=w_ih, weight_hh=w_hh, bias=bias,
                            output_sequence=True, name="lstm")
        return out

    return prog
