"""MIL operations as ONNX operators: an ML Program translated for onnxruntime.

One module per operation family, mirroring :mod:`mlquant.runtime.mlprogram`; :data:`.registry.TRANSLATORS`
maps each operation type to its translator and :func:`translate` walks the program.
"""

from .translator import translate

__all__ = ["translate"]
