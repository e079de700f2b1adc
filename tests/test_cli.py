"""The command line, through its real entry points."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mlquant
from mlquant.cli import main

from . import _models


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``mlquant`` as a user would: the installed script if there is one, else ``python -m mlquant``."""
    script = shutil.which("mlquant")
    command = [script] if script else [sys.executable, "-m", "mlquant"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([*command, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


@pytest.fixture
def mlp_file(tmp_path: Path) -> Path:
    path = tmp_path / "mlp.mlmodel"
    path.write_bytes(_models.mlp_classifier().SerializeToString())
    return path


class TestInspect:
    def test_table(self, food_dir: Path) -> None:
        """inspect lists every weighted layer with type, count, storage, bits and bytes."""
        result = run_cli("inspect", str(food_dir / "food.mlmodel"))
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert "neuralNetworkClassifier, 3.72 MB" in lines[0]
        assert lines[1].split() == ["layer", "type", "weights", "storage", "bits", "bytes"]
        assert lines[3].split() == ["conv1", "convolution", "1,792", "float32", "32", "7,168"]
        assert "52 weight tensors, 774,309 values" in result.stdout
        assert result.stderr == ""

    def test_json(self, mlp_file: Path) -> None:
        """--json prints machine-readable layers."""
        result = run_cli("inspect", str(mlp_file), "--json")
        payload = json.loads(result.stdout)
        assert [layer["layer"] for layer in payload["layers"]] == ["fc1", "fc2"]
        assert payload["size_bytes"] == mlp_file.stat().st_size


class TestQuantize:
    def test_writes_the_model(self, mlp_file: Path, tmp_path: Path) -> None:
        """quantize writes a valid quantized file and says how big it is."""
        out = tmp_path / "small.mlmodel"
        result = run_cli("quantize", str(mlp_file), "--method", "kmeans_lut", "--nbits", "3", "-o", str(out))
        assert result.returncode == 0, result.stderr
        assert f"wrote {out}" in result.stdout
        assert [w.storage for w in mlquant.load(out).weights] == ["lut", "float32", "lut", "float32"]

    def test_default_output_name(self, mlp_file: Path) -> None:
        """Without -o the output goes beside the input, named after the quantizer."""
        assert main(["quantize", str(mlp_file), "--method", "linear", "--nbits", "4"]) == 0
        assert (mlp_file.parent / "mlp_linear_4.mlmodel").is_file()

    def test_refuses_to_overwrite_its_input(self, mlp_file: Path) -> None:
        """-o pointing at the input is refused with exit code 2 and the input is unchanged."""
        before = mlp_file.read_bytes()
        result = run_cli("quantize", str(mlp_file), "-o", str(mlp_file))
        assert result.returncode == 2
        assert result.stderr.startswith("mlquant quantize: error: refusing to overwrite")
        assert mlp_file.read_bytes() == before


class TestErrors:
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["inspect", "missing.mlmodel"], "mlquant inspect: error: no model file at missing.mlmodel"),
            (["quantize", "MODEL", "--nbits", "12"], "mlquant quantize: error: nbits must be 1-8 or 16 (got 12)"),
            (["quantize", "MODEL", "--method", "kmeans"], "invalid choice: 'kmeans'"),
            (["frobnicate"], "invalid choice: 'frobnicate'"),
        ],
    )
    def test_one_line_and_exit_code_2(self, mlp_file: Path, args: list[str], message: str) -> None:
        """Bad input is one line on stderr and exit code 2, never a traceback."""
        result = run_cli(*[str(mlp_file) if a == "MODEL" else a for a in args], cwd=mlp_file.parent)
        assert result.returncode == 2
        assert message in result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) <= 2  # argparse adds a usage line

    def test_not_a_model(self, tmp_path: Path) -> None:
        """A text file given as a model is one clear line."""
        path = tmp_path / "notes.mlmodel"
        path.write_text("not a model")
        result = run_cli("inspect", str(path))
        assert result.returncode == 2
        assert result.stderr.strip().count("\n") == 0 and "is not a readable Core ML model" in result.stderr


@pytest.fixture(scope="module")
def demo_files(demo):
    """The session's demo model and images."""
    return demo


class TestEvaluate:
    def test_table_and_csv(self, demo_files, tmp_path: Path) -> None:
        """evaluate prints per-class accuracy and writes the one-model-per-row CSV."""
        small = tmp_path / "small.mlmodel"
        assert main(["quantize", str(demo_files.model), "--method", "linear", "--nbits", "4", "-o", str(small)]) == 0
        csv_path = tmp_path / "r.csv"
        result = run_cli("evaluate", str(demo_files.model), str(small), "--data", str(demo_files.data),
                         "--csv", str(csv_path), "--backend", "reference")
        assert result.returncode == 0, result.stderr
        header = result.stdout.splitlines()[0].split()
        assert header[:3] == ["model", "size", "0"] and header[-4:] == ["accuracy", "class", "mean", "agreement"]
        rows = csv_path.read_text().splitlines()
        assert rows[0].startswith("model,size,0,1,") and rows[1].startswith("digits,") and rows[2].startswith("small,")

    def test_folder_that_matches_no_label(self, demo_files, tmp_path: Path) -> None:
        """A class folder the model does not know is one line and exit code 2."""
        (tmp_path / "cats").mkdir()
        (tmp_path / "cats" / "a.png").write_bytes((demo_files.data / "0").iterdir().__next__().read_bytes())
        result = run_cli("evaluate", str(demo_files.model), "--data", str(tmp_path))
        assert result.returncode == 2 and "class folder 'cats' matches none of the model's 10 labels" in result.stderr
        assert "Traceback" not in result.stderr

    def test_missing_data_folder(self, demo_files) -> None:
        """A data folder that does not exist is one line and exit code 2."""
        result = run_cli("evaluate", str(demo_files.model), "--data", "no/such/folder")
        assert result.returncode == 2 and "data folder no/such/folder does not exist" in result.stderr


class TestSweepAndSelect:
    def test_sweep_select_and_exit_codes(self, demo_files, tmp_path: Path) -> None:
        """sweep writes its report and exits 0; select re-chooses from results.json; no pass exits 1."""
        out = tmp_path / "sweep"
        result = run_cli("sweep", str(demo_files.model), "--data", str(demo_files.data), "--out", str(out),
                         "--methods", "linear,kmeans_lut", "--nbits", "8,4,1", "--backend", "reference", "--quiet")
        assert result.returncode == 0, result.stderr
        assert "chosen: " in result.stdout and (out / "report.md").is_file()
        again = run_cli("select", str(out / "results.json"), "--json")
        assert again.returncode == 0 and json.loads(again.stdout)["chosen"] in {"linear_4", "kmeans_lut_4"}
        loose = json.loads(run_cli("select", str(out / "results.json"), "--max-drop", "60", "--max-class-drop", "-1",
                                   "--json").stdout)
        assert loose["chosen"] in {"linear_1", "kmeans_lut_1"}
        hopeless = run_cli("sweep", str(demo_files.model), "--data", str(demo_files.data), "--out", str(tmp_path / "one"),
                           "--methods", "linear_lut", "--nbits", "1", "--backend", "reference")
        assert hopeless.returncode == 1 and "no candidate chosen" in hopeless.stdout

    def test_select_on_a_missing_file(self, tmp_path: Path) -> None:
        """select on a file that is not there is one line and exit code 2."""
        result = run_cli("select", str(tmp_path / "results.json"))
        assert result.returncode == 2 and "no results file at" in result.stderr


class TestDemo:
    def test_demo_runs_the_whole_job(self, tmp_path: Path) -> None:
        """demo needs no files: it builds the digits model, sweeps it, prints the table and the choice; on an
        80-column terminal the sweep's progress shows candidates and evaluations on lines that never wrap."""
        import re

        stdout, screen, code = run_in_terminal("demo", "--out", str(tmp_path / "demo"), "--backend", "reference")
        assert code == 0, screen
        assert "held-out accuracy" in stdout and "chosen: " in stdout
        assert (tmp_path / "demo" / "sweep" / "report.md").is_file()
        visible = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
        segments = [s for s in re.split(r"[\r\n]", visible) if s.strip()]
        assert any(s.startswith("candidates") for s in segments) and any(s.startswith("evaluating") for s in segments)
        assert max(len(s) for s in segments) <= 80, max(segments, key=len)


class TestMoreBadInput:
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["sweep", "MODEL", "--data", "DATA", "--nbits", "x"], "--nbits: expected comma-separated whole numbers"),
            (["evaluate", "MODEL", "--data", "DATA", "--batch-size", "0"], "batch_size must be a whole number >= 1"),
            (["quantize", "MODEL", "-o", "DATA"], "is a folder; expected a file path"),
            (["demo", "--out", "MODEL"], "is a file; expected a folder"),
            (["select", "MODEL"], "is not readable JSON"),
        ],
    )
    def test_one_line_and_exit_code_2(self, demo_files, args: list[str], message: str) -> None:
        """Wrong numbers, a folder where a file goes, and a model given as results are one line, exit 2."""
        before = demo_files.model.read_bytes()
        swap = {"MODEL": str(demo_files.model), "DATA": str(demo_files.data)}
        result = run_cli(*[swap.get(a, a) for a in args])
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
        assert demo_files.model.read_bytes() == before


class TestCorrectness:
    def test_internal_error_is_a_bug_with_its_own_exit_code(self, demo_files, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
        """A kernel that crashes is an internal error: exit 3, one line naming the layer and shapes; --debug raises."""
        from mlquant.runtime.neuralnetwork import registry

        def broken(ctx):  # type: ignore[no-untyped-def]
            def kernel(inputs):  # type: ignore[no-untyped-def]
                raise ValueError("strides is incompatible with shape of requested array")
            return kernel

        monkeypatch.setitem(registry.KERNELS, "innerProduct", broken)
        args = ["evaluate", str(demo_files.model), "--data", str(demo_files.data), "--backend", "reference"]
        assert main(args) == 3
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "internal error (a bug in mlquant" in err
        assert "layer 'dense1' (innerProduct) failed on inputs of shape (1, 32, 64, 1, 1)" in err
        with pytest.raises(mlquant.InternalError):
            main(["--debug", *args])

    def test_notes_are_one_line_each(self, mlp_file: Path, tmp_path: Path) -> None:
        """A quantized model larger than its input (8-bit tables on tiny layers) is written with a one-line note."""
        result = run_cli("quantize", str(mlp_file), "--method", "kmeans_lut", "--nbits", "8",
                         "-o", str(tmp_path / "big.mlmodel"))
        assert result.returncode == 0, result.stderr
        notes = [line for line in result.stderr.splitlines() if line]
        assert notes == [next(line for line in notes if "not smaller than its input" in line)]
        assert notes[0].startswith("mlquant quantize: note: ") and (tmp_path / "big.mlmodel").is_file()

    def test_selection_matching_nothing_is_an_error(self, demo_files, tmp_path: Path) -> None:
        """--only matching no layer is exit 2 and writes nothing."""
        output = tmp_path / "q.mlmodel"
        result = run_cli("quantize", str(demo_files.model), "--only", "zzz*", "-o", str(output))
        assert result.returncode == 2 and "matches none of the model's" in result.stderr
        assert not output.exists()

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["evaluate", "MODEL", "--data", "DATA", "--csv", "DATA/3/r.csv"], "lies inside the data folder"),
            (["evaluate", "MODEL", "--data", "DATA", "--json-out", "DATA/x.json"], "lies inside the data folder"),
            (["evaluate", "MODEL", "--data", "DATA", "--csv", "FOLDER"], "is a folder; expected a file path"),
            (["evaluate", "MODEL", "--data", "DATA", "--csv", "MODEL"], "refusing to overwrite"),
            (["sweep", "MODEL", "--data", "DATA", "--out", "FILE"], "is a file; expected a folder"),
            (["sweep", "MODEL", "--data", "DATA", "--out", "DATA/3"], "lies inside the data folder"),
        ],
    )
    def test_outputs_are_checked_before_any_work(self, demo_files, tmp_path: Path, args: list[str], message: str) -> None:
        """Every output path is checked before anything is evaluated: one line, exit 2, the inputs untouched."""
        (tmp_path / "folder").mkdir()
        (tmp_path / "file").write_text("x")
        swap = {"MODEL": str(demo_files.model), "DATA": str(demo_files.data), "FOLDER": str(tmp_path / "folder"),
                "FILE": str(tmp_path / "file")}
        before = {p: p.read_bytes() for p in demo_files.data.rglob("*") if p.is_file()}
        result = run_cli(*[swap.get(a, a.replace("DATA", str(demo_files.data))) for a in args], "--backend", "reference")
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert "evaluating" not in result.stderr
        assert {p: p.read_bytes() for p in demo_files.data.rglob("*") if p.is_file()} == before

    def test_demo_honours_its_evaluation_options(self, tmp_path: Path) -> None:
        """demo passes --resample and --batch-size on to the sweep it runs."""
        result = run_cli("demo", "--out", str(tmp_path / "demo"), "--backend", "reference", "--resample", "nearest",
                         "--batch-size", "7", "--fast")
        assert result.returncode == 0, result.stderr
        report = (tmp_path / "demo" / "sweep" / "report.md").read_text()
        assert "'resample': 'nearest'" in report


def run_in_terminal(*args: str, columns: int = 80) -> tuple[str, str, int]:
    """Run ``mlquant`` with standard error on a pseudo-terminal ``columns`` wide; return (stdout, terminal bytes,
    exit code)."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    script = shutil.which("mlquant")
    command = [script] if script else [sys.executable, "-m", "mlquant"]
    env = {k: v for k, v in os.environ.items() if k not in {"COLUMNS", "LINES"}}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    process = subprocess.Popen([*command, *args], stdout=subprocess.PIPE, stderr=slave, env=env, text=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the terminal closed: the process is done writing
            break
        if not data:
            break
        chunks.append(data)
    stdout = process.communicate(timeout=600)[0]
    os.close(master)
    return stdout, b"".join(chunks).decode(errors="replace"), process.returncode


class TestFirstHour:
    def test_float16_method_needs_no_width(self, mlp_file: Path, tmp_path: Path) -> None:
        """quantize --method float16 means 16 bits without being told."""
        output = tmp_path / "half.mlmodel"
        result = run_cli("quantize", str(mlp_file), "--method", "float16", "-o", str(output))
        assert result.returncode == 0, result.stderr
        assert {w.storage for w in mlquant.load(output).weights if not w.is_bias} == {"float16"}

    def test_label_map_option(self, demo_files, tmp_path: Path) -> None:
        """A folder that matches no label can be mapped with --label-map, and the error says so."""
        data = tmp_path / "data"
        shutil.copytree(demo_files.data / "7", data / "seven")
        shutil.copytree(demo_files.data / "1", data / "1")
        plain = run_cli("evaluate", str(demo_files.model), "--data", str(data), "--backend", "reference")
        assert plain.returncode == 2 and "--label-map FILE" in plain.stderr
        mapping = tmp_path / "labels.json"
        mapping.write_text(json.dumps({"seven": "7"}))
        mapped = run_cli("evaluate", str(demo_files.model), "--data", str(data), "--label-map", str(mapping),
                         "--backend", "reference", "--json")
        assert mapped.returncode == 0, mapped.stderr
        assert set(json.loads(mapped.stdout)[0]["per_class"]) == {"1", "7"}

    def test_a_closed_pipe_is_not_an_error(self, demo_files) -> None:
        """inspect --json | head -2 ends quietly with exit 0, not a BrokenPipeError traceback."""
        script = shutil.which("mlquant") or f"{sys.executable} -m mlquant"
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        result = subprocess.run(f"{script} inspect --json {demo_files.model} | head -2; exit ${{PIPESTATUS[0]}}",
                                shell=True, executable="/bin/bash", capture_output=True, text=True, env=env)
        assert result.returncode == 0 and "Traceback" not in result.stderr and len(result.stdout.splitlines()) == 2

    def test_no_limit_is_said_and_spelled(self, demo_files, tmp_path: Path) -> None:
        """--max-drop none (or a negative number) switches the limit off, and the output says 'no limit'."""
        out = tmp_path / "s"
        result = run_cli("sweep", str(demo_files.model), "--data", str(demo_files.data), "--out", str(out),
                         "--methods", "kmeans_lut", "--nbits", "4", "--max-drop", "none", "--max-class-drop", "-1",
                         "--backend", "reference")
        assert result.returncode == 0, result.stderr
        assert "tolerance: mean drop no limit, worst class drop no limit" in result.stdout

    @pytest.mark.parametrize(("value", "message"), [
        ("4,,6", "no empty entries"), ("4,12", "widths must be 1-8 or 16"), ("x", "comma-separated whole numbers"),
    ])
    def test_widths_are_checked(self, demo_files, value: str, message: str) -> None:
        """--nbits refuses empty entries, impossible widths and words, in one line."""
        result = run_cli("sweep", str(demo_files.model), "--data", str(demo_files.data), "--nbits", value)
        assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1

    def test_sweep_help_shows_its_defaults(self) -> None:
        """sweep --help lists the default methods and widths."""
        result = run_cli("sweep", "--help")
        assert "linear,linear_lut,kmeans_lut" in result.stdout and "16,8,7,6,5,4,3,2,1" in result.stdout

    def test_a_resumed_sweep_says_what_it_reused(self, demo_files, tmp_path: Path) -> None:
        """Sweeping again into the same folder reports the evaluations it took from the cache."""
        args = ["sweep", str(demo_files.model), "--data", str(demo_files.data), "--out", str(tmp_path / "s"),
                "--methods", "linear", "--nbits", "8,4", "--backend", "reference"]
        run_cli(*args)
        again = run_cli(*args)
        assert again.returncode == 0 and "reused 3 cached evaluations from an earlier run" in again.stdout

    def test_an_interrupted_sweep_says_how_to_resume(self, demo_files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
        """Ctrl-C during a sweep exits 130 and says that the same command resumes from the cache."""
        from mlquant.cli import commands

        def interrupted(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise KeyboardInterrupt

        monkeypatch.setattr(commands, "sweep", interrupted)
        code = main(["sweep", str(demo_files.model), "--data", str(demo_files.data), "--out", str(tmp_path / "s")])
        err = capsys.readouterr().err
        assert code == 130 and "run the same command again to resume" in err and "interrupted" in err


class TestMLPrograms:
    def test_inspect_shows_target_and_precision(self, mlpackages, capsys) -> None:
        """inspect on a package names the deployment target, opset and compute precision, and the storage."""
        assert main(["inspect", str(mlpackages["grouped3_18"])]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert "mlProgram, deployment target iOS18 (opset CoreML8), compute precision fp16" in lines[0]
        assert lines[3].split()[:4] == ["conv1_cast_fp16", "conv", "1,168", "lut+float16"]
        assert main(["inspect", str(mlpackages["fp32_16"]), "--json"]) == 0
        payload = json.loads(capsys.readouterr().out)
        assert (payload["deployment_target"], payload["compute_precision"]) == ("iOS16 (opset CoreML6)", "fp32")

    def test_quantize_writes_a_package(self, mlpackages, tmp_path, capsys) -> None:
        """quantize on a package, or an ML Program .mlmodel file, writes a package beside it by default."""
        source = shutil.copytree(mlpackages["fp32_16"], tmp_path / "net.mlpackage")
        assert main(["quantize", str(source), "--method", "linear_lut", "--nbits", "4"]) == 0
        written = mlquant.load(tmp_path / "net_linear_lut_4.mlpackage")
        assert written.weights[0].storage == "lut" and "wrote" in capsys.readouterr().out
        bare = shutil.copytree(mlpackages["fp32_16"] / "Data/com.apple.CoreML", tmp_path / "bare")
        assert main(["quantize", str(bare / "model.mlmodel"), "--method", "float16"]) == 0
        assert mlquant.load(bare / "model_float16.mlpackage").weights[0].storage == "float16"
