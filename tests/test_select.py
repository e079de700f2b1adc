"""The selector: drops, collapse, ties, the frontier, statistics and early stopping."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import numpy as np
import pytest

import mlquant
from mlquant.errors import SettingsError
from mlquant.evaluate import Evaluation
from mlquant.select import Candidate, Selector, _stats

LABELS = ("apple", "banana", "cherry", "date")
CLASSES = ("apple", "banana", "cherry")


def evaluation(correct: dict[str, int], *, per_class: int = 100, wrong_as: int = 3, name: str = "m",
               size: int = 1000, done: int | None = None) -> Evaluation:
    """An evaluation with ``correct[c]`` hits of ``per_class`` inputs per class; misses predict ``wrong_as``."""
    truth, predicted = [], []
    for index, label in enumerate(CLASSES):
        truth += [index] * per_class
        predicted += [index] * correct[label] + [wrong_as] * (per_class - correct[label])
    order = np.argsort(np.arange(len(truth)) % per_class, kind="stable")  # interleaved, like ImageFolder
    truth, predicted = np.array(truth)[order], np.array(predicted)[order]
    top5 = np.stack([predicted] + [(predicted + k) % len(LABELS) for k in range(1, 4)], axis=1)
    n = len(truth) if done is None else done
    return Evaluation(
        name=name, size_bytes=size, labels=LABELS, classes=CLASSES, files=tuple(f"f{i}" for i in range(n)),
        truth=truth[:n], top5=top5[:n], confidence=np.ones(n), complete=done is None,
    )


BASE = evaluation({"apple": 90, "banana": 80, "cherry": 70}, size=4000, name="float")


def candidate(name: str, correct: dict[str, int], size: int, method: str = "linear", **kw) -> Candidate:
    return Candidate(name, size, evaluation(correct, name=name, size=size, **kw), method)


class TestRule:
    def test_smallest_within_tolerance_wins(self) -> None:
        """The smallest candidate within both limits is chosen; the others are explained."""
        candidates = [
            candidate("tiny", {"apple": 90, "banana": 80, "cherry": 60}, 500),   # worst class -10
            candidate("small", {"apple": 89, "banana": 80, "cherry": 68}, 800),  # mean -1.0, worst -2
            candidate("big", {"apple": 90, "banana": 80, "cherry": 70}, 2000),
        ]
        selection = Selector(max_mean_drop=1.0, max_class_drop=5.0).select(BASE, candidates)
        assert selection.chosen is not None and selection.chosen.name == "small"
        assert selection.rejected == {"tiny": ("worst class cherry drops 10.0 points (limit 5)",
                                               "mean accuracy drops 3.3 points (limit 1)")}
        statuses = {r.candidate.name: r.status for r in selection.rows}
        assert statuses == {"tiny": "rejected", "small": "chosen", "big": "passes"}
        row = next(r for r in selection.rows if r.candidate.name == "small")
        assert row.drop == pytest.approx(1.0) and row.worst_class == "cherry" and row.worst_drop == pytest.approx(2.0)

    def test_limits_can_be_switched_off(self) -> None:
        """With no class limit, a big single-class drop is allowed if the mean holds."""
        lopsided = candidate("lopsided", {"apple": 90, "banana": 80, "cherry": 64}, 500)
        assert Selector(max_mean_drop=2.0, max_class_drop=None).select(BASE, [lopsided]).chosen is not None
        assert Selector(max_mean_drop=2.0, max_class_drop=5.0).select(BASE, [lopsided]).chosen is None

    def test_collapse_is_named(self) -> None:
        """A model that predicts one label for most inputs is rejected as collapsed, even where that class gains."""
        collapsed = candidate("two_bit", {"apple": 100, "banana": 0, "cherry": 0}, 300, wrong_as=0)
        selection = Selector(max_mean_drop=None, max_class_drop=None).select(BASE, [collapsed])
        assert selection.chosen is None
        assert selection.rejected["two_bit"] == ("collapsed: predicts 'apple' for 100% of inputs",)
        assert "closest, two_bit, was rejected: collapsed" in selection.reason

    def test_ties_go_to_accuracy_then_simplicity(self) -> None:
        """Equal sizes: the more accurate wins; equal accuracy too: the simpler strategy wins."""
        a = candidate("kmeans", {"apple": 90, "banana": 80, "cherry": 70}, 700, "kmeans_lut")
        b = candidate("linear", {"apple": 90, "banana": 80, "cherry": 70}, 700, "linear")
        c = candidate("lut", {"apple": 90, "banana": 80, "cherry": 69}, 700, "linear_lut")
        assert Selector().select(BASE, [a, c, b]).chosen.name == "linear"
        assert Selector().select(BASE, [a, c]).chosen.name == "kmeans"

    def test_agreement_metric(self) -> None:
        """metric='agreement' scores agreement with the float model per class."""
        same = attrs.evolve(BASE, name="same", size_bytes=10, reference=BASE.predictions)
        selection = Selector(metric="agreement").select(BASE, [Candidate("same", 10, same)])
        assert selection.rows[0].value == 100.0 and selection.chosen is not None

    def test_settings_are_validated(self) -> None:
        """Limits outside 0-100 and unknown metrics are refused."""
        with pytest.raises(SettingsError, match="max_mean_drop must be 0-100"):
            Selector(max_mean_drop=-1)
        with pytest.raises(SettingsError, match="metric must be 'accuracy' or 'agreement'"):
            Selector(metric="f1")


class TestFrontierAndStatistics:
    def test_frontier(self) -> None:
        """The frontier keeps candidates no smaller-and-better candidate beats."""
        candidates = [
            candidate("a", {"apple": 50, "banana": 50, "cherry": 50}, 100),
            candidate("b", {"apple": 40, "banana": 40, "cherry": 40}, 200),
            candidate("c", {"apple": 80, "banana": 80, "cherry": 70}, 300),
        ]
        assert Selector().select(BASE, candidates).frontier == ("a", "c")

    def test_intervals(self) -> None:
        """The class-mean interval is the normal approximation over per-class binomials."""
        row = Selector().select(BASE, [candidate("same", {"apple": 90, "banana": 80, "cherry": 70}, 10)]).rows[0]
        half = 1.959964 * np.sqrt(0.9 * 0.1 / 100 + 0.8 * 0.2 / 100 + 0.7 * 0.3 / 100) / 3 * 100
        assert row.interval == pytest.approx((80 - half, 80 + half), abs=1e-4)
        assert row.drop_interval == pytest.approx((0.0, 0.0))

    def test_indistinguishable_neighbours(self) -> None:
        """Two candidates one image apart are reported as not distinguishable."""
        a = candidate("a", {"apple": 89, "banana": 80, "cherry": 70}, 100)
        b = candidate("b", {"apple": 90, "banana": 80, "cherry": 70}, 200)
        pairs = Selector().select(BASE, [a, b]).indistinguishable
        assert pairs == (("a", "b", 1.0),)

    def test_known_statistics(self) -> None:
        """The exact McNemar p-value matches a hand-computed binomial tail."""
        a = np.array([True] * 10 + [False] * 10)
        b = np.array([False] * 10 + [False] * 10)
        assert _stats.mcnemar_p(a, b) == pytest.approx(2 * 0.5**10)


class TestEarlyStopping:
    def test_collapsed_model_is_hopeless_early(self) -> None:
        """After 30 interleaved inputs a model that gets nothing right is certain to fail."""
        partial = evaluation({"apple": 0, "banana": 0, "cherry": 0}, done=30)
        reason = Selector().hopeless(BASE, partial)
        assert reason is not None and "cannot do better than" in reason

    def test_good_model_is_never_hopeless(self) -> None:
        """A candidate as good as the float model is never stopped."""
        for done in (30, 150, 299):
            assert Selector().hopeless(BASE, evaluation({"apple": 90, "banana": 80, "cherry": 70}, done=done)) is None

    def test_stopped_rows(self) -> None:
        """A stopped candidate is listed as stopped early with the reason."""
        stopped = Candidate("bad", 10, evaluation({"apple": 0, "banana": 0, "cherry": 0}, done=30))
        row = Selector().select(BASE, [stopped]).rows[0]
        assert row.status == "stopped early" and "stopped after 30 of 300 inputs" in row.reasons[-1]


class TestBounds:
    def test_hypergeometric_bounds(self) -> None:
        """Finite-population bounds match hand-computed hypergeometric tails."""
        # 0 of 5 drawn from 10 marked: K=5 leaves P(X=0) = C(5,5)/C(10,5) = 1/252
        assert _stats.population_upper(0, 5, 10, 1 / 252 - 1e-9) == 5
        assert _stats.population_upper(0, 5, 10, 1 / 252 + 1e-9) == 4
        assert _stats.population_upper(3, 10, 10, 0.01) == 3  # everything seen: no uncertainty
        assert _stats.population_lower(5, 5, 10, 1 / 252 - 1e-9) == 5


class TestProvisional:
    def test_select_after_a_fast_sweep(self, demo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """select with a looser tolerance than a --fast sweep marks its choice provisional and says how to complete it."""
        from mlquant.cli import main
        from mlquant.evaluate.backends import ReferenceBackend

        files = demo
        out = tmp_path / "sweep"
        strict = Selector(max_mean_drop=0.2, max_class_drop=1.0)
        mlquant.sweep(files.model, files.data, out_dir=out, fast=True, selector=strict, backend=ReferenceBackend())
        loose = ["--max-drop", "40", "--max-class-drop", "90"]
        assert main(["select", str(out / "results.json"), *loose, "--json"]) == 0
        payload = json.loads(capsys.readouterr().out)
        assert payload["provisional"] is True and payload["incomplete"]
        assert payload["complete_with"] == (f"mlquant sweep {files.model} --data {files.data} --out {out}")
        main(["select", str(out / "results.json"), *loose])
        text = capsys.readouterr().out
        assert "chosen (provisional): " in text and "evaluate them fully" in text
        mlquant.sweep(files.model, files.data, out_dir=out, selector=strict, backend=ReferenceBackend())
        assert main(["select", str(out / "results.json"), *loose, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["provisional"] is False
