"""Turn a decoded frame into the pixels of each image route, as Orthanc does.

The rules were checked pixel by pixel against Orthanc 1.10.1:

* preview: the stored values stretched from their minimum to their maximum,
  ``floor(v * s - min * s + 0.5)`` with ``s = 255 / (max - min)``, computed
  in single precision;
* rendered: the modality LUT (Rescale Slope and Intercept) and then the
  first window, ``floor(clip((v - (center - width / 2)) / width * 255, 0, 255))``,
  or the window ``[0, 2**BitsStored]`` when the dataset has none;
* image-uint8, image-uint16 and image-int16: the stored values clipped to
  the range of the type.

MONOCHROME1 is inverted by preview and rendered only. Color frames keep the
high 8 bits of each sample in preview and rendered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from orthanclite.imaging.frames import ImageInfo


@dataclass(frozen=True, slots=True)
class Window:
    """A VOI window: its center and width, in output units of the modality LUT."""

    center: float
    width: float


def stretch_to_uint8(frame: np.ndarray, info: ImageInfo) -> np.ndarray:
    """Map a grayscale frame's minimum to 0 and its maximum to 255.

    A color frame is reduced to 8 bits per sample instead.
    """
    if frame.ndim == 3:
        return color_to_uint8(frame, info)
    low = int(frame.min())
    high = int(frame.max())
    if high == low:
        out = np.zeros(frame.shape, dtype=np.uint8)
    else:
        # Single precision, with the offset applied after the scale: this is
        # how Orthanc 1.10.1 computes it, and values that fall near a half
        # round the same way only in this order.
        scale = np.float32(255.0) / np.float32(high - low)
        offset = -np.float32(low) * scale
        scaled = frame.astype(np.float32) * scale + offset + np.float32(0.5)
        out = np.floor(scaled).astype(np.uint8)
    return _invert_if_monochrome1(out, info)


def color_to_uint8(frame: np.ndarray, info: ImageInfo) -> np.ndarray:
    """Keep the high 8 bits of each color sample."""
    if frame.dtype == np.uint8:
        return frame
    if info.photometric == "PALETTE COLOR":
        # pydicom's palette lookup fills the whole width of its output type.
        shift = frame.dtype.itemsize * 8 - 8
    else:
        shift = max(info.bits_stored - 8, 0)
    return (frame >> shift).astype(np.uint8)


def first_window(dataset: Dataset) -> Window | None:
    """Return the first WindowCenter/WindowWidth pair, if it is usable.

    Both elements have VM 1-n. When their counts differ, or the width is not
    positive, there is no usable window and the caller uses its default.
    """
    centers = _decimal_values(dataset.get("WindowCenter"))
    widths = _decimal_values(dataset.get("WindowWidth"))
    if not centers or len(centers) != len(widths):
        return None
    if widths[0] <= 0:
        return None
    return Window(centers[0], widths[0])


def _decimal_values(value: object) -> list[float]:
    """Return the numbers of a DS or IS value of any multiplicity; [] if invalid."""
    if value is None or value == "":
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        items: Iterable[object] = [value]
    else:
        items = value
    numbers = []
    for item in items:
        try:
            numbers.append(float(item))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return []
    return numbers


def rescale(frame: np.ndarray, dataset: Dataset) -> np.ndarray:
    """Apply the modality LUT given by Rescale Slope and Rescale Intercept."""
    slope = _decimal_values(dataset.get("RescaleSlope"))
    intercept = _decimal_values(dataset.get("RescaleIntercept"))
    values = frame.astype(np.float64)
    if slope and slope[0] != 1.0:
        values *= slope[0]
    if intercept and intercept[0] != 0.0:
        values += intercept[0]
    return values


def render_uint8(
    frame: np.ndarray, info: ImageInfo, dataset: Dataset, window: Window | None
) -> np.ndarray:
    """Render a frame for display: modality LUT, VOI window, MONOCHROME1.

    ``window`` overrides the window of the dataset. Without any window the
    rescaled values are stretched from their minimum to their maximum.
    """
    if frame.ndim == 3:
        return color_to_uint8(frame, info)
    values = rescale(frame, dataset)
    window = window or first_window(dataset)
    if window is None and info.bits_stored > 16:
        # NOTE: Orthanc 1.10.1 renders such frames all white; the min-max
        # range of the rescaled values shows the image instead.
        low, high = float(values.min()), float(values.max())
        window = Window((low + high) / 2, max(high - low, 1.0))
    elif window is None:
        window = default_window(info)
    bottom = window.center - window.width / 2
    scaled = (values - bottom) / window.width * 255.0
    out = np.floor(np.clip(scaled, 0.0, 255.0)).astype(np.uint8)
    return _invert_if_monochrome1(out, info)


def default_window(info: ImageInfo) -> Window:
    """Return the window that Orthanc 1.10.1 uses when the dataset has none.

    It spans ``[0, 2**BitsStored]`` whatever the rescale and the sign.
    """
    top = float(2**info.bits_stored)
    return Window(top / 2, top)


def _invert_if_monochrome1(out: np.ndarray, info: ImageInfo) -> np.ndarray:
    if info.photometric == "MONOCHROME1":
        return 255 - out
    return out


def clip_to(frame: np.ndarray, dtype: type[np.integer]) -> np.ndarray:
    """Clip stored values to the range of an integer type (image-uint8 and so on)."""
    limits = np.iinfo(dtype)
    return np.clip(frame, limits.min, limits.max).astype(dtype)
