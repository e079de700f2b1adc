"""Turning an image file into the pixels a Core ML image input receives.

An app usually hands images to a Core ML classifier through Vision (``VNCoreMLRequest``),
which scales and crops every image to the model's input size; mlquant does the same so
that the accuracy it measures is the accuracy the app will see:

* ``centerCrop`` (Vision's default): scale so the short side fits, crop the centre of the
  long side;
* ``scaleFit``: scale so the long side fits, keep the aspect ratio, pad with black;
* ``scaleFill``: stretch to the input size, ignoring the aspect ratio.

Scaling is one resampling pass of the source region that survives the crop (Pillow's
``resize`` with a ``box``), with an antialiasing bilinear filter by default; Apple does not
document Vision's kernel, so the filter is an option. EXIF orientation is applied first, as
Photos shows the image. Palette, grayscale, RGBA (composited on black, as premultiplied
alpha is), CMYK and 16-bit images are converted to 8-bit RGB or gray. The result is
``uint8`` pixels in the model's channel order (RGB, BGR or gray) with shape ``(C, H, W)``;
the model's own scaler or mean image is applied by the backend, as Core ML applies it
inside the model.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ..errors import DataError, SettingsError
from .signature import ImageInput

__all__ = ["CROP_MODES", "RESAMPLING", "Preprocessing", "UnusableImage", "load_image", "to_pixels"]

#: Vision's crop-and-scale options that mlquant reproduces.
CROP_MODES = ("centerCrop", "scaleFit", "scaleFill")
#: Resampling filters by name (Pillow's).
RESAMPLING = ("bilinear", "bicubic", "lanczos", "box", "nearest", "hamming")


def _one_of(choices: tuple[str, ...]) -> Any:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in choices:
            msg = f"Preprocessing: {attribute.name} must be one of {', '.join(choices)} (got {value!r})"
            raise SettingsError(msg)

    return check


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, int) or value <= 0:
        msg = f"Preprocessing: {attribute.name} must be a positive whole number (got {value!r})"
        raise SettingsError(msg)


@attrs.frozen
class Preprocessing:
    """How images are scaled, cropped and decoded before they reach the model."""

    crop: str = attrs.field(default="centerCrop", validator=_one_of(CROP_MODES))
    """Vision's ``VNImageCropAndScaleOption``: ``centerCrop``, ``scaleFit`` or ``scaleFill``."""
    resample: str = attrs.field(default="bilinear", validator=_one_of(RESAMPLING))
    """The resampling filter."""
    exif_orientation: bool = True
    """Rotate or flip images as their EXIF orientation says."""
    max_pixels: int = attrs.field(default=100_000_000, validator=_positive)
    """Larger images are refused as possible decompression bombs instead of decoded."""


class UnusableImage(DataError):
    """An image file that cannot be used; the message is the reason it is skipped."""


def load_image(path: Path, options: Preprocessing) -> Any:
    """Open and fully decode an image, or raise :class:`UnusableImage` saying why not."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image: Any = Image.open(path)
            width, height = image.size
            if width * height > options.max_pixels:
                msg = (
                    f"{width}x{height} is {width * height / 1e6:.3g} megapixels, over the "
                    f"{options.max_pixels / 1e6:g}-megapixel limit (a decompression bomb?)"
                )
                raise UnusableImage(msg)
            image.load()
            if options.exif_orientation:
                image = ImageOps.exif_transpose(image)
    except UnidentifiedImageError:
        raise UnusableImage("not an image file") from None
    except Image.DecompressionBombError as error:
        raise UnusableImage(f"refused as a possible decompression bomb: {error}") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise UnusableImage(f"unreadable image: {error}") from None
    return image


def _to_8bit(image: Any, gray: bool) -> Any:
    """Convert any Pillow mode to 8-bit ``RGB`` (or ``L`` when ``gray``)."""
    from PIL import Image

    if image.mode in {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}:
        values = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16") or values.max() > 255:
            values = values / 257.0
        image = Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")
    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(black, rgba)
    return image.convert("L" if gray else "RGB")


def to_pixels(image: Any, target: ImageInput, options: Preprocessing) -> np.ndarray:
    """Scale and crop a decoded image to ``target``; return ``uint8`` pixels shaped ``(C, H, W)``."""
    from PIL import Image

    filters = {name: getattr(Image.Resampling, name.upper()) for name in RESAMPLING}
    image = _to_8bit(image, gray=target.channels == 1)
    width, height = image.size
    out_w, out_h = target.width, target.height
    if options.crop == "scaleFill":
        resized = image.resize((out_w, out_h), filters[options.resample])
    elif options.crop == "centerCrop":
        scale = max(out_w / width, out_h / height)
        crop_w, crop_h = min(width, out_w / scale), min(height, out_h / scale)
        left, top = (width - crop_w) / 2, (height - crop_h) / 2
        box = (max(0.0, left), max(0.0, top), min(width, left + crop_w), min(height, top + crop_h))
        resized = image.resize((out_w, out_h), filters[options.resample], box=box)
    else:
        scale = min(out_w / width, out_h / height)
        inner = (max(1, round(width * scale)), max(1, round(height * scale)))
        resized = Image.new(image.mode, (out_w, out_h))
        resized.paste(image.resize(inner, filters[options.resample]),
                      ((out_w - inner[0]) // 2, (out_h - inner[1]) // 2))
    pixels = np.asarray(resized, dtype=np.uint8)
    if pixels.ndim == 2:
        return pixels[np.newaxis].copy()
    if target.color_space == "BGR":
        pixels = pixels[:, :, ::-1]
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))
