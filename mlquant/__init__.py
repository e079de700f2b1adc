"""mlquant: make Core ML models small without losing accuracy.

Quantize a Core ML model's weights with pluggable strategies, measure every candidate's
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

from ._version import __version__ as __version__
from .calibrate import Calibration, InputStatistics, calibrate
from .errors import (
    ContractError,
    DataError,
    InternalError,
    InvalidModelError,
    MlquantError,
    MlquantWarning,
    ModelNotFoundError,
    OutputError,
    OverwriteError,
    QuantizationError,
    SettingsError,
    UnsupportedLayerError,
    UnsupportedModelError,
    WorkerError,
)
from .evaluate import (
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
from .formats import LayerSummary, MLProgramModel, Model, NeuralNetworkModel, WeightInfo, load, problems
from .formats.convert import convert
from .quantize import (
    DataAware,
    Float16Quantizer,
    KMeansLUTQuantizer,
    LayerSelector,
    LinearLUTQuantizer,
    LinearQuantizer,
    LUTQuantizer,
    QuantizationPlan,
    Quantizer,
    dequantize,
    quantize,
)
from .select import Candidate, Selection, Selector
from .weights import (
    AffineWeights,
    Float16Weights,
    GroupedLUTWeights,
    LinearWeights,
    LUTWeights,
    PerBlock,
    PerChannel,
    PerGroupedChannel,
    PerTensor,
    QuantizedWeights,
)
from .workflow import GridEntry, MixedPrecisionPlan, SweepResult, default_grid, search_mixed_precision, sweep

__all__ = [
    "AffineWeights",
    "Backend",
    "Calibration",
    "Candidate",
    "ContractError",
    "CoreMLBackend",
    "DataAware",
    "DataError",
    "Evaluation",
    "Evaluator",
    "Float16Quantizer",
    "Float16Weights",
    "GridEntry",
    "GroupedLUTWeights",
    "ImageFolder",
    "InputStatistics",
    "InternalError",
    "InvalidModelError",
    "KMeansLUTQuantizer",
    "LUTQuantizer",
    "LUTWeights",
    "LayerSelector",
    "LayerSummary",
    "LinearLUTQuantizer",
    "LinearQuantizer",
    "LinearWeights",
    "MLProgramModel",
    "MixedPrecisionPlan",
    "MlquantError",
    "MlquantWarning",
    "Model",
    "ModelNotFoundError",
    "NeuralNetworkModel",
    "OnnxRuntimeBackend",
    "OutputError",
    "OverwriteError",
    "PerBlock",
    "PerChannel",
    "PerGroupedChannel",
    "PerTensor",
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
    "WorkerError",
    "calibrate",
    "convert",
    "default_backend",
    "default_grid",
    "dequantize",
    "load",
    "problems",
    "quantize",
    "search_mixed_precision",
    "sweep",
]
