"""Timing shared by the runtime benchmarks: each engine's best call, calls alternating."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable


def best_rates(engines: dict[str, Callable[[], object]], batch: int, seconds: float) -> dict[str, float]:
    """Images per second of each engine: its best call, calls alternating until ``seconds`` pass."""
    best = dict.fromkeys(engines, float("inf"))
    for run in engines.values():
        run()  # warm up
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for name, run in engines.items():
            time.sleep(0.05)  # let the other engine's worker threads stop spinning
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: batch / t for name, t in best.items()}


def blas() -> str:
    """numpy's BLAS as threadpoolctl sees it (library, version, kernels), and the CPU's AVX-512 support.

    The matrix products dominate both runtimes, so the kernels OpenBLAS runs decide most of the
    ratio to onnxruntime (whose MLAS picks its own): OpenBLAS picks them for the CPU when it
    loads, unless ``OPENBLAS_CORETYPE`` in the environment forces others (``Haswell``: AVX2
    kernels, about half the speed of the ``SkylakeX`` AVX-512 ones on a CPU that has AVX-512).
    """
    import numpy  # noqa: F401  (loads the BLAS threadpoolctl looks for)
    from threadpoolctl import threadpool_info

    found = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not found:
        return "BLAS: none found by threadpoolctl"
    info = next((i for i in found if "numpy" in str(i.get("filepath"))), found[0])  # not scipy's copy
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            avx512 = " avx512f" in cpuinfo.read()
    except OSError:
        avx512 = None
    support = {True: "the CPU has AVX-512", False: "the CPU has no AVX-512", None: "CPU flags unknown"}[
        avx512
    ]
    forced = os.environ.get("OPENBLAS_CORETYPE")
    return (
        f"BLAS: {info.get('internal_api')} {info.get('version')}, {info.get('architecture')} kernels"
        f"{f' (OPENBLAS_CORETYPE={forced})' if forced else ''}; {support}"
    )


def with_own_blas_kernels(arguments: list[str]) -> None:
    """Run this script again with OpenBLAS choosing its kernels for the CPU, and print what it prints.

    Only when ``OPENBLAS_CORETYPE`` is set (the child runs without it, with ``--no-own-blas`` so it
    does not recurse): the same benchmark in one run under both kernel choices, side by side.
    """
    forced = os.environ.get("OPENBLAS_CORETYPE")
    if not forced:
        return
    env = {name: value for name, value in os.environ.items() if name != "OPENBLAS_CORETYPE"}
    print(
        f"\nThe same, without OPENBLAS_CORETYPE={forced} (OpenBLAS picks the kernels for this CPU):",
        flush=True,
    )
    done = subprocess.run(
        [sys.executable, sys.argv[0], *arguments, "--no-own-blas"], env=env, text=True, capture_output=True
    )
    print(done.stdout, end="")
    if done.returncode:
        print(done.stderr[-2000:], end="")
