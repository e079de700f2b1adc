"""Measuring a model: data folders, preprocessing, backends, the evaluator, its cache and files.

* :mod:`.data` and :mod:`.preprocess`: labelled image folders, decoded as Vision would;
* :mod:`.signature`: what a model takes and gives;
* :mod:`.backends`: what turns inputs into scores (the reference runtime, Core ML);
  :mod:`.onnx_backend`: the same model translated to ONNX and run by onnxruntime;
* :mod:`.evaluator`: :class:`Evaluator` and the :class:`Evaluation` it returns;
* :mod:`.cache`: evaluations cached by content; :mod:`.results`: CSV and JSON files;
* :mod:`.shards`: evaluation cut into tasks that other processes run.
"""

from .backends import Backend, CoreMLBackend, ReferenceBackend, default_backend
from .cache import CachingEvaluator, EvaluationCache, data_fingerprint
from .data import Batch, ImageFolder, Sample, Skipped
from .evaluator import Confusion, Evaluation, Evaluator
from .onnx_backend import OnnxRuntimeBackend
from .preprocess import Preprocessing

__all__ = [
    "Backend",
    "Batch",
    "CachingEvaluator",
    "Confusion",
    "CoreMLBackend",
    "Evaluation",
    "EvaluationCache",
    "Evaluator",
    "ImageFolder",
    "OnnxRuntimeBackend",
    "Preprocessing",
    "ReferenceBackend",
    "Sample",
    "Skipped",
    "data_fingerprint",
    "default_backend",
]
