"""mlquant.runtime._failures: an unexpected exception in a kernel becomes an InternalError."""

from __future__ import annotations

import pytest

from mlquant.errors import InternalError, SettingsError
from mlquant.runtime._failures import unexpected_as_internal


class _Passing(Exception):
    """An exception a caller lets through."""


class TestUnexpectedAsInternal:
    """unexpected_as_internal wraps what mlquant did not raise on purpose, and only that."""

    def test_unexpected_error_becomes_internal(self) -> None:
        """A ValueError becomes an InternalError naming where, the type and the message, chained as its cause."""
        expected = r"^layer 'a' \(add\) failed: ValueError: bad shape$"
        with pytest.raises(InternalError, match=expected) as caught, unexpected_as_internal("layer 'a' (add) failed"):
            raise ValueError("bad shape")
        assert isinstance(caught.value.__cause__, ValueError)

    def test_mlquant_error_passes(self) -> None:
        """An MlquantError goes through unchanged."""
        with pytest.raises(SettingsError, match="^as is$"), unexpected_as_internal("anywhere"):
            raise SettingsError("as is")

    def test_passing_types_pass(self) -> None:
        """An exception of a ``passing`` type goes through unchanged."""
        with pytest.raises(_Passing), unexpected_as_internal("anywhere", passing=(_Passing,)):
            raise _Passing

    def test_base_exceptions_pass(self) -> None:
        """A KeyboardInterrupt is not an error of the kernel: it goes through."""
        with pytest.raises(KeyboardInterrupt), unexpected_as_internal("anywhere"):
            raise KeyboardInterrupt

    def test_callable_where_is_called_only_on_failure(self) -> None:
        """A callable description is built when something fails, never on success."""
        calls: list[int] = []

        def where() -> str:
            calls.append(1)
            return "late"

        with unexpected_as_internal(where):
            pass
        assert calls == []
        with pytest.raises(InternalError, match="^late: KeyError: 'k'$"), unexpected_as_internal(where):
            raise KeyError("k")
        assert calls == [1]
