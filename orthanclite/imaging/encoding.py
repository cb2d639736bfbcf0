"""Encode rendered pixels as PNG, JPEG, PAM or NumPy ``.npy`` bytes."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

# zlib level of PNG responses: level 1 makes files a little larger than
# level 6 but is several times faster on 512x512 frames.
PNG_COMPRESS_LEVEL = 1


def _to_image(pixels: np.ndarray) -> Image.Image:
    """Wrap pixels in a Pillow image of mode ``L``, ``RGB`` or ``I;16``."""
    if pixels.dtype == np.uint16:
        pixels = pixels.astype("<u2", copy=False)
    return Image.fromarray(np.ascontiguousarray(pixels))


def encode_png(pixels: np.ndarray) -> bytes:
    """Encode 8-bit grayscale or RGB, or 16-bit grayscale pixels as PNG."""
    buffer = io.BytesIO()
    _to_image(pixels).save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def encode_jpeg(pixels: np.ndarray, quality: int) -> bytes:
    """Encode 8-bit grayscale or RGB pixels as JPEG (JFIF) at ``quality`` 1-100."""
    buffer = io.BytesIO()
    _to_image(pixels).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def encode_pam(pixels: np.ndarray) -> bytes:
    """Encode pixels as a Netpbm PAM file; 16-bit samples are big endian."""
    height, width = pixels.shape[:2]
    depth = 3 if pixels.ndim == 3 else 1
    maxval = 65535 if pixels.dtype == np.uint16 else 255
    tuple_type = "RGB" if depth == 3 else "GRAYSCALE"
    header = (
        f"P7\nWIDTH {width}\nHEIGHT {height}\nDEPTH {depth}\nMAXVAL {maxval}\n"
        f"TUPLTYPE {tuple_type}\nENDHDR\n"
    ).encode("ascii")
    if pixels.dtype == np.uint16:
        return header + pixels.astype(">u2").tobytes()
    return header + np.ascontiguousarray(pixels).tobytes()


def encode_npy(array: np.ndarray) -> bytes:
    """Serialize an array in NumPy's ``.npy`` format."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def resize(pixels: np.ndarray, width: int, height: int, smooth: bool) -> np.ndarray:
    """Resize 8-bit pixels to ``width`` x ``height``.

    Without ``smooth``, each output pixel takes the input pixel under its
    center, which gives the same pixels as Orthanc 1.10.1.
    """
    if smooth:
        image = _to_image(pixels).resize(
            (width, height), resample=Image.Resampling.BILINEAR
        )
        return np.asarray(image)
    rows, columns = pixels.shape[:2]
    ys = np.floor((np.arange(height) + 0.5) * rows / height).astype(np.intp)
    xs = np.floor((np.arange(width) + 0.5) * columns / width).astype(np.intp)
    return pixels[np.ix_(np.minimum(ys, rows - 1), np.minimum(xs, columns - 1))]
