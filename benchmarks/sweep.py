"""The whole sweep on the food model: full and --fast, wall time, peak memory, work done.

Runs ``mlquant sweep`` as a user would (a separate process each, no cache) on
``../shared/food``: the default 27-candidate grid, then the same with ``--fast``, and prints
for each the wall time, the process's peak resident memory, how many image-evaluations it
spent and the chosen model.

Floors (issue 4): full sweep under 3 minutes; --fast under one third of the full sweep's
time with the same chosen model; peak memory under 2 GB.

Usage: python benchmarks/sweep.py [model.mlmodel data_folder]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FOOD = Path(__file__).resolve().parents[2] / "shared" / "food"


def run(arguments: list[str]) -> tuple[float, float, dict]:
    """Run the command line; return (seconds, peak resident MB, its JSON output)."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "mlquant", *arguments], stdout=subprocess.PIPE, text=True)
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"mlquant {' '.join(arguments)} failed")
    return seconds, usage.ru_maxrss / 1024, json.loads(output)


def main() -> None:
    model = Path(sys.argv[1]) if len(sys.argv) > 2 else FOOD / "food.mlmodel"
    data = Path(sys.argv[2]) if len(sys.argv) > 2 else FOOD / "testing_data"
    with tempfile.TemporaryDirectory() as folder:
        common = [str(model), "--data", str(data), "--no-cache", "--quiet", "--json", "--backend", "reference"]
        full = run(["sweep", *common, "--out", str(Path(folder) / "full")])
        fast = run(["sweep", *common, "--out", str(Path(folder) / "fast"), "--fast"])
    print(f"model: {model}\ndata: {data}\n")
    print(f"{'sweep':<8}{'seconds':>10}{'peak MB':>10}{'image-evaluations':>20}  chosen")
    for name, (seconds, peak, payload) in (("full", full), ("--fast", fast)):
        print(f"{name:<8}{seconds:>10.1f}{peak:>10.0f}{payload['inputs_evaluated']:>20,}  {payload['chosen']}")
    same = full[2]["chosen"] == fast[2]["chosen"]
    print(f"\nfull sweep: {full[0]:.1f} s (floor 180 s); --fast / full time: {fast[0] / full[0]:.2f} (floor 0.33); "
          f"same chosen model: {'yes' if same else 'NO'}; peak memory {max(full[1], fast[1]):.0f} MB (floor 2048 MB)")


if __name__ == "__main__":
    main()
