"""What every executor checks of its feeds before running: the names and one batch size."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import DataError

__all__ = ["check_feeds", "check_item_shape"]


def check_feeds(
    feeds: Mapping[str, Any], names: Sequence[str], check_one: Callable[[str, Any], np.ndarray]
) -> dict[str, np.ndarray]:
    """Check that ``feeds`` names exactly ``names``, each passing ``check_one``, all of one batch size.

    Raises:
        DataError: Feeds missing, unknown, failing their check, or of different batch sizes.
    """
    if not isinstance(feeds, Mapping):
        msg = f"feeds must map input names to arrays (got {type(feeds).__name__})"
        raise DataError(msg)
    missing = [n for n in names if n not in feeds]
    unknown = [n for n in feeds if n not in names]
    if missing or unknown:
        msg = f"feeds must be exactly the inputs {list(names)} (missing {missing}, unknown {unknown})"
        raise DataError(msg)
    checked = {name: check_one(name, feeds[name]) for name in names}
    batches = {name: x.shape[0] for name, x in checked.items()}
    if len(set(batches.values())) > 1:
        msg = f"all feeds need the same batch size (got {batches})"
        raise DataError(msg)
    return checked


def check_item_shape(name: str, x: np.ndarray, item: Sequence[int | None]) -> np.ndarray:
    """Check that ``x`` is a batch ``(B, *item)`` of at least one item (None in ``item`` takes any size).

    Raises:
        DataError: It is not.
    """
    fits = x.ndim == len(item) + 1 and all(n is None or n == got for n, got in zip(item, x.shape[1:], strict=True))
    if not fits or x.shape[0] < 1:
        wanted = ", ".join(["B", *("*" if n is None else str(n) for n in item)])
        msg = f"input '{name}': expected shape ({wanted}) (got {x.shape})"
        raise DataError(msg)
    return x
