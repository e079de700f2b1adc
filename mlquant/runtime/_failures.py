"""What the executors and translators do with an exception they did not raise on purpose.

A kernel or translator that fails with anything but an :class:`~mlquant.errors.MlquantError`
has hit a bug: the error becomes an :class:`~mlquant.errors.InternalError` that names the
operation or layer it happened in, the original chained as its cause. Every executor builds
its kernels inside :func:`unexpected_as_internal` and turns a step's failure with
:func:`as_internal` (a plain ``except`` on the hot path).
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from ..errors import InternalError, MlquantError

__all__ = ["as_internal", "unexpected_as_internal"]


class _AsInternal:
    """The context manager :func:`unexpected_as_internal` returns (a class: it runs once per step)."""

    __slots__ = ("_passing", "_where")

    def __init__(self, where: str | Callable[[], str], passing: tuple[type[BaseException], ...]) -> None:
        self._where = where
        self._passing = passing

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if not isinstance(error, Exception) or isinstance(error, (MlquantError, *self._passing)):
            return
        where = self._where() if callable(self._where) else self._where
        raise as_internal(error, where) from error


def as_internal(error: Exception, where: str) -> InternalError:
    """The ``InternalError`` an unexpected ``error`` becomes: ``"<where>: <exception type>: <exception>"``.

    The executors' step loops call it from a plain ``except`` (no per-step cost when nothing
    fails), re-raising every ``MlquantError`` unchanged first.
    """
    return InternalError(f"{where}: {type(error).__name__}: {error}")


def unexpected_as_internal(
    where: str | Callable[[], str], *, passing: tuple[type[BaseException], ...] = ()
) -> _AsInternal:
    """Turn an unexpected exception in the block into an ``InternalError`` saying where it happened.

    Args:
        where: What was being done, e.g. ``"operation 'conv1' (conv) failed on its constants"``;
            the message is ``"<where>: <exception type>: <exception>"``. A callable is called
            only when something fails (for a description that costs something to build).
        passing: Exception types that go through unchanged, as every ``MlquantError`` does.

    Returns:
        A context manager.
    """
    return _AsInternal(where, passing)
