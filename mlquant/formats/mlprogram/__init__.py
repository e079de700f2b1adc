"""The ML Program format (``.mlpackage``): blob file, values, constexpr decoding, validator and writer.

Only this subpackage knows ``MIL.proto``'s layout and ``weight.bin``'s; everything above it works
on :class:`~mlquant.Model` and :class:`~mlquant.WeightInfo`.
"""

from .model import MLProgramModel

__all__ = ["MLProgramModel"]
