"""Every error mlquant raises on purpose.

All of them share one root, so ``except mlquant.MlquantError`` catches everything mlquant
reports, and each also inherits the builtin exception a Python programmer would expect, so
``except FileNotFoundError`` keeps working::

    MlquantError
    ├── ModelNotFoundError        (FileNotFoundError)  no file at the given path
    ├── InvalidModelError         (ValueError)         not a Core ML model, corrupted, inconsistent
    ├── UnsupportedModelError     (NotImplementedError) a model type mlquant cannot work on
    ├── UnsupportedLayerError     (NotImplementedError) a layer the reference runtime cannot run
    ├── QuantizationError         (ValueError)         weights or tables that cannot be quantized
    ├── SettingsError             (ValueError)         an invalid option or argument
    ├── OverwriteError            (FileExistsError)    a save that would clobber the input model
    ├── OutputError               (OSError)            an output file that cannot be written
    ├── DataError                 (ValueError)         image folders and inputs that cannot be used
    ├── ContractError             (AssertionError)     a quantizer that breaks mlquant's quantizer contract
    ├── WorkerError               (RuntimeError)       work that failed on an executor's workers every time it was tried
    └── InternalError             (RuntimeError)       a failure inside mlquant itself: a bug to report

:class:`MlquantWarning` (a ``UserWarning``) carries notes about what mlquant did on purpose.

Messages say what was expected, what came in, and where. All but :class:`InternalError` are
about the user's input; the command line exits with code 2 for those and 3 for an internal error.
"""

from __future__ import annotations

__all__ = [
    "ContractError",
    "DataError",
    "InternalError",
    "InvalidModelError",
    "MlquantError",
    "MlquantWarning",
    "ModelNotFoundError",
    "OutputError",
    "OverwriteError",
    "QuantizationError",
    "SettingsError",
    "UnsupportedLayerError",
    "UnsupportedModelError",
    "WorkerError",
]


class MlquantError(Exception):
    """The root of every error mlquant raises on purpose."""


class ModelNotFoundError(MlquantError, FileNotFoundError):
    """There is no model file at the given path."""


class InvalidModelError(MlquantError, ValueError):
    """The file is not a readable Core ML model, or its contents contradict each other."""


class UnsupportedModelError(MlquantError, NotImplementedError):
    """The model is a valid Core ML model of a type mlquant does not work on."""


class UnsupportedLayerError(MlquantError, NotImplementedError):
    """A layer the reference runtime cannot execute."""


class QuantizationError(MlquantError, ValueError):
    """Weights, tables or indices that cannot become a valid quantized weight."""


class SettingsError(MlquantError, ValueError):
    """An option or argument outside what is allowed."""


class OverwriteError(MlquantError, FileExistsError):
    """Saving would overwrite the file the model was loaded from."""


class OutputError(MlquantError, OSError):
    """An output file or folder cannot be written (a folder in the way, no permission, a full disk)."""


class DataError(MlquantError, ValueError):
    """Images, folders or arrays that cannot be evaluated."""


class ContractError(MlquantError, AssertionError):
    """A quantizer breaks the contract every mlquant quantizer keeps (see :mod:`mlquant.testing`)."""


class WorkerError(MlquantError, RuntimeError):
    """Work sent to an executor's workers failed (a worker died, the executor broke) every time it was tried.

    The message says what the work was and how often it was tried; the last failure is its ``__cause__``.
    """


class MlquantWarning(UserWarning):
    """Something the caller would not expect, that mlquant did or avoided on purpose.

    Kept weights the format cannot store quantized, weights quantized twice, a quantized model
    that is not smaller than its input. The command line prints each as one ``note:`` line.
    """


class InternalError(MlquantError, RuntimeError):
    """A failure inside mlquant itself (a kernel that crashed on valid input): a bug, not bad input.

    The message names where it happened (layer and input shapes); the original exception is
    its ``__cause__``.
    """
