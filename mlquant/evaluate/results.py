"""Evaluations on disk: JSON with everything, CSV with one model per row.

The CSV is the layout people already keep from their Xcode playgrounds: ``model,size`` and
then one column per class with its top-1 accuracy (0-1), followed here by the overall
figures. JSON keeps every prediction, so a saved evaluation can be re-read, re-selected and
compared without running a model again. Both are written atomically.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from .._files import atomic_write, load_json
from ..errors import DataError
from .data import Skipped
from .evaluator import Evaluation

__all__ = [
    "SUMMARY_KEYS",
    "CsvRow",
    "evaluation_from_dict",
    "evaluation_to_dict",
    "read_csv",
    "read_json",
    "row_of",
    "write_csv",
    "write_json",
]

#: The figures every evaluation summary holds, in this order (JSON, CSV, reports, the command line).
SUMMARY_KEYS = ("accuracy", "mean_class_accuracy", "top1_agreement", "top5_agreement")


def evaluation_to_dict(evaluation: Evaluation) -> dict[str, Any]:
    """A JSON-ready dictionary holding everything in ``evaluation``, figures included."""
    return {
        "name": evaluation.name,
        "size_bytes": evaluation.size_bytes,
        "complete": evaluation.complete,
        "summary": {key: getattr(evaluation, key) for key in SUMMARY_KEYS},
        "per_class": evaluation.per_class,
        "labels": list(evaluation.labels),
        "classes": list(evaluation.classes),
        "files": list(evaluation.files),
        "truth": None if evaluation.truth is None else evaluation.truth.tolist(),
        "top5": evaluation.top5.tolist(),
        "confidence": [round(float(c), 6) for c in evaluation.confidence],
        "reference": None if evaluation.reference is None else evaluation.reference.tolist(),
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in evaluation.skipped],
        "measured": dict(evaluation.measured),
    }


def evaluation_from_dict(data: Mapping[str, Any]) -> Evaluation:
    """Rebuild an :class:`Evaluation` from :func:`evaluation_to_dict`'s output."""
    try:
        return Evaluation(
            name=data["name"],
            size_bytes=int(data["size_bytes"]),
            labels=tuple(data["labels"]),
            classes=tuple(data["classes"]),
            files=tuple(data["files"]),
            truth=data["truth"],
            top5=np.asarray(data["top5"], dtype=np.int32).reshape(len(data["files"]), -1),
            confidence=data["confidence"],
            reference=data["reference"],
            skipped=tuple(Skipped(Path(s["path"]), s["reason"]) for s in data["skipped"]),
            measured=data["measured"],
            complete=bool(data.get("complete", True)),
        )
    except (KeyError, TypeError, ValueError) as error:
        msg = f"not an mlquant evaluation ({type(error).__name__}: {error})"
        raise DataError(msg) from None


def write_json(evaluations: Iterable[Evaluation], path: str | os.PathLike[str]) -> Path:
    """Write evaluations to a JSON file (atomically); return its path."""
    payload = {"format": "mlquant-evaluations", "version": 1,
               "evaluations": [evaluation_to_dict(e) for e in evaluations]}
    return atomic_write(path, json.dumps(payload, indent=1) + "\n")


def read_payload(path: str | os.PathLike[str], kind: str) -> dict[str, Any]:
    """Read an mlquant JSON file whose ``format`` is ``kind``.

    Raises:
        DataError: The file is missing, is not JSON, or is not that kind of file.
    """
    payload = load_json(path, DataError, "results file")
    if not isinstance(payload, dict) or payload.get("format") != kind:
        msg = f"{path} is not an mlquant {kind} file (no 'format': '{kind}')"
        raise DataError(msg)
    return payload


def read_json(path: str | os.PathLike[str]) -> list[Evaluation]:
    """Read evaluations written by :func:`write_json`.

    Raises:
        DataError: The file is missing or is not an mlquant evaluations file.
    """
    return [evaluation_from_dict(item) for item in read_payload(path, "mlquant-evaluations")["evaluations"]]


@attrs.frozen
class CsvRow:
    """One model's line of a results CSV."""

    model: str
    """The model's name."""
    size_bytes: int
    """The model file's size."""
    per_class: dict[str, float]
    """Top-1 accuracy per class, 0-1."""
    figures: dict[str, float | str | None]
    """The overall figures and any extra columns (numbers as floats, empty cells as None)."""


def row_of(evaluation: Evaluation, **extra: float | str | None) -> CsvRow:
    """The CSV row of an evaluation, with optional extra columns."""
    figures: dict[str, float | str | None] = {key: getattr(evaluation, key) for key in SUMMARY_KEYS}
    return CsvRow(evaluation.name, evaluation.size_bytes, evaluation.per_class, {**figures, **extra})


def write_csv(rows: Sequence[Evaluation | CsvRow], path: str | os.PathLike[str]) -> Path:
    """Write one row per model: ``model,size,<class>...,accuracy,...`` (atomically).

    Args:
        rows: Evaluations, or :class:`CsvRow` values for rows with extra columns. Class
            columns are the union of the rows' classes in first-seen order; figure columns
            likewise.
        path: The CSV file.
    """
    table = [row_of(r) if isinstance(r, Evaluation) else r for r in rows]
    classes = list(dict.fromkeys(c for row in table for c in row.per_class))
    figures = list(dict.fromkeys(k for row in table for k in row.figures))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "size", *classes, *figures])
    for row in table:
        writer.writerow([
            row.model,
            row.size_bytes,
            *[_cell(row.per_class.get(c)) for c in classes],
            *[_cell(row.figures.get(k)) for k in figures],
        ])
    return atomic_write(path, buffer.getvalue())


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _parse(cell: str) -> float | str | None:
    if not cell:
        return None
    try:
        return float(cell)
    except ValueError:
        return cell


def read_csv(path: str | os.PathLike[str]) -> list[CsvRow]:
    """Read a results CSV: columns after ``size`` up to ``accuracy`` are classes.

    Raises:
        DataError: The file is missing or lacks the ``model,size`` columns.
    """
    try:
        rows = list(csv.reader(io.StringIO(Path(path).read_text())))
    except FileNotFoundError:
        msg = f"no results file at {path}"
        raise DataError(msg) from None
    if not rows or rows[0][:2] != ["model", "size"]:
        msg = f"{path} is not a results CSV (its header must start with model,size)"
        raise DataError(msg)
    header = rows[0]
    end = header.index("accuracy") if "accuracy" in header else len(header)
    classes = header[2:end]
    result = []
    for row in rows[1:]:
        values = [_parse(v) for v in row[2:]]
        per_class = {c: float(v) for c, v in zip(classes, values[: len(classes)]) if isinstance(v, float)}
        figures = dict(zip(header[end:], values[len(classes) :]))
        result.append(CsvRow(row[0], int(row[1]), per_class, figures))
    return result
