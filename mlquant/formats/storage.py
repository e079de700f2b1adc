"""Every format's storage rules in one plain tuple, for messages that name the format that would store a form.

Each format declares its rules beside its code (``neuralnetwork/storage.py``,
``mlprogram/storage.py``) and its ``Model`` subclass exposes them as ``Model.storage``.
"""

from __future__ import annotations

from ..weights.storage import StorageRules
from .mlprogram.storage import MLPROGRAM_STORAGE
from .neuralnetwork.storage import NEURALNETWORK_STORAGE

__all__ = ["STORAGE_RULES"]

#: The storage rules of every format mlquant writes.
STORAGE_RULES: tuple[StorageRules, ...] = (NEURALNETWORK_STORAGE, MLPROGRAM_STORAGE)
