"""What each ``mlquant`` subcommand does; :mod:`mlquant.cli` parses the arguments."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import attrs

from .. import _text
from .._files import check_output
from ..errors import SettingsError
from ..evaluate import (
    Backend,
    CoreMLBackend,
    Evaluation,
    Evaluator,
    ImageFolder,
    Preprocessing,
    ReferenceBackend,
    default_backend,
)
from ..evaluate.results import SUMMARY_KEYS, write_csv, write_json
from ..formats import load
from ..quantize import LayerSelector, QuantizationPlan, from_name, quantize
from ..select import Selection, Selector
from ..workflow.report import summary_table
from ..workflow.saved import read_sweep
from ..workflow.sweep import GridEntry, SweepResult, default_grid, sweep
from .progress import ProgressBar

EXIT_OK, EXIT_NO_CANDIDATE, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def inspect(args: argparse.Namespace) -> int:
    """``mlquant inspect``: a model's layers, weights and storage."""
    model = load(args.model)
    rows = model.layer_summary()
    weight_bytes = sum(w.nbytes for w in model.weights)
    if args.json:
        layers = [attrs.asdict(r) for r in rows]
        print(json.dumps({"model": str(args.model), "type": model.type, "size_bytes": model.size_bytes,
                          "weight_bytes": weight_bytes, "layers": layers, "problems": model.problems()}, indent=2))
        return EXIT_OK
    print(f"{args.model}: {model.type}, {_text.size(model.size_bytes)} ({model.size_bytes:,} bytes)")
    body = [(r.layer, r.layer_type, f"{r.count:,}", r.storage, r.nbits, f"{r.nbytes:,}") for r in rows]
    print(_text.table(["layer", "type", "weights", "storage", "bits", "bytes"], body, right=(2, 4, 5)))
    print(
        f"\n{len(model.weights)} weight tensors, {sum(w.count for w in model.weights):,} values, "
        f"{weight_bytes:,} bytes; {model.size_bytes - weight_bytes:,} bytes of the file are not weights"
        " (mean image, labels, layer parameters)"
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


def quantize_command(args: argparse.Namespace) -> int:
    """``mlquant quantize``: one quantized model file."""
    quantizer = from_name(args.method, args.nbits)
    name = quantizer.name
    output = Path(args.output) if args.output else Path(args.model).with_name(f"{Path(args.model).stem}_{name}.mlmodel")
    check_output(output, inputs=[] if args.force else [args.model], what="-o")
    model = load(args.model)
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


def _backend(args: argparse.Namespace) -> Backend:
    if args.backend == "coreml":
        return CoreMLBackend(args.compute_units)
    if args.backend == "reference" or args.float16:
        return ReferenceBackend(float16=args.float16)
    return default_backend()


def _preprocessing(args: argparse.Namespace) -> Preprocessing:
    return Preprocessing(crop=args.crop, resample=args.resample)


def evaluate(args: argparse.Namespace) -> int:
    """``mlquant evaluate``: per-class accuracy of one or more models."""
    bar = ProgressBar(enabled=False if args.quiet or args.json else None)
    for path, flag in ((args.csv, "--csv"), (args.json_out, "--json-out")):
        if path:
            check_output(path, data=[args.data], inputs=args.models, what=flag)
    data = ImageFolder(args.data, strict=args.strict)
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
    return Selector(max_mean_drop=None if args.max_drop < 0 else args.max_drop,
                    max_class_drop=None if args.max_class_drop < 0 else args.max_class_drop, metric=args.metric)


def _print_selection(baseline: Evaluation, selection: Selection, as_json: bool, *, complete_with: str | None = None,
                     **extra: object) -> int:
    if as_json:
        rows = [{"model": r.candidate.name, "size_bytes": r.candidate.size_bytes, "value": r.value, "drop": r.drop,
                 "worst_class": r.worst_class, "worst_drop": r.worst_drop, "status": r.status, "reasons": list(r.reasons)}
                for r in selection.rows]
        provisional = {"provisional": selection.provisional, "incomplete": list(selection.incomplete),
                       "complete_with": complete_with if selection.provisional else None}
        print(json.dumps({"chosen": selection.chosen.name if selection.chosen else None, "reason": selection.reason,
                          **provisional, "baseline": selection.baseline, **extra, "rows": rows}, indent=2))
    else:
        print(summary_table(baseline, selection))
        print()
        if selection.chosen is not None:
            chosen = selection.chosen
            print(f"chosen{' (provisional)' if selection.provisional else ''}: {chosen.name}, "
                  f"{_text.size(chosen.size_bytes)} ({chosen.size_bytes / baseline.size_bytes:.1%} of the float model)")
        else:
            print(f"no candidate chosen{' (provisional)' if selection.provisional else ''}: {selection.reason}")
        if selection.provisional:
            which = ", ".join(selection.incomplete)
            print(f"smaller candidates were not fully evaluated and might pass this tolerance: {which}")
            if complete_with:
                print(f"evaluate them fully (cached results are reused): {complete_with}")
    return EXIT_OK if selection.chosen is not None else EXIT_NO_CANDIDATE


def _grid(args: argparse.Namespace) -> tuple[GridEntry, ...]:
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    try:
        widths = [int(n) for n in args.nbits.split(",") if n.strip()]
    except ValueError:
        msg = f"--nbits takes comma-separated whole numbers, e.g. 8,6,4 (got {args.nbits!r})"
        raise SettingsError(msg) from None
    if not methods or not widths:
        msg = "--methods and --nbits each need at least one value"
        raise SettingsError(msg)
    return default_grid(methods, widths)


def run_sweep(args: argparse.Namespace) -> int:
    """``mlquant sweep``: quantize a grid, evaluate, choose, report."""
    bar = ProgressBar(enabled=False if args.quiet or args.json else None)
    out = Path(args.out) if args.out else Path(f"{Path(args.model).stem}-sweep")
    check_output(out, folder=True, data=[args.data], inputs=[args.model], what="--out")
    grid = _grid(args)
    result = sweep(
        args.model, ImageFolder(args.data, strict=args.strict), out_dir=out, grid=grid, selector=_selector(args),
        select=selector_of(args), backend=_backend(args), preprocessing=_preprocessing(args),
        batch_size=args.batch_size, fast=args.fast, cache=not args.no_cache, mixed=args.mixed, progress=bar,
        make_non_updatable=args.make_non_updatable,
    )
    return _finish(result, args.json, out)


def _finish(result: SweepResult, as_json: bool, out: Path) -> int:
    code = _print_selection(result.baseline, result.selection, as_json, inputs_evaluated=result.inputs_evaluated,
                            out_dir=str(out))
    if not as_json:
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

    bar = ProgressBar(enabled=False if args.quiet or args.json else None)
    out = check_output(args.out, folder=True, what="--out")
    files = build_digits_demo(out)
    if not args.json:
        print(f"built {files.model} (held-out accuracy {files.test_accuracy:.1%}) and {files.data}/<digit>/*.png")
    result = sweep(files.model, ImageFolder(files.data, strict=args.strict), out_dir=out / "sweep",
                   selector=_selector(args), fast=args.fast, progress=bar, backend=_backend(args),
                   preprocessing=_preprocessing(args), batch_size=args.batch_size)
    return _finish(result, args.json, out / "sweep")
