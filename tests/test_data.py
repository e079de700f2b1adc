"""Image folders: scanning, skipping, label matching and decoding every kind of image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mlquant
from mlquant.errors import DataError
from mlquant.evaluate.data import ImageFolder, resolve_labels
from mlquant.evaluate.preprocess import Preprocessing
from mlquant.evaluate.signature import ArrayInput, ImageInput

RGB8 = ImageInput("image", 8, 8, "RGB")


def solid(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (16, 12), mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).convert(mode).save(path)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two classes, with the debris real folders carry."""
    solid(tmp_path / "french_fries" / "a.jpg", (200, 150, 40))
    solid(tmp_path / "french_fries" / "b.png", (210, 160, 50))
    solid(tmp_path / "Hot_Dog" / "c.png", (180, 60, 40))
    (tmp_path / "Hot_Dog" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (tmp_path / "Hot_Dog" / "notes.txt").write_text("menu")
    data = (tmp_path / "french_fries" / "a.jpg").read_bytes()
    (tmp_path / "Hot_Dog" / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / ".DS_Store").write_bytes(b"\x00")
    return tmp_path


class TestScan:
    def test_labelled_layout(self, folder: Path) -> None:
        """Class folders are found and hidden files are skipped and counted at scan time."""
        data = ImageFolder(folder)
        assert data.labelled and data.folders == ("Hot_Dog", "french_fries")
        assert len(data.samples) == 5
        assert sorted(s.reason for s in data.skipped) == ["hidden file", "hidden file"]

    def test_unusable_files_are_skipped_with_reasons(self, folder: Path) -> None:
        """Non-images and truncated images are skipped at decode time, each with its reason."""
        batch = ImageFolder(folder).batch(RGB8)
        assert batch.inputs.shape == (3, 3, 8, 8) and batch.inputs.dtype == np.uint8
        reasons = {s.path.name: s.reason for s in batch.skipped}
        assert reasons["notes.txt"] == "not an image file"
        assert reasons["truncated.jpg"].startswith("unreadable image:")
        assert reasons[".DS_Store"] == "hidden file"

    def test_strict_mode(self, folder: Path) -> None:
        """strict=True turns an unusable file into a DataError naming it."""
        with pytest.raises(DataError, match="notes.txt: not an image file .*strict mode"):
            ImageFolder(folder, strict=True).batch(RGB8)

    def test_unlabelled_flat_folder(self, tmp_path: Path) -> None:
        """A folder of images with no class folders is unlabelled data."""
        solid(tmp_path / "x.png", (1, 2, 3))
        solid(tmp_path / "y.png", (4, 5, 6))
        data = ImageFolder(tmp_path)
        assert not data.labelled and len(data.samples) == 2

    def test_missing_empty_and_file(self, tmp_path: Path) -> None:
        """A missing folder, an empty folder and a file each give a clear DataError."""
        with pytest.raises(DataError, match="does not exist"):
            ImageFolder(tmp_path / "nope")
        (tmp_path / "empty").mkdir()
        with pytest.raises(DataError, match="holds no input files"):
            ImageFolder(tmp_path / "empty")
        solid(tmp_path / "one.png", (0, 0, 0))
        with pytest.raises(DataError, match="is a file"):
            ImageFolder(tmp_path / "one.png")

    def test_decode_once(self, folder: Path) -> None:
        """The same input spec reuses the decoded batch."""
        data = ImageFolder(folder)
        assert data.batch(RGB8) is data.batch(RGB8)
        assert data.batch(RGB8) is not data.batch(RGB8, Preprocessing(crop="scaleFill"))


class TestImageKinds:
    @pytest.mark.parametrize("mode", ["P", "L", "RGBA", "CMYK", "I;16", "LA"])
    def test_modes_convert(self, tmp_path: Path, mode: str) -> None:
        """Palette, gray, RGBA, CMYK, 16-bit and gray+alpha images all decode to 8-bit RGB."""
        path = tmp_path / "img" / f"x.{'tiff' if mode in {'CMYK', 'I;16'} else 'png'}"
        path.parent.mkdir()
        if mode == "I;16":
            Image.fromarray(np.full((12, 16), 257 * 100, dtype=np.uint16)).save(path)
            expected = [100, 100, 100]
        else:
            image = Image.new("RGB", (16, 12), (0, 128, 255))
            image = image.convert("P", palette=Image.Palette.ADAPTIVE) if mode == "P" else image.convert(mode)
            image.save(path)
            expected = np.asarray(Image.open(path).convert("RGB"))[0, 0].tolist()
        pixels = ImageFolder(path.parent).batch(RGB8).inputs[0]
        assert pixels[:, 4, 4].tolist() == expected

    def test_transparent_pixels_become_black(self, tmp_path: Path) -> None:
        """Fully transparent pixels composite onto black, as premultiplied alpha does."""
        path = tmp_path / "img" / "clear.png"
        path.parent.mkdir()
        Image.new("RGBA", (8, 8), (255, 255, 255, 0)).save(path)
        assert ImageFolder(path.parent).batch(RGB8).inputs.max() == 0

    def test_decompression_bomb_is_refused(self, tmp_path: Path) -> None:
        """An image over the pixel limit is refused with a clear reason instead of decoded."""
        path = solid(tmp_path / "img" / "big.png", (9, 9, 9), size=(400, 300))
        batch_or_error = ImageFolder(path.parent)
        with pytest.raises(DataError, match="400x300 is 0.12 megapixels, over the 0.1-megapixel limit"):
            batch_or_error.batch(RGB8, Preprocessing(max_pixels=100_000))

    def test_npy_for_array_inputs(self, tmp_path: Path) -> None:
        """Multi-array inputs read .npy files; images given to such a model are an error."""
        (tmp_path / "a").mkdir()
        np.save(tmp_path / "a" / "x.npy", np.arange(6, dtype=np.float64).reshape(2, 3))
        batch = ImageFolder(tmp_path).batch(ArrayInput("x", (6,)))
        np.testing.assert_array_equal(batch.inputs, [np.arange(6)])
        solid(tmp_path / "b" / "p.png", (1, 1, 1))
        only_images = ImageFolder(tmp_path / "b")
        with pytest.raises(DataError, match="multi-array of shape \\(6,\\); .* holds no .npy files"):
            only_images.batch(ArrayInput("x", (6,)))


class TestLabels:
    def test_matching_rules(self) -> None:
        """Exact, then underscores as spaces, then case-insensitive; a label map overrides."""
        labels = ["apple pie", "french fries", "hot dog", "Steak"]
        mapping = resolve_labels(["apple pie", "french_fries", "Hot_Dog", "steak"], labels)
        assert mapping == {"apple pie": 0, "french_fries": 1, "Hot_Dog": 2, "steak": 3}
        assert resolve_labels(["chips"], labels, {"chips": "french fries"}) == {"chips": 1}

    def test_unknown_folder_lists_closest_labels(self) -> None:
        """A folder matching no label names the closest labels."""
        with pytest.raises(DataError, match="'frenchfries' matches none of the model's 3 labels \\(closest labels: 'french fries'"):
            resolve_labels(["frenchfries"], ["french fries", "pizza", "sushi"])


class TestSplit:
    def test_stratified_and_seeded(self, tmp_path: Path) -> None:
        """Each class is split by the share; the same seed gives the same split, another seed another."""
        for label in ("a", "b"):
            for i in range(10):
                solid(tmp_path / label / f"{i}.png", (i, i, i))
        data = ImageFolder(tmp_path)
        first, second = data.split(0.3, seed=1)
        assert [s.folder for s in first.samples].count("a") == 3 and len(second.samples) == 14
        assert not {s.path for s in first.samples} & {s.path for s in second.samples}
        assert data.split(0.3, seed=1)[0].samples == first.samples
        assert data.split(0.3, seed=2)[0].samples != first.samples
        with pytest.raises(DataError, match="leaves a part empty"):
            data.split(0.0)


class TestErrors:
    def test_unusable_image_is_an_mlquant_error(self) -> None:
        """The reason an image is skipped is a DataError, inside mlquant's error tree."""
        from mlquant.evaluate.preprocess import UnusableImage

        assert issubclass(UnusableImage, mlquant.DataError) and issubclass(UnusableImage, mlquant.MlquantError)
