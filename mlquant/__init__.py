"""mlquant: make Core ML models small without losing accuracy.

Quantize a NeuralNetwork model's weights with pluggable strategies, measure every candidate's
per-class accuracy on labelled images, and pick the smallest model whose accuracy drop stays
inside your tolerance.

    >>> import mlquant
    >>> model = mlquant.load("food.mlmodel")
    >>> small = mlquant.quantize(model, mlquant.KMeansLUTQuantizer(nbits=6))
    >>> small.save("food_kmeans_6.mlmodel")
    >>> result = mlquant.sweep(model, "testing_data", out_dir="food-sweep")
    >>> result.selection.chosen
"""

from __future__ import annotations

__version__ = "0.1.0"

from .backends import Backend, CoreMLBackend, ReferenceBackend, default_backend
from .data import ImageFolder
from .errors import (
    DataError,
    InvalidModelError,
    MlquantError,
    ModelNotFoundError,
    OutputError,
    OverwriteError,
    QuantizationError,
    SettingsError,
    UnsupportedLayerError,
    UnsupportedModelError,
)
from .evaluate import Evaluation, Evaluator
from .mixed import MixedPrecisionPlan, search_mixed_precision
from .model import LayerSummary, Model, WeightInfo, load
from .plan import LayerSelector, QuantizationPlan, dequantize, quantize
from .preprocess import Preprocessing
from .quantizers import (
    Float16Quantizer,
    KMeansLUTQuantizer,
    LinearLUTQuantizer,
    LinearQuantizer,
    LUTQuantizer,
    Quantizer,
)
from .select import Candidate, Selection, Selector
from .sweep import GridEntry, SweepResult, default_grid, sweep
from .validate import problems
from .weights import Float16Weights, LinearWeights, LUTWeights, QuantizedWeights

__all__ = [
    "Backend",
    "Candidate",
    "CoreMLBackend",
    "DataError",
    "Evaluation",
    "Evaluator",
    "Float16Quantizer",
    "Float16Weights",
    "GridEntry",
    "ImageFolder",
    "InvalidModelError",
    "KMeansLUTQuantizer",
    "LUTQuantizer",
    "LUTWeights",
    "LayerSelector",
    "LayerSummary",
    "LinearLUTQuantizer",
    "LinearQuantizer",
    "LinearWeights",
    "MixedPrecisionPlan",
    "MlquantError",
    "Model",
    "ModelNotFoundError",
    "OutputError",
    "OverwriteError",
    "Preprocessing",
    "QuantizationError",
    "QuantizationPlan",
    "QuantizedWeights",
    "Quantizer",
    "ReferenceBackend",
    "Selection",
    "Selector",
    "SettingsError",
    "SweepResult",
    "UnsupportedLayerError",
    "UnsupportedModelError",
    "WeightInfo",
    "default_backend",
    "default_grid",
    "dequantize",
    "load",
    "problems",
    "quantize",
    "search_mixed_precision",
    "sweep",
]
