"""The ML Program executor: one numpy kernel per MIL operation, run in program order (see :class:`MILProgram`)."""

from .program import MILProgram

__all__ = ["MILProgram"]
