"""What each ``mlquant`` subcommand does; :mod:`mlquant.cli` parses the arguments."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from concurrent.futures import Executor
from pathlib import Path

import attrs

from .. import _text
from .._files import check_output, load_json
from ..calibrate import calibrate
from ..errors import SettingsError
from ..evaluate import (
    Backend,
    CoreMLBackend,
    Evaluation,
    Evaluator,
    ImageFolder,
    OnnxRuntimeBackend,
    Preprocessing,
    ReferenceBackend,
    default_backend,
)
from ..evaluate.results import SUMMARY_KEYS, write_csv, write_json
from ..formats import load
from ..formats.convert import convert
from ..quantize import (
    DataAware,
    KMeansLUTQuantizer,
    LayerSelector,
    LinearLUTQuantizer,
    LinearQuantizer,
    QuantizationPlan,
    Quantizer,
    from_name,
    quantize,
)
from ..select import Selection, Selector
from ..select.text import chosen_line, summary_table, tolerance
from ..weights import PerBlock, PerGroupedChannel
from ..workflow.grid import DEFAULT_METHODS, DEFAULT_WIDTHS, GridEntry, default_grid
from ..workflow.result import SweepResult
from ..workflow.saved import read_sweep
from ..workflow.sweep import sweep
from .progress import ProgressDisplay

EXIT_OK, EXIT_NO_CANDIDATE, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def inspect(args: argparse.Namespace) -> int:
    """``mlquant inspect``: a model's layers, weights and storage."""
    model = load(args.model)
    rows = model.layer_summary()
    weight_bytes = sum(w.nbytes for w in model.weights)
    if args.json:
        layers = [attrs.asdict(r) for r in rows]
        details = {key.replace(" ", "_"): value for key, value in model.details().items()}
        print(json.dumps({"model": str(args.model), "type": model.type, **details, "size_bytes": model.size_bytes,
                          "weight_bytes": weight_bytes, "layers": layers, "problems": model.problems()}, indent=2))
        return EXIT_OK
    facts = "".join(f", {key} {value}" for key, value in model.details().items())
    print(f"{args.model}: {model.type}{facts}, {_text.size(model.size_bytes)} ({model.size_bytes:,} bytes)")
    body = [(r.layer, r.layer_type, f"{r.count:,}", r.storage, r.nbits, f"{r.nbytes:,}") for r in rows]
    print(_text.table(["layer", "type", "weights", "storage", "bits", "bytes"], body, right=(2, 4, 5)))
    print(
        f"\n{len(model.weights)} weight tensors, {sum(w.count for w in model.weights):,} values, "
        f"{weight_bytes:,} bytes; {model.size_bytes - weight_bytes:,} bytes of the file are not weights"
        + (" (the program, small constants, blob headers, manifest)" if model.suffix == ".mlpackage"
           else " (mean image, labels, layer parameters)")
    )
    found = model.problems()
    if found:
        print(f"\nCore ML's validator would reject this model ({len(found)} problem{'s' if len(found) > 1 else ''}):")
        print("\n".join(f"- {problem}" for problem in found))
    return EXIT_OK


def selector_of(args: argparse.Namespace) -> LayerSelector:
    """The layer selection the shared command-line options describe."""
    return LayerSelector(layer_types=args.layer_type or None, names=args.only or (), exclude=args.exclude or (),
                         min_count=args.min_count, biases=args.biases)


def _with_granularity(quantizer: Quantizer, group_size: int | None, block_size: int | None) -> Quantizer:
    """``quantizer`` with the granularity ``--group-size`` or ``--block-size`` names, if either."""
    if group_size is not None and block_size is not None:
        msg = "--group-size and --block-size are for different methods; give one"
        raise SettingsError(msg)
    if group_size is not None:
        if not isinstance(quantizer, LinearLUTQuantizer | KMeansLUTQuantizer):
            msg = f"--group-size applies to look-up tables (linear_lut, kmeans_lut), not {quantizer.name}"
            raise SettingsError(msg)
        return attrs.evolve(quantizer, granularity=PerGroupedChannel(group_size))
    if block_size is not None:
        if not isinstance(quantizer, LinearQuantizer):
            msg = f"--block-size applies to linear quantization, not {quantizer.name}"
            raise SettingsError(msg)
        return attrs.evolve(quantizer, granularity=PerBlock(block_size))
    return quantizer


def quantize_command(args: argparse.Namespace) -> int:
    """``mlquant quantize``: one quantized model file."""
    nbits = args.nbits if args.nbits is not None else (16 if args.method == "float16" else 8)
    quantizer: Quantizer = _with_granularity(from_name(args.method, nbits), args.group_size, args.block_size)
    name = quantizer.name if args.calibration_data is None else f"{quantizer.name}_data"
    if args.output:
        check_output(args.output, folder=Path(args.output).suffix == ".mlpackage",
                     inputs=[] if args.force else [args.model], what="-o")
    model = load(args.model)
    output = Path(args.output) if args.output else Path(args.model).with_name(f"{Path(args.model).stem}_{name}{model.suffix}")
    check_output(output, folder=output.suffix == ".mlpackage", inputs=[] if args.force else [args.model], what="-o")
    if args.calibration_data is not None:
        bar = ProgressDisplay(enabled=False if args.json else None)
        quantizer = DataAware(quantizer, calibrate(model, args.calibration_data, progress=bar))
        bar.close()
    plan = QuantizationPlan(default=quantizer, select=selector_of(args), make_non_updatable=args.make_non_updatable)
    small = quantize(model, plan)
    small.save(output, overwrite=args.force)
    if args.json:
        print(json.dumps({"output": str(output), "quantizer": name, "size_bytes": small.size_bytes,
                          "original_bytes": model.size_bytes}))
    else:
        ratio = small.size_bytes / model.size_bytes
        print(f"wrote {output}: {_text.size(small.size_bytes)} ({ratio:.1%} of {_text.size(model.size_bytes)})")
    return EXIT_OK


def convert_command(args: argparse.Namespace) -> int:
    """``mlquant convert``: a NeuralNetwork model rewritten as an ML Program."""
    output = Path(args.output) if args.output else Path(args.model).with_suffix(".mlpackage")
    model = load(args.model)
    program = convert(model, output, precision=args.precision, target=args.target, overwrite=args.force)
    print(f"wrote {output}: an ML Program ({args.precision}, {args.target}) with {len(program.weights)} weights, "
          f"{_text.size(program.size_bytes)}")
    return EXIT_OK


def _backend(args: argparse.Namespace) -> Backend:
    if args.providers and args.backend != "onnxruntime":
        msg = (f"--providers chooses onnxruntime's execution providers; give it with --backend onnxruntime "
               f"(got --backend {args.backend})")
        raise SettingsError(msg)
    if args.backend == "coreml":
        return CoreMLBackend(args.compute_units)
    if args.float16 and args.float32:
        msg = "--float16 and --float32 contradict each other; give one"
        raise SettingsError(msg)
    if args.backend == "onnxruntime":
        if args.float16:
            msg = "--float16 rounds activations in the reference runtime only; use --backend reference"
            raise SettingsError(msg)
        providers = [p.strip() for p in args.providers.split(",") if p.strip()] if args.providers else None
        return OnnxRuntimeBackend(providers=providers, precision="float32" if args.float32 else "model")
    if args.backend == "reference" or args.float16 or args.float32:
        return ReferenceBackend(precision="float16" if args.float16 else "float32" if args.float32 else "model")
    return default_backend()


def _preprocessing(args: argparse.Namespace) -> Preprocessing:
    return Preprocessing(crop=args.crop, resample=args.resample)


def evaluate(args: argparse.Namespace) -> int:
    """``mlquant evaluate``: per-class accuracy of one or more models."""
    bar = ProgressDisplay(enabled=False if args.quiet or args.json else None)
    for path, flag in ((args.csv, "--csv"), (args.json_out, "--json-out")):
        if path:
            check_output(path, data=[args.data], inputs=args.models, what=flag)
    data = _data(args)
    evaluator = Evaluator(data, backend=_backend(args), preprocessing=_preprocessing(args), batch_size=args.batch_size,
                          progress=bar)
    results: list[Evaluation] = []
    reference = None
    for path in args.models:
        model = load(path)
        result = evaluator.evaluate(model, reference=reference)
        reference = reference or result
        results.append(result)
    if args.csv:
        write_csv(results, args.csv)
    if args.json_out:
        write_json(results, args.json_out)
    if args.json:
        print(json.dumps([{"model": r.name, "size_bytes": r.size_bytes, "per_class": r.per_class,
                           **{key: getattr(r, key) for key in SUMMARY_KEYS}, "skipped": len(r.skipped)}
                          for r in results], indent=2))
        return EXIT_OK
    classes = list(results[0].classes)
    rows = [[r.name, _text.size(r.size_bytes), *[_pct(r.per_class.get(c)) for c in classes], _pct(r.accuracy),
             _pct(r.mean_class_accuracy), _pct(r.top1_agreement)] for r in results]
    headers = ["model", "size", *classes, "accuracy", "class mean", "agreement"]
    print(_text.table(headers, rows, right=tuple(range(1, len(headers)))))
    skipped = results[0].skipped
    if skipped:
        print(f"\n{len(skipped)} files skipped (e.g. {skipped[0].path.name}: {skipped[0].reason})")
    return EXIT_OK


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _selector(args: argparse.Namespace) -> Selector:
    return Selector(max_mean_drop=args.max_drop, max_class_drop=args.max_class_drop, metric=args.metric)


def _data(args: argparse.Namespace, root: str | Path | None = None) -> ImageFolder:
    """The data folder the options describe, with its label map read from ``--label-map``."""
    return ImageFolder(root if root is not None else args.data, strict=args.strict, label_map=_label_map(args.label_map))


def _label_map(path: str | None) -> dict[str, str]:
    if path is None:
        return {}
    mapping = load_json(path, lambda problem: SettingsError(f"--label-map: {problem}"))
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        msg = f'--label-map: {path} must hold one JSON object of folder names to labels, e.g. {{"hot_dog": "hot dog"}}'
        raise SettingsError(msg)
    return mapping


def _print_selection(baseline: Evaluation, selection: Selection, as_json: bool, *, complete_with: str | None = None,
                     **extra: object) -> int:
    if as_json:
        rows = [{"model": r.candidate.name, "size_bytes": r.candidate.size_bytes, "value": r.value, "mean_drop_points": r.drop,
                 "worst_class": r.worst_class, "worst_class_drop_points": r.worst_drop, "status": r.status, "reasons": list(r.reasons)}
                for r in selection.rows]
        provisional = {"provisional": selection.provisional, "incomplete": list(selection.incomplete),
                       "complete_with": complete_with if selection.provisional else None}
        print(json.dumps({"chosen": selection.chosen.name if selection.chosen else None, "reason": selection.reason,
                          **provisional, "baseline": selection.baseline, **extra, "rows": rows}, indent=2))
    else:
        print(summary_table(selection))
        print()
        print(f"tolerance: {tolerance(selection.selector)} ({selection.selector.metric})")
        print(chosen_line(selection))
        if selection.provisional:
            which = ", ".join(selection.incomplete)
            print(f"smaller candidates were not fully evaluated and might pass this tolerance: {which}")
            if complete_with:
                print(f"evaluate them fully (cached results are reused): {complete_with}")
    return EXIT_OK if selection.chosen is not None else EXIT_NO_CANDIDATE


def _grid(args: argparse.Namespace) -> tuple[GridEntry, ...] | None:
    """The grid ``--methods`` and ``--nbits`` name; None for the default, which fits the model's format."""
    if args.methods is DEFAULT_METHODS and args.nbits is DEFAULT_WIDTHS:
        return None
    return default_grid(args.methods, args.nbits)


def run_sweep(args: argparse.Namespace) -> int:
    """``mlquant sweep``: quantize a grid, evaluate, choose, report."""
    bar = ProgressDisplay(enabled=False if args.quiet or args.json else None)
    out = Path(args.out) if args.out else Path(f"{Path(args.model).stem}-sweep")
    check_output(out, folder=True, data=[args.data], inputs=[args.model], what="--out")
    grid = _grid(args)
    with _resumable(out, bar, cached=not args.no_cache), _executor(args.workers, args.scheduler) as executor:
        result = sweep(
            args.model, _data(args), out_dir=out, grid=grid, selector=_selector(args),
            select=selector_of(args), backend=_backend(args), preprocessing=_preprocessing(args),
            batch_size=args.batch_size, fast=args.fast, cache=not args.no_cache, mixed=args.mixed, progress=bar,
            make_non_updatable=args.make_non_updatable, target=args.target, data_aware=args.data_aware,
            calibration_data=args.calibration_data, executor=executor,
        )
    return _finish(result, args.json, out)


@contextlib.contextmanager
def _executor(workers: int | None, scheduler: str | None) -> Iterator[Executor | int | None]:
    """``--workers N``: that many local processes (the sweep makes and owns the pool);
    ``--scheduler ADDRESS``: a Dask cluster's executor, connected for the sweep only."""
    if workers is not None and workers < 1:
        msg = f"--workers must be at least 1 (got {workers})"
        raise SettingsError(msg)
    if scheduler is None:
        yield workers
        return
    try:
        from distributed import Client
    except ImportError:
        msg = "--scheduler needs Dask's distributed scheduler: pip install 'mlquant[distributed]'"
        raise SettingsError(msg) from None
    try:
        client = Client(scheduler, timeout="30s")
    except (OSError, TimeoutError) as error:
        msg = f"--scheduler: cannot reach a Dask scheduler at {scheduler} ({error})"
        raise SettingsError(msg) from None
    try:
        yield client.get_executor(pure=False)
    finally:
        client.close()


@contextlib.contextmanager
def _resumable(out: Path, bar: ProgressDisplay, *, cached: bool) -> Iterator[None]:
    """On Ctrl-C, say that running the same command again resumes where this one stopped."""
    try:
        yield
    except KeyboardInterrupt:
        bar.close()
        if cached:
            print(f"interrupted: finished evaluations are cached in {out / '.cache'}; "
                  "run the same command again to resume", file=sys.stderr)
        raise


def _finish(result: SweepResult, as_json: bool, out: Path) -> int:
    code = _print_selection(result.baseline, result.selection, as_json, inputs_evaluated=result.inputs_evaluated,
                            evaluations_reused=result.reused, out_dir=str(out))
    if not as_json:
        if result.reused:
            print(f"reused {result.reused} cached evaluation{'s' if result.reused > 1 else ''} from an earlier run "
                  f"({out / '.cache'}); evaluated {result.inputs_evaluated:,} inputs in this one")
        print(f"report: {out / 'report.md'} (results.csv, results.json, plots and models beside it)")
    return code


def select(args: argparse.Namespace) -> int:
    """``mlquant select``: choose again from a saved results.json under another tolerance."""
    saved = read_sweep(args.results)
    selection = _selector(args).select(saved.baseline, saved.candidates)
    return _print_selection(saved.baseline, selection, args.json, complete_with=saved.completing_command())


def demo(args: argparse.Namespace) -> int:
    """``mlquant demo``: build the digits classifier and sweep it, no files needed."""
    from ..workflow.demo import build_digits_demo

    bar = ProgressDisplay(enabled=False if args.quiet or args.json else None)
    out = check_output(args.out, folder=True, what="--out")
    files = build_digits_demo(out)
    model: Path = files.model
    if args.format == "mlprogram":
        model = convert(load(files.model), files.model.with_suffix(".mlpackage"), overwrite=True).path or model
    if not args.json:
        print(f"built {model} (held-out accuracy {files.test_accuracy:.1%}) and {files.data}/<digit>/*.png")
    with _resumable(out / "sweep", bar, cached=True):
        result = sweep(model, _data(args, files.data), out_dir=out / "sweep", selector=_selector(args),
                       fast=args.fast, progress=bar, backend=_backend(args), preprocessing=_preprocessing(args),
                       batch_size=args.batch_size, target=args.target)
    return _finish(result, args.json, out / "sweep")
