"""Lazy, quiet access to coremltools.

Importing coremltools takes over a second and, off macOS or next to a newer scikit-learn, logs
a screenful of warnings about native pieces mlquant never uses. mlquant only needs its
protobuf classes (and, on a Mac, ``MLModel`` for prediction), so it imports coremltools on
first use, with its logger muted for the duration of the import.
"""

from __future__ import annotations

import functools
import logging
from types import ModuleType
from typing import Any


@functools.cache
def coremltools() -> ModuleType:
    """Return the coremltools package, imported once without its import-time warnings."""
    logger = logging.getLogger("coremltools")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        import coremltools as ct
    finally:
        logger.setLevel(level)
    return ct


def model_pb2() -> Any:
    """Return coremltools' ``Model_pb2`` protobuf module."""
    coremltools()
    from coremltools.proto import Model_pb2

    return Model_pb2


def new_spec() -> Any:
    """Return an empty ``CoreML.Specification.Model`` message."""
    return model_pb2().Model()
