"""ML Program packages end to end: load, quantize at 4 bits and save a 25 MB package, beside coremltools.

Builds a float32 and a float16 package of six 1024x1024 linear layers with coremltools' MIL
Builder (about 25 MB and 12.6 MB), then for each:

* mlquant: ``load`` + ``quantize(LinearLUTQuantizer(4))`` + ``save`` (wall time, coremltools'
  one-off import excluded and reported apart);
* coremltools: ``palettize_weights`` in ``uniform`` mode, 4 bits, per tensor + ``save``;

and prints both times and package sizes, and whether the dequantized weights are identical.

Usage: python benchmarks/mlprogram_package.py
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import mlquant


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    import coremltools as ct
    import coremltools.optimize.coreml as cto
    from coremltools.converters.mil import Builder as mb

    print(f"importing coremltools: {time.perf_counter() - start:.2f} s (once per process, not counted below)")
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((1024, 1024)).astype(np.float32) for _ in range(6)]

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 1024))], opset_version=ct.target.iOS16)
    def prog(x):  # type: ignore[no-untyped-def]
        for i, w in enumerate(weights):
            x = mb.relu(x=mb.linear(x=x, weight=w, name=f"fc{i}"))
        return x

    folder = Path(tempfile.mkdtemp())
    try:
        for precision in ("fp32", "fp16"):
            chosen = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
            source = folder / f"{precision}.mlpackage"
            ct.convert(prog, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS16,
                       compute_precision=chosen).save(str(source))
            start = time.perf_counter()
            model = mlquant.load(source)
            small = mlquant.quantize(model, mlquant.LinearLUTQuantizer(4))
            ours = small.save(folder / f"{precision}_mlquant.mlpackage")
            ours_time = time.perf_counter() - start
            start = time.perf_counter()
            config = cto.OptimizationConfig(global_config=cto.OpPalettizerConfig(mode="uniform", nbits=4))
            theirs = folder / f"{precision}_coremltools.mlpackage"
            cto.palettize_weights(ct.models.MLModel(str(source), skip_model_load=True), config).save(str(theirs))
            theirs_time = time.perf_counter() - start
            a, b = mlquant.load(ours), mlquant.load(theirs)
            same = all(np.array_equal(a.read(w), b.read(w)) for w in a.weights)
            print(f"{precision}: input {_size(source) / 1e6:.1f} MB; mlquant {ours_time:.2f} s, {_size(ours):,} bytes; "
                  f"coremltools {theirs_time:.2f} s, {_size(theirs):,} bytes; size ratio "
                  f"{_size(ours) / _size(theirs):.4f}; identical weights: {same}")
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
