"""Development sessions: ``nox -s tests``, ``lint``, ``typecheck``, ``docs``; ``benchmarks`` on request."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite, as CI does."""
    session.install(".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint over the package, tests and benchmarks."""
    session.install("ruff")
    session.run("ruff", "check", "mlquant", "tests", "benchmarks", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over the package."""
    session.install(".", "mypy")
    session.run("mypy", "mlquant")


@nox.session
def docs(session: nox.Session) -> None:
    """Check that every public name is documented, and run the README's and docs/'s examples."""
    session.install(".[test]")
    session.run("python", "-c", _DOCS_CHECK)
    session.run("python", "-m", "pytest", "tests/test_docs.py", *session.posargs)


_DOCS_CHECK = """
import inspect, mlquant
missing = [name for name in mlquant.__all__ if not inspect.getdoc(getattr(mlquant, name))]
assert not missing, f"undocumented public names: {missing}"
print(f"{len(mlquant.__all__)} public names, all documented")
"""


@nox.session(default=False)
def benchmarks(session: nox.Session) -> None:
    """Run the benchmarks that compare mlquant with coremltools and onnxruntime side by side."""
    session.install(".[test]")
    for script in ("quantize_grid.py", "runtime.py", "sweep.py", "mixed_precision.py"):
        session.run("python", f"benchmarks/{script}", *session.posargs)
    for script in ("mlprogram_package.py", "mlprogram_quantize.py", "mlprogram_runtime.py", "mlprogram_sweep.py",
                   "mlprogram_backends.py", "backends.py", "evaluate_speed.py", "data_aware.py", "scaling.py"):
        session.run("python", f"benchmarks/{script}")


@nox.session(default=False)
def conformance(session: nox.Session) -> None:
    """The ML Program runtime against PyTorch on torchvision's architectures (several GB of wheels)."""
    session.install(".[test]", "torch", "torchvision")
    session.run("python", "-m", "pytest", "tests/conformance", "-s", "-q", *session.posargs)
