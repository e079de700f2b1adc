"""The ``mlquant`` command line: :mod:`.parser` reads arguments, :mod:`.commands` runs them."""

from .parser import build_parser, main

__all__ = ["build_parser", "main"]
