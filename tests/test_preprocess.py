"""Scaling, cropping and channel order as Vision feeds a Core ML image input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mlquant.errors import SettingsError
from mlquant.evaluate.preprocess import Preprocessing, to_pixels
from mlquant.evaluate.signature import ImageInput


def stripes(width: int, height: int) -> Image.Image:
    """Left third red, middle third green, right third blue."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    third = width // 3
    pixels[:, :third, 0] = 255
    pixels[:, third : 2 * third, 1] = 255
    pixels[:, 2 * third :, 2] = 255
    return Image.fromarray(pixels)


class TestGeometry:
    def test_center_crop_keeps_the_middle(self) -> None:
        """centerCrop of a 3:1 image to a square keeps only the middle third (green)."""
        pixels = to_pixels(stripes(300, 100), ImageInput("i", 10, 10, "RGB"), Preprocessing(resample="nearest"))
        assert pixels.shape == (3, 10, 10)
        assert (pixels[1] == 255).all() and (pixels[0] == 0).all() and (pixels[2] == 0).all()

    def test_scale_fill_stretches(self) -> None:
        """scaleFill keeps all three stripes, squeezed."""
        pixels = to_pixels(stripes(300, 100), ImageInput("i", 9, 9, "RGB"),
                           Preprocessing(crop="scaleFill", resample="nearest"))
        assert pixels[0, 4, 0] == 255 and pixels[1, 4, 4] == 255 and pixels[2, 4, 8] == 255

    def test_scale_fit_letterboxes(self) -> None:
        """scaleFit keeps the aspect ratio and pads with black above and below."""
        pixels = to_pixels(stripes(300, 100), ImageInput("i", 9, 9, "RGB"),
                           Preprocessing(crop="scaleFit", resample="nearest"))
        assert pixels[:, 0, :].max() == 0 and pixels[:, 8, :].max() == 0
        assert pixels[0, 4, 0] == 255 and pixels[2, 4, 8] == 255

    def test_center_crop_of_a_tall_image(self) -> None:
        """A tall image is cropped top and bottom, keeping the whole width."""
        tall = stripes(90, 300)
        pixels = to_pixels(tall, ImageInput("i", 9, 9, "RGB"), Preprocessing(resample="nearest"))
        assert pixels[0, :, 0].min() == 255 and pixels[2, :, 8].min() == 255


class TestChannels:
    def test_bgr_order(self) -> None:
        """A BGR model receives blue first."""
        image = Image.new("RGB", (4, 4), (10, 20, 30))
        assert to_pixels(image, ImageInput("i", 4, 4, "BGR"), Preprocessing())[:, 0, 0].tolist() == [30, 20, 10]

    def test_grayscale(self) -> None:
        """A grayscale model receives one channel of ITU-R 601 luma."""
        image = Image.new("RGB", (4, 4), (100, 150, 200))
        pixels = to_pixels(image, ImageInput("i", 4, 4, "GRAYSCALE"), Preprocessing())
        assert pixels.shape == (1, 4, 4)
        assert pixels[0, 0, 0] == round(100 * 0.299 + 150 * 0.587 + 200 * 0.114)


class TestOptions:
    def test_validation(self) -> None:
        """Unknown crop modes and filters are refused with the known names."""
        with pytest.raises(SettingsError, match="crop must be one of centerCrop, scaleFit, scaleFill"):
            Preprocessing(crop="center")
        with pytest.raises(SettingsError, match="resample must be one of"):
            Preprocessing(resample="cubic")
