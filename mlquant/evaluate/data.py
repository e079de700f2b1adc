"""Labelled (or unlabelled) folders of test inputs.

``ImageFolder(root)`` reads ``root/<class>/*`` as labelled data, or a flat folder of files as
unlabelled data (then only agreement with a reference model can be measured). Labelled
inputs are shuffled within each class (a fixed order, seeded by the class's name) and taken
round-robin across classes, so any prefix (an early-stopped evaluation) is a stratified
random sample. Hidden files,
files that are not images and images that cannot be decoded are skipped and reported with
their reasons; ``strict=True`` makes everything but hidden files an error. Each input is
decoded and preprocessed once per input size and option set, in parallel, and the pixels are
reused for every model that shares that input.
"""

from __future__ import annotations

import difflib
import os
import zlib
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import attrs
import numpy as np

from ..errors import DataError
from .preprocess import Preprocessing, UnusableImage, load_image, to_pixels
from .signature import ArrayInput, ImageInput

__all__ = ["Batch", "ImageFolder", "Sample", "Skipped", "decode_input", "resolve_labels"]


@attrs.frozen
class Sample:
    """One input file and the class folder it sits in."""

    path: Path
    """The file."""
    folder: str | None
    """The class folder's name, or None in an unlabelled folder."""


@attrs.frozen
class Skipped:
    """A file that was not evaluated, and why."""

    path: Path
    """The file."""
    reason: str
    """Why it was skipped, e.g. ``hidden file`` or ``unreadable image: ...``."""


@attrs.frozen(eq=False)
class Batch:
    """Every usable input of a folder, decoded for one model input."""

    inputs: np.ndarray
    """``uint8`` pixels ``(N, C, H, W)`` for images, ``float32`` ``(N, *shape)`` for arrays."""
    samples: tuple[Sample, ...]
    """The sample behind each row of ``inputs``."""
    skipped: tuple[Skipped, ...]
    """Files left out while scanning and decoding."""


class ImageFolder:
    """A folder of test inputs: ``root/<class>/*`` (labelled) or ``root/*`` (unlabelled).

    Args:
        root: The folder.
        label_map: Folder name to model label, for folders whose names do not match the
            model's labels on their own.
        strict: Raise :class:`~mlquant.DataError` for any file that is not a usable input
            (hidden files such as ``.DS_Store`` are still skipped quietly but counted).
        workers: Threads that decode images; defaults to the number of CPUs.

    Raises:
        DataError: ``root`` does not exist, is not a folder, or holds no files.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        label_map: Mapping[str, str] | None = None,
        strict: bool = False,
        workers: int | None = None,
    ) -> None:
        self.root = Path(root)
        self.label_map = dict(label_map or {})
        self.strict = strict
        self.workers = workers or os.cpu_count() or 1
        if not self.root.exists():
            msg = f"data folder {self.root} does not exist"
            raise DataError(msg)
        if not self.root.is_dir():
            msg = f"{self.root} is a file; expected a folder of class folders or of images"
            raise DataError(msg)
        self.samples, self.skipped = _scan(self.root)
        if not self.samples:
            msg = f"{self.root} holds no input files" + (f" ({len(self.skipped)} skipped)" if self.skipped else "")
            raise DataError(msg)
        if strict:
            _refuse(self.skipped)
        self._cache: dict[tuple[object, ...], Batch] = {}

    def __repr__(self) -> str:
        kind = f"{len(self.folders)} classes" if self.labelled else "unlabelled"
        return f"<ImageFolder {str(self.root)!r}: {len(self.samples)} files, {kind}>"

    @property
    def labelled(self) -> bool:
        """Whether the inputs sit in class folders."""
        return self.samples[0].folder is not None

    @property
    def folders(self) -> tuple[str, ...]:
        """The class folders' names, sorted."""
        return tuple(sorted({s.folder for s in self.samples if s.folder is not None}))

    def split(self, share: float = 0.5, *, seed: int = 0) -> tuple[ImageFolder, ImageFolder]:
        """Split into two folders, stratified per class and seeded: ``(first, second)``.

        Args:
            share: The fraction of each class that goes to the first part (rounded).
            seed: Seeds the shuffle within each class; the same seed gives the same split.

        Raises:
            DataError: ``share`` leaves either part empty.
        """
        rng = np.random.default_rng(seed)
        first: list[list[Sample]] = []
        second: list[list[Sample]] = []
        for folder in self.folders or (None,):
            members = [s for s in self.samples if s.folder == folder]
            order = rng.permutation(len(members))
            cut = round(share * len(members))
            first.append([members[i] for i in sorted(order[:cut])])
            second.append([members[i] for i in sorted(order[cut:])])
        parts = (_interleave(first), _interleave(second))
        if not parts[0] or not parts[1]:
            msg = f"a {share:.0%} split of {len(self.samples)} inputs leaves a part empty"
            raise DataError(msg)
        return self._subset(parts[0]), self._subset(parts[1])

    def _subset(self, samples: list[Sample]) -> ImageFolder:
        part = object.__new__(ImageFolder)
        part.root, part.label_map, part.strict, part.workers = self.root, self.label_map, self.strict, self.workers
        part.samples, part.skipped, part._cache = tuple(samples), self.skipped, {}
        return part

    def batch(self, target: ImageInput | ArrayInput, options: Preprocessing = Preprocessing()) -> Batch:
        """Decode every input for ``target`` (once; later calls reuse the result).

        Raises:
            DataError: No input can be used, an input does not fit ``target``, or (strict
                mode) any file is unusable.
        """
        key = (attrs.astuple(target), options)
        if key not in self._cache:
            self._cache[key] = self._decode(target, options)
        return self._cache[key]

    def _decode(self, target: ImageInput | ArrayInput, options: Preprocessing) -> Batch:
        self.check_target(target)
        with ThreadPoolExecutor(self.workers) as pool:
            results = list(pool.map(lambda sample: _attempt(sample.path, target, options), self.samples))
        samples, skipped = self.usable({i: r.reason for i, r in enumerate(results) if isinstance(r, Skipped)})
        inputs = np.stack([r for r in results if not isinstance(r, Skipped)])
        return Batch(inputs, samples, skipped)

    def check_target(self, target: ImageInput | ArrayInput) -> None:
        """Check, before decoding, that the folder can feed ``target`` at all.

        Raises:
            DataError: A multi-array input and no ``.npy`` file.
        """
        if isinstance(target, ArrayInput) and not any(s.path.suffix.lower() == ".npy" for s in self.samples):
            msg = (
                f"the model's input {target.name!r} is a multi-array of shape {target.shape}; "
                f"{self.root} holds no .npy files to feed it"
            )
            raise DataError(msg)

    def usable(self, failed: Mapping[int, str]) -> tuple[tuple[Sample, ...], tuple[Skipped, ...]]:
        """The samples that decoded, and every file left out, given why the others did not.

        Args:
            failed: The reason each sample that could not be decoded failed, by its index in
                :attr:`samples`.

        Returns:
            The usable samples in order, and the scan's skipped files followed by the failed ones.

        Raises:
            DataError: Nothing is usable, or (strict mode) something failed.
        """
        gone = tuple(Skipped(self.samples[i].path, failed[i]) for i in sorted(failed))
        if self.strict:
            _refuse(gone)
        kept = tuple(s for i, s in enumerate(self.samples) if i not in failed)
        if not kept:
            msg = f"none of the {len(self.samples)} files in {self.root} is a usable input ({gone[0].reason}, ...)"
            raise DataError(msg)
        return kept, self.skipped + gone


def decode_input(path: Path, target: ImageInput | ArrayInput, options: Preprocessing) -> np.ndarray:
    """One input file as ``target`` takes it: preprocessed ``uint8`` pixels, or a ``float32`` array.

    Raises:
        UnusableImage: The file cannot be read, decoded or shaped for ``target``.
    """
    if isinstance(target, ArrayInput):
        return _load_array(path, target.shape)
    return to_pixels(load_image(path, options), target, options)


def _attempt(path: Path, target: ImageInput | ArrayInput, options: Preprocessing) -> np.ndarray | Skipped:
    try:
        return decode_input(path, target, options)
    except UnusableImage as error:
        return Skipped(path, str(error))


def _load_array(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UnusableImage(f"unreadable .npy file: {error}") from None
    if array.size != int(np.prod(shape)):
        raise UnusableImage(f"array of shape {array.shape} does not fit the input's shape {shape}")
    return array.astype(np.float32).reshape(shape)


def _scan(root: Path) -> tuple[tuple[Sample, ...], tuple[Skipped, ...]]:
    entries = sorted(root.iterdir())
    folders = [e for e in entries if e.is_dir() and not e.name.startswith(".")]
    samples: list[Sample] = []
    skipped: list[Skipped] = []
    if folders:
        for entry in entries:
            if entry.is_file():
                reason = "hidden file" if entry.name.startswith(".") else "outside any class folder"
                skipped.append(Skipped(entry, reason))
        per_class: list[list[Sample]] = []
        for folder in folders:
            found: list[Sample] = []
            _collect(sorted(folder.rglob("*")), folder.name, found, skipped)
            per_class.append(_shuffled(found, folder.name))
        samples = _interleave(per_class)
    else:
        _collect(entries, None, samples, skipped)
    return tuple(samples), tuple(skipped)


def _shuffled(samples: list[Sample], folder: str) -> list[Sample]:
    """A class's samples in a fixed pseudo-random order (seeded by the folder's name)."""
    order = np.random.default_rng(zlib.crc32(folder.encode())).permutation(len(samples))
    return [samples[i] for i in order]


def _interleave(groups: list[list[Sample]]) -> list[Sample]:
    """Round-robin over the classes, so that every prefix of the data is a stratified sample."""
    longest = max((len(g) for g in groups), default=0)
    return [group[i] for i in range(longest) for group in groups if i < len(group)]


def _collect(paths: Iterable[Path], folder: str | None, samples: list[Sample], skipped: list[Skipped]) -> None:
    for path in paths:
        if not path.is_file():
            continue
        if any(part.startswith(".") for part in path.parts[-2:]):
            skipped.append(Skipped(path, "hidden file"))
        else:
            samples.append(Sample(path, folder))


def _refuse(skipped: Sequence[Skipped]) -> None:
    serious = [s for s in skipped if s.reason != "hidden file"]
    if serious:
        more = f" (and {len(serious) - 1} more)" if len(serious) > 1 else ""
        msg = f"{serious[0].path}: {serious[0].reason}{more}; strict mode refuses unusable files"
        raise DataError(msg)


def resolve_labels(
    folders: Sequence[str], labels: Sequence[str] | Sequence[int], label_map: Mapping[str, str] | None = None
) -> dict[str, int]:
    """Map class folder names to indices of the model's labels.

    A folder matches a label exactly, then with underscores read as spaces, then ignoring
    case (``french_fries`` -> ``french fries``); ``label_map`` overrides any folder.

    Raises:
        DataError: A folder matches no label; the message lists the closest labels.
    """
    text = [str(label) for label in labels]
    exact = {label: i for i, label in enumerate(text)}
    folded = {label.replace("_", " ").casefold(): i for i, label in enumerate(text)}
    mapping = {}
    for folder in folders:
        wanted = (label_map or {}).get(folder, folder)
        for candidate in (wanted, wanted.replace("_", " ")):
            if candidate in exact:
                mapping[folder] = exact[candidate]
                break
        else:
            key = wanted.replace("_", " ").casefold()
            if key not in folded:
                close = difflib.get_close_matches(wanted.replace("_", " "), text, n=3, cutoff=0.5)
                hint = f"closest labels: {', '.join(map(repr, close))}" if close else f"labels include {', '.join(map(repr, text[:5]))}"
                msg = (f"class folder {folder!r} matches none of the model's {len(text)} labels ({hint}); map it to "
                       "a label with a label map (--label-map FILE on the command line, label_map= in Python)")
                raise DataError(msg)
            mapping[folder] = folded[key]
    return mapping
