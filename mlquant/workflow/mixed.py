"""Mixed precision: spend bits where the model needs them.

    >>> plan = mlquant.search_mixed_precision(model, "testing_data", max_mean_drop=1.0, max_class_drop=3.0)
    >>> plan.per_weight                    # {"conv1.weights": KMeansLUTQuantizer(nbits=8), ...}
    >>> small = mlquant.quantize(model, plan)

The search, on a calibration part of the data (stratified per class and seeded; the rest is
kept for validation and only used to report):

1. **Rewrite** (optional, exact): constants of the preprocessing become weights
   (:meth:`Model.with_preprocessing_as_weights`: a NeuralNetwork mean image moves into a bias
   layer), so they can be quantized like any weight.
2. **Sensitivity** (:mod:`.sensitivity`): each layer is quantized alone with two probe
   quantizers (k-means at 6 and 4 bits) and the damage is measured as the mean KL divergence
   of the class probabilities from the float model's, on the first calibration inputs. A
   score-level divergence needs no labels and is far less noisy than top-1 accuracy. For
   every other option the divergence is estimated from the option's weight error, through
   the power law ``divergence = a * error**b`` fitted to the layer's two probes (first order
   in the noise power; the fit makes it exact at the probes).
3. **Allocation**: for a price ``lam`` of divergence in bytes, each layer takes the option
   minimising ``bytes + lam * divergence`` (the Lagrangian of the multiple-choice knapsack
   "fewest bytes under a divergence budget"); sweeping ``lam`` gives a family of plans from
   smallest to safest.
4. **Verification**: plans are assembled and evaluated for real on all calibration inputs,
   binary-searching the family for the smallest plan that meets the tolerance there and
   keeps the float model's top-1 prediction on at least ``min_agreement`` of them; a plan
   that fails backs off to the next larger plan, which restores precision in the layers
   that cost least per byte. Accuracy on a few hundred images moves in whole-image steps
   (one image of 50 is 2 points), so agreement, a steadier signal of how far a plan has
   drifted, is what keeps the choice from fitting the calibration images' noise.

The chosen plan is then evaluated on the validation part, and both parts' figures are kept.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence

import attrs
import numpy as np

from .._progress import Progress, silent
from ..calibrate import Calibration, calibrate
from ..errors import SettingsError
from ..evaluate import Backend, Evaluation, EvaluationCache, ImageFolder, Preprocessing, default_backend
from ..formats import Model, load
from ..quantize import (
    DataAware,
    Float16Quantizer,
    KMeansLUTQuantizer,
    LayerSelector,
    QuantizationPlan,
    Quantizer,
    quantize,
    storage_problem,
)
from ..select import MAX_CLASS_DROP, MAX_MEAN_DROP, Candidate, Selector
from ._evaluators import caching_evaluator, on_other_images
from .sensitivity import WeightSensitivity, load_sensitivities, measure_sensitivities

__all__ = ["DEFAULT_OPTIONS", "MixedPrecisionPlan", "search_mixed_precision"]

#: The per-layer choices the search allocates among (plus keeping a layer float32).
DEFAULT_OPTIONS: tuple[Quantizer, ...] = (Float16Quantizer(), *(KMeansLUTQuantizer(nbits=n) for n in range(8, 1, -1)))
_PROBES = (KMeansLUTQuantizer(nbits=6), KMeansLUTQuantizer(nbits=4))


@attrs.frozen
class MixedPrecisionPlan(QuantizationPlan):
    """A per-weight plan found by :func:`search_mixed_precision`, with the evidence for it.

    It is a :class:`~mlquant.QuantizationPlan`, so ``mlquant.quantize(model, plan)`` applies it.
    """

    sensitivity: tuple[WeightSensitivity, ...] = ()
    """Each searched weight's options, sizes and divergences."""
    calibration: Evaluation | None = attrs.field(default=None, eq=False)
    """The planned model on the calibration part."""
    validation: Evaluation | None = attrs.field(default=None, eq=False)
    """The planned model on the validation part."""
    baseline_calibration: Evaluation | None = attrs.field(default=None, eq=False)
    """The float model on the calibration part."""
    baseline_validation: Evaluation | None = attrs.field(default=None, eq=False)
    """The float model on the validation part."""
    size_bytes: int = 0
    """Size of the planned model's file."""
    seconds: float = 0.0
    """How long the search took."""
    evaluations: int = 0
    """Assembled plans evaluated on the calibration part."""

    @property
    def weight_bytes(self) -> int:
        """The searched weights' bytes under the chosen options, as the search priced them."""
        chosen = {name: q.name if q else None for name, q in self.per_weight.items()}
        return sum(s.nbytes[s.options.index(chosen[s.weight]) if chosen[s.weight] else 0] for s in self.sensitivity)


def _storable(model: Model, options: Sequence[Quantizer], max_target: str | int | None) -> list[Quantizer]:
    """The options ``model``'s format stores: the default ones filtered, an explicit one checked."""
    problems = {o.name: storage_problem(model, o, max_target) for o in options}
    if options is not DEFAULT_OPTIONS:
        wrong = next((problem for problem in problems.values() if problem is not None), None)
        if wrong is not None:
            raise SettingsError(wrong)
    kept = [o for o in options if problems[o.name] is None]
    if not kept:
        msg = f"search_mixed_precision: the model's format stores none of the options ({next(iter(problems.values()))})"
        raise SettingsError(msg)
    return kept


def search_mixed_precision(
    model: Model | str | os.PathLike[str],
    data: ImageFolder | str | os.PathLike[str],
    *,
    max_mean_drop: float | None = MAX_MEAN_DROP,
    max_class_drop: float | None = MAX_CLASS_DROP,
    metric: str = "accuracy",
    select: LayerSelector | None = None,
    options: Sequence[Quantizer] = DEFAULT_OPTIONS,
    calibration_share: float = 0.5,
    seed: int = 0,
    min_agreement: float = 0.99,
    mean_image: bool = True,
    probe_inputs: int = 64,
    backend: Backend | None = None,
    preprocessing: Preprocessing = Preprocessing(),
    batch_size: int = 32,
    cache: EvaluationCache | None = None,
    max_target: str | int | None = None,
    data_aware: bool = False,
    calibration: Calibration | None = None,
    calibration_inputs: int = 256,
    progress: Progress | None = None,
) -> MixedPrecisionPlan:
    """Find a per-layer plan that minimises the model's bytes within the tolerance.

    Args:
        model: The float model, or its path.
        data: Labelled class folders; split into calibration and validation parts.
        max_mean_drop: Largest mean drop over classes, in points (None: no limit).
        max_class_drop: Largest drop of any class, in points (None: no limit).
        metric: ``accuracy`` or ``agreement``, as in :class:`~mlquant.Selector`.
        select: Which weights the search may quantize (default: every weight but biases); the
            others keep their storage.
        options: Quantizers each layer may get (keeping it float32 is always allowed).
        calibration_share: Fraction of each class used for the search.
        seed: Seeds the split.
        min_agreement: The share of calibration inputs on which a plan must keep the float
            model's top-1 prediction, besides meeting the tolerance there.
        mean_image: Allow moving a mean image into a quantizable bias layer.
        probe_inputs: Calibration inputs used to measure sensitivities.
        backend: What runs the models (Core ML on macOS, the reference runtime elsewhere).
        preprocessing: How images are scaled and cropped.
        batch_size: Inputs per backend call.
        cache: Where evaluations and sensitivities are kept between runs (a sweep passes its own).
        max_target: The latest deployment target the plan may need. The default options the
            model's format cannot store by then (5- and 7-bit tables in an ML Program) are left
            out; an explicit option it cannot store is an error.
        data_aware: Make every option but float16 (and the probes) a :class:`~mlquant.DataAware`
            one, calibrated on (at most ``calibration_inputs`` of) the calibration part, and
            measure weight errors as the output error the inputs' second moments predict.
        calibration: Use these statistics for the data-aware options (implies ``data_aware``);
            a sweep passes the ones it calibrated on images it does not judge with.
        calibration_inputs: Images of the calibration part that :func:`~mlquant.calibrate` runs.
        progress: Called with ``(label, done, total)``.

    Returns:
        The plan, with sensitivities and calibration and validation evaluations.

    Raises:
        SettingsError: ``min_agreement`` outside [0, 1] or no options.
    """
    if not 0 <= min_agreement <= 1 or not options:
        msg = (f"search_mixed_precision: min_agreement must be 0-1 and options non-empty "
               f"(got {min_agreement}, {len(options)} options)")
        raise SettingsError(msg)
    started = time.perf_counter()
    report = progress or silent
    original = model if isinstance(model, Model) else load(model)
    options = _storable(original, options, max_target)
    data = data if isinstance(data, ImageFolder) else ImageFolder(data)
    backend = backend or default_backend()
    work = original.with_preprocessing_as_weights() if mean_image else original
    searched, validation = data.split(calibration_share, seed=seed)
    tolerance = Selector(max_mean_drop, max_class_drop, metric)
    store = cache or EvaluationCache(None)
    check = caching_evaluator(searched, backend=backend, preprocessing=preprocessing, batch_size=batch_size,
                              store=store, report=report)
    base = check.evaluate(original, "float")
    chooser = select or LayerSelector()
    probes: Sequence[Quantizer] = _PROBES
    if data_aware or calibration is not None:
        if calibration is None:
            calibration = calibrate(original, searched, inputs=calibration_inputs, seed=seed, progress=report,
                                    preprocessing=preprocessing, batch_size=batch_size)
        options = [_aware(o, calibration) for o in options]
        probes = [_aware(p, calibration) for p in _PROBES]
    recipe = {"options": [o.name for o in options], "probes": [p.name for p in probes], "inputs": probe_inputs,
              "select": repr(chooser), "calibration": calibration.files if calibration is not None else None}
    key = store.key(work.content_fingerprint(), f"{check.data_key}:{recipe}", check.evaluator.setup) if store.folder else ""
    sensitivity = load_sensitivities(store.get_json(key)) if key else None
    if sensitivity is None:
        sensitivity = measure_sensitivities(work, chooser, check.evaluator, list(options), list(probes),
                                            probe_inputs, calibration, report)
        if key:
            store.put_json(key, [attrs.asdict(s) for s in sensitivity])
    family = _plans(sensitivity)
    plans = [_plan(sensitivity, choice, list(options), mean_image) for choice in family]
    verdicts: dict[int, Evaluation | None] = {}

    def passes(index: int) -> bool:
        report("verifying plans", len(verdicts), math.ceil(math.log2(len(plans))) + 1)
        result = check.evaluate(quantize(original, plans[index]), "mixed", reference=base)
        ok = (result.top1_agreement or 0.0) >= min_agreement and tolerance.select(base, [_as_candidate(result)]).chosen is not None
        verdicts[index] = result if ok else None
        return ok

    low, high = 0, len(plans) - 1
    while low < high:
        middle = (low + high) // 2
        if passes(middle):
            high = middle
        else:
            low = middle + 1
    chosen = plans[low]
    small = quantize(original, chosen)
    calibrated = verdicts.get(low) or check.evaluate(small, "mixed", reference=base)
    held_out = on_other_images(check, validation)
    base_validation = held_out.evaluate(original, "float")
    return attrs.evolve(
        chosen,
        sensitivity=tuple(sensitivity),
        calibration=calibrated,
        validation=held_out.evaluate(small, "mixed", reference=base_validation),
        baseline_calibration=base,
        baseline_validation=base_validation,
        size_bytes=small.size_bytes,
        seconds=time.perf_counter() - started,
        evaluations=len(verdicts),
    )


def _as_candidate(evaluation: Evaluation) -> Candidate:
    return Candidate(evaluation.name, evaluation.size_bytes, evaluation, "mixed")


def _aware(quantizer: Quantizer, calibration: Calibration) -> Quantizer:
    """The data-aware form of an option (float16 stays as it is: it has no grid to choose)."""
    if isinstance(quantizer, (Float16Quantizer, DataAware)):
        return quantizer
    return DataAware(quantizer, calibration)


def _plans(sensitivity: list[WeightSensitivity]) -> list[tuple[int, ...]]:
    """Option choices per layer, for every price of divergence: smallest first, distinct."""
    plans = set()
    for price in np.geomspace(1.0, 1e14, 600):
        plans.add(tuple(int(np.argmin(np.asarray(s.nbytes) + price * np.asarray(s.divergence))) for s in sensitivity))
    plans.add(tuple(0 for _ in sensitivity))
    return sorted(plans, key=lambda p: (sum(s.nbytes[i] for s, i in zip(sensitivity, p)), p))


def _plan(sensitivity: list[WeightSensitivity], choice: tuple[int, ...], options: list[Quantizer],
          mean_image: bool) -> MixedPrecisionPlan:
    per_weight = {s.weight: (options[i - 1] if i > 0 else None) for s, i in zip(sensitivity, choice)}
    return MixedPrecisionPlan(per_weight=per_weight, move_mean_image=mean_image)
