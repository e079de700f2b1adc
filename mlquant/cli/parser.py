"""The ``mlquant`` command line.

Every subcommand is a thin layer over the library (see :mod:`.commands`). Exit codes: 0
success, 1 no candidate meets the tolerance, 2 bad usage or input (one line on stderr, never a
traceback), 3 an internal error (a bug in mlquant: one line naming where, the traceback with
``--debug``). Any other unexpected exception still shows its traceback: that is a bug too.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TextIO

from .._version import __version__
from ..errors import InternalError, MlquantError, MlquantWarning
from ..evaluate import CoreMLBackend
from ..evaluate.preprocess import CROP_MODES, RESAMPLING
from ..formats.convert import PRECISIONS, TARGETS
from ..quantize import BUILT_IN
from ..select import MAX_CLASS_DROP, MAX_MEAN_DROP
from ..workflow.grid import DEFAULT_METHODS, DEFAULT_WIDTHS
from . import commands as _commands

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(_commands.EXIT_USAGE, f"{self.prog}: error: {message}\n")


def limit(text: str) -> float | None:
    """A tolerance in points: a number 0-100, or ``none`` (``off``, or any negative number) for no limit."""
    if text.strip().lower() in {"none", "off", "no"}:
        return None
    try:
        value = float(text)
    except ValueError:
        msg = f"expected a number of points or 'none' (got {text!r})"
        raise argparse.ArgumentTypeError(msg) from None
    return None if value < 0 else value


def widths(text: str) -> tuple[int, ...]:
    """Comma-separated bit widths, each 1-8 or 16, none empty: ``8,6,4``."""
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        msg = f"expected comma-separated widths such as 8,6,4, with no empty entries (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    try:
        values = tuple(int(part) for part in parts)
    except ValueError:
        msg = f"expected comma-separated whole numbers such as 8,6,4 (got {text!r})"
        raise argparse.ArgumentTypeError(msg) from None
    wrong = [n for n in values if not (1 <= n <= 8 or n == 16)]
    if wrong:
        msg = f"widths must be 1-8 or 16 (got {', '.join(map(str, wrong))})"
        raise argparse.ArgumentTypeError(msg)
    return values


def methods(text: str) -> tuple[str, ...]:
    """Comma-separated method names, none empty, each one mlquant knows."""
    parts = tuple(part.strip() for part in text.split(","))
    known = (*BUILT_IN, "linear_symmetric")
    if not all(parts):
        msg = f"expected comma-separated methods such as linear,kmeans_lut, with no empty entries (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    unknown = [p for p in parts if p not in known]
    if unknown:
        msg = f"unknown method {', '.join(map(repr, unknown))}; known methods: {', '.join(known)}"
        raise argparse.ArgumentTypeError(msg)
    return parts


def _selection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("which weights to quantize (default: all but biases)")
    group.add_argument("--layer-type", action="append", metavar="TYPE", help="only layers of this type (repeatable)")
    group.add_argument("--only", action="append", metavar="PATTERN", help="only layers whose name matches this glob")
    group.add_argument("--exclude", action="append", metavar="PATTERN", help="skip layers whose name matches this glob")
    group.add_argument("--min-count", type=int, default=0, metavar="N", help="skip weights with fewer than N values")
    group.add_argument("--biases", action="store_true", help="quantize bias vectors too (default: keep them float32)")
    group.add_argument("--make-non-updatable", action="store_true",
                       help="switch off on-device training so updatable layers can be quantized too "
                            "(default: keep their weights float32, as Core ML requires)")


def _evaluation_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("how models are run")
    group.add_argument("--backend", choices=["auto", "reference", "coreml", "onnxruntime"], default="auto",
                       help="auto: Core ML on macOS, the reference runtime elsewhere; onnxruntime: the model "
                            "translated to ONNX, the reference runtime's results faster (needs mlquant[onnxruntime])")
    group.add_argument("--compute-units", default="ALL", choices=CoreMLBackend.COMPUTE_UNITS,
                       help="Core ML compute units (with --backend coreml)")
    group.add_argument("--providers", metavar="LIST",
                       help="comma-separated onnxruntime execution providers, in order of preference "
                            "(with --backend onnxruntime; default: CPUExecutionProvider)")
    group.add_argument("--float16", action="store_true", help="reference runtime rounding activations to float16")
    group.add_argument("--float32", action="store_true",
                       help="reference runtime (or onnxruntime) computing an ML Program entirely in float32 "
                            "(default: in the program's own precision, fp16 where it says fp16)")
    group.add_argument("--crop", choices=CROP_MODES, default="centerCrop", help="Vision's crop-and-scale option")
    group.add_argument("--resample", choices=RESAMPLING, default="bilinear", help="resampling filter")
    group.add_argument("--batch-size", type=int, default=32, help="inputs per batch (default: 32)")
    group.add_argument("--strict", action="store_true", help="fail on unusable files instead of skipping them")
    group.add_argument("--label-map", metavar="FILE",
                       help="JSON object mapping class folder names to model labels, for folders that match none")
    group.add_argument("--quiet", action="store_true", help="no progress bar")


def _tolerance_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("tolerance (percentage points; 'none' switches a limit off)")
    group.add_argument("--max-drop", type=limit, default=MAX_MEAN_DROP, metavar="POINTS",
                       help=f"largest mean drop over classes (default: {MAX_MEAN_DROP:g})")
    group.add_argument("--max-class-drop", type=limit, default=MAX_CLASS_DROP, metavar="POINTS",
                       help=f"largest drop of any class (default: {MAX_CLASS_DROP:g})")
    group.add_argument("--metric", choices=["accuracy", "agreement"], default="accuracy",
                       help="accuracy against labels, or agreement with the float model")
    group.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _target_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", choices=list(TARGETS), default=None,
                        help="latest deployment target the candidates may need, e.g. iOS18 (adds an ML Program's "
                             "grouped-channel tables and per-block linear candidates; default: iOS17, or the "
                             "model's own target if later)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``mlquant``."""
    parser = _Parser(prog="mlquant", description="Make Core ML models small without losing accuracy.")
    parser.add_argument("--version", action="version", version=f"mlquant {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    inspect = commands.add_parser("inspect", help="list a model's layers, weights and storage")
    inspect.add_argument("model", help="a .mlmodel file or an .mlpackage folder")
    inspect.add_argument("--json", action="store_true", help="print JSON instead of a table")
    inspect.set_defaults(run=_commands.inspect)

    quant = commands.add_parser("quantize", help="quantize a model's weights and save the result")
    quant.add_argument("model", help="a .mlmodel file or an .mlpackage folder")
    quant.add_argument("--method", default="kmeans_lut", choices=[*BUILT_IN, "linear_symmetric"],
                       help="quantization function (default: kmeans_lut)")
    quant.add_argument("--nbits", type=int, default=None,
                       help="bits per weight: 1-8, or 16 for float16 (default: 8, and 16 for --method float16)")
    quant.add_argument("-o", "--output", help="output file, or .mlpackage folder for an ML Program "
                       "(default: <model>_<method>_<nbits>.mlmodel or .mlpackage beside the input)")
    quant.add_argument("--group-size", type=int, metavar="N",
                       help="one look-up table per group of N output channels (ML Programs from iOS18; "
                            "table methods only; default: one table per tensor)")
    quant.add_argument("--block-size", type=int, metavar="N",
                       help="linear scales per block of N input values (ML Programs from iOS18; linear only; "
                            "default: per output channel)")
    quant.add_argument("--force", action="store_true", help="allow overwriting the input file")
    quant.add_argument("--json", action="store_true", help="print the result as JSON")
    quant.add_argument("--calibration-data", metavar="DIR",
                       help="quantize data-aware: calibrate on (a stratified sample of 256 of) these images first")
    _selection_options(quant)
    quant.set_defaults(run=_commands.quantize_command)

    conv = commands.add_parser("convert", help="rewrite a NeuralNetwork .mlmodel as an ML Program .mlpackage")
    conv.add_argument("model", help="a NeuralNetwork .mlmodel file")
    conv.add_argument("output", nargs="?", help="the .mlpackage to write (default: <model>.mlpackage beside the input)")
    conv.add_argument("--precision", choices=PRECISIONS, default="float32",
                      help="compute precision of the program (default: float32, the .mlmodel's own arithmetic)")
    conv.add_argument("--target", choices=list(TARGETS), default="iOS15",
                      help="lowest deployment target to declare (default: iOS15; quantizing raises it as needed)")
    conv.add_argument("--force", action="store_true", help="replace an existing package")
    conv.set_defaults(run=_commands.convert_command)

    evaluate = commands.add_parser("evaluate", help="per-class accuracy of models on a folder of labelled images")
    evaluate.add_argument("models", nargs="+", help=".mlmodel files or .mlpackage folders; the first is the reference for agreement")
    evaluate.add_argument("--data", required=True, help="folder of class folders (or of unlabelled images)")
    evaluate.add_argument("--csv", help="write results here (one model per row)")
    evaluate.add_argument("--json-out", help="write full results (every prediction) here")
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _evaluation_options(evaluate)
    evaluate.set_defaults(run=_commands.evaluate)

    sweep = commands.add_parser("sweep", help="quantize a grid, evaluate every candidate, choose the Goldilocks model")
    sweep.add_argument("model", help="the float .mlmodel file or .mlpackage folder")
    sweep.add_argument("--data", required=True, help="folder of class folders of test images")
    sweep.add_argument("--out", help="output folder (default: <model>-sweep in the current folder)")
    sweep.add_argument("--methods", type=methods, default=DEFAULT_METHODS, metavar="LIST",
                       help=f"comma-separated methods (default: {','.join(DEFAULT_METHODS)})")
    sweep.add_argument("--nbits", type=widths, default=DEFAULT_WIDTHS, metavar="LIST",
                       help=f"comma-separated widths; 16 is float16 (default: {','.join(map(str, DEFAULT_WIDTHS))})")
    sweep.add_argument("--fast", action="store_true", help="stop hopeless candidates early, stop at the first that passes")
    sweep.add_argument("--no-cache", action="store_true", help="evaluate everything again")
    sweep.add_argument("--mixed", action="store_true", help="also search a per-layer mixed-precision plan")
    sweep.add_argument("--data-aware", action="store_true",
                       help="also try each quantizer calibrated on images (half of --data, stratified, unless "
                            "--calibration-data); candidates are then judged on the other half")
    sweep.add_argument("--calibration-data", metavar="DIR",
                       help="with --data-aware: calibrate on this folder and judge on all of --data")
    where = sweep.add_argument_group("where candidates are evaluated").add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="evaluate on N local processes, one shard of the data per task (same results)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="evaluate on a running Dask distributed cluster, e.g. tcp://host:8786 (needs "
                            "mlquant[distributed]; the workers must see --data at the same path)")
    _target_option(sweep)
    _tolerance_options(sweep)
    _evaluation_options(sweep)
    _selection_options(sweep)
    sweep.set_defaults(run=_commands.run_sweep)

    select = commands.add_parser("select", help="choose again from a sweep's results.json with another tolerance")
    select.add_argument("results", help="a sweep's results.json")
    _tolerance_options(select)
    select.set_defaults(run=_commands.select)

    demo = commands.add_parser("demo", help="build a small digits classifier and sweep it (needs no files)")
    demo.add_argument("--out", default="mlquant-demo", help="output folder (default: mlquant-demo)")
    demo.add_argument("--fast", action="store_true", help="stop hopeless candidates early")
    _target_option(demo)
    demo.add_argument("--format", choices=("neuralnetwork", "mlprogram"), default="neuralnetwork",
                      help="sweep the digits model as a NeuralNetwork .mlmodel or as an ML Program .mlpackage "
                           "(converted with mlquant convert; default: neuralnetwork)")
    _tolerance_options(demo)
    _evaluation_options(demo)
    demo.set_defaults(run=_commands.demo)
    return parser


@contextlib.contextmanager
def _notes(command: str) -> Iterator[None]:
    """Print each :class:`MlquantWarning` as one ``mlquant <command>: note: ...`` line on stderr."""
    shown = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: TextIO | None = None, line: str | None = None) -> None:
        if issubclass(category, MlquantWarning):
            print(f"mlquant {command}: note: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.simplefilter("always", MlquantWarning)
        warnings.showwarning = show
        yield


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        with _notes(args.command):
            return run(args)
    except BrokenPipeError:  # the reader of our output went away (| head): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return _commands.EXIT_OK
    except InternalError as error:
        if args.debug:
            raise
        print(f"mlquant {args.command}: internal error (a bug in mlquant; please report it with the "
              f"output of --debug): {error}", file=sys.stderr)
        return _commands.EXIT_INTERNAL
    except MlquantError as error:
        print(f"mlquant {args.command}: error: {error}", file=sys.stderr)
        return _commands.EXIT_USAGE
    except KeyboardInterrupt:
        print(f"mlquant {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
