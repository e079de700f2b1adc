"""Atomic writes and the output checks every command makes before it works."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlquant._files import atomic_write, check_output
from mlquant.errors import OutputError, OverwriteError


class TestAtomicWrite:
    def test_permissions_follow_the_umask_without_touching_it(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The file gets 0o666 less the umask, and the process umask is never changed (other threads rely on it)."""
        previous = os.umask(0o027)
        try:
            monkeypatch.setattr(os, "umask", lambda mask: pytest.fail("atomic_write changed the umask"))
            path = atomic_write(tmp_path / "a.txt", "hello")
        finally:
            monkeypatch.undo()
            os.umask(previous)
        assert path.read_text() == "hello" and path.stat().st_mode & 0o777 == 0o640

    def test_flushed_to_disk_before_the_rename(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The data is fsync'ed before the rename makes it visible."""
        events: list[str] = []
        real_fsync, real_replace = os.fsync, os.replace
        monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
        monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
        atomic_write(tmp_path / "b.bin", b"\x00" * 10)
        assert events == ["fsync", "replace"]

    def test_no_temporary_file_is_left_behind(self, tmp_path: Path) -> None:
        """After a write (or a failed one) the folder holds only the target."""
        atomic_write(tmp_path / "c.txt", "x")
        (tmp_path / "d").mkdir()
        with pytest.raises(OutputError, match="it is a folder"):
            atomic_write(tmp_path / "d", "x")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt", "d"]


class TestCheckOutput:
    def test_inside_the_data(self, tmp_path: Path) -> None:
        """An output inside a data folder is refused."""
        (tmp_path / "data" / "cats").mkdir(parents=True)
        with pytest.raises(OutputError, match="lies inside the data folder"):
            check_output(tmp_path / "data" / "cats" / "r.csv", data=[tmp_path / "data"], what="--csv")

    def test_over_an_input(self, tmp_path: Path) -> None:
        """An output that is an input file, or a folder holding one, is refused."""
        model = tmp_path / "m.mlmodel"
        model.write_bytes(b"x")
        with pytest.raises(OverwriteError, match="refusing to overwrite"):
            check_output(model, inputs=[model])
        with pytest.raises(OverwriteError, match="holds the input"):
            check_output(tmp_path, folder=True, inputs=[model])

    def test_in_the_way(self, tmp_path: Path) -> None:
        """A folder where a file goes, a file where a folder goes, or a file as a parent, is refused."""
        (tmp_path / "dir").mkdir()
        (tmp_path / "file").write_text("x")
        with pytest.raises(OutputError, match="is a folder"):
            check_output(tmp_path / "dir")
        with pytest.raises(OutputError, match="is a file"):
            check_output(tmp_path / "file", folder=True)
        with pytest.raises(OutputError, match="is a file"):
            check_output(tmp_path / "file" / "out.csv")

    def test_fine_paths_pass(self, tmp_path: Path) -> None:
        """A new file in a new folder is fine, and nothing is created by checking."""
        assert check_output(tmp_path / "new" / "out.csv") == tmp_path / "new" / "out.csv"
        assert not (tmp_path / "new").exists()
