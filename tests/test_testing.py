"""mlquant.testing: the conformance check a user runs on a custom quantizer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import mlquant
from mlquant.testing import check_quantizer

BROKEN = """
import numpy as np, mlquant
from mlquant.testing import check_quantizer

class Changes(mlquant.LUTQuantizer):
    def lut(self, values):
        values += 1  # modifies its input
        return np.linspace(-1, 1, 2 ** self.nbits), np.zeros(values.size, dtype=np.int64)

try:
    check_quantizer(Changes(nbits=2))
except mlquant.ContractError as error:
    print("refused:", error)
"""


class TestCheckQuantizer:
    def test_built_ins_pass(self) -> None:
        """Every built-in strategy keeps the contract."""
        for quantizer in (mlquant.Float16Quantizer(), mlquant.LinearQuantizer(nbits=4), mlquant.KMeansLUTQuantizer(nbits=3)):
            check_quantizer(quantizer)

    def test_refuses_even_under_python_O(self, tmp_path: Path) -> None:
        """A broken quantizer is refused with ContractError even when Python runs with -O (asserts off)."""
        script = tmp_path / "broken.py"
        script.write_text(BROKEN)
        root = Path(__file__).resolve().parents[1]
        result = subprocess.run([sys.executable, "-O", str(script)], capture_output=True, text=True, cwd=root,
                                env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, timeout=300)
        assert result.returncode == 0, result.stderr
        assert "refused: " in result.stdout and "the input array was modified" in result.stdout

    def test_contract_error_is_an_assertion(self) -> None:
        """ContractError is an AssertionError, so test frameworks report it as a failed check."""
        assert issubclass(mlquant.ContractError, AssertionError) and issubclass(mlquant.ContractError, mlquant.MlquantError)
        with pytest.raises(mlquant.ContractError, match="is not an mlquant.Quantizer"):
            check_quantizer(object())  # type: ignore[arg-type]
