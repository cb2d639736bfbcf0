"""Rendering rules, codestream checks and Accept negotiation, without a server."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import JPEG2000Lossless

from orthanclite.api.images import negotiate_format
from orthanclite.errors import OrthancError
from orthanclite.imaging.encoding import resize
from orthanclite.imaging.frames import ImageInfo, codestream_size
from orthanclite.imaging.rendering import (
    Window,
    clip_to,
    first_window,
    render_uint8,
    stretch_to_uint8,
)


def grayscale_info(
    photometric: str = "MONOCHROME2", bits_stored: int = 16
) -> ImageInfo:
    return ImageInfo(
        rows=1,
        columns=4,
        samples_per_pixel=1,
        bits_allocated=16,
        bits_stored=bits_stored,
        pixel_representation=1,
        photometric=photometric,
        number_of_frames=1,
        transfer_syntax=JPEG2000Lossless,
        pixel_keyword="PixelData",
    )


class TestStretchToUint8:
    def test_min_max(self) -> None:
        frame = np.array([[-10, 0, 10, 30]], dtype=np.int16)
        assert stretch_to_uint8(frame, grayscale_info()).tolist() == [[0, 64, 128, 255]]

    def test_monochrome1_inverted(self) -> None:
        frame = np.array([[0, 1, 2, 3]], dtype=np.uint16)
        out = stretch_to_uint8(frame, grayscale_info("MONOCHROME1"))
        assert out.tolist() == [[255, 170, 85, 0]]

    def test_constant_frame_black(self) -> None:
        frame = np.full((1, 4), 7, dtype=np.uint16)
        assert stretch_to_uint8(frame, grayscale_info()).max() == 0

    def test_half_rounds_like_orthanc(self) -> None:
        """364 / 520 * 255 is 178.5 exactly; Orthanc 1.10.1 gives 178."""
        frame = np.array([[280, 644, 800, 800]], dtype=np.int16)
        assert stretch_to_uint8(frame, grayscale_info())[0, 1] == 178


class TestRenderUint8:
    def test_window_with_rescale(self) -> None:
        dataset = Dataset()
        dataset.RescaleSlope = "2"
        dataset.RescaleIntercept = "-100"
        frame = np.array([[0, 50, 100, 200]], dtype=np.int16)
        out = render_uint8(frame, grayscale_info(), dataset, Window(0, 200))
        assert out.tolist() == [[0, 127, 255, 255]]

    def test_default_window_spans_bits_stored(self) -> None:
        frame = np.array([[0, 2048, 4095, 4096]], dtype=np.uint16)
        out = render_uint8(frame, grayscale_info(bits_stored=12), Dataset(), None)
        assert out.tolist() == [[0, 127, 254, 255]]


class TestFirstWindow:
    def test_first_pair(self) -> None:
        dataset = Dataset()
        dataset.WindowCenter = [40, 400]
        dataset.WindowWidth = [400, 2000]
        assert first_window(dataset) == Window(40.0, 400.0)

    def test_counts_differ(self) -> None:
        dataset = Dataset()
        dataset.WindowCenter = [40, 400]
        dataset.WindowWidth = 400
        assert first_window(dataset) is None

    def test_zero_width(self) -> None:
        dataset = Dataset()
        dataset.WindowCenter = 40
        dataset.WindowWidth = 0
        assert first_window(dataset) is None


def test_clip_int16_twos_complement() -> None:
    frame = np.array([[-2000, 40000]], dtype=np.int32)
    assert clip_to(frame, np.int16).view(np.uint16).tolist() == [[63536, 32767]]


def test_resize_nearest_takes_centers() -> None:
    pixels = np.arange(16, dtype=np.uint8).reshape(4, 4)
    assert resize(pixels, 2, 2, smooth=False).tolist() == [[5, 7], [13, 15]]


def test_j2k_codestream_size() -> None:
    siz = (
        b"\xff\x4f\xff\x51\x00\x29\x00\x00"
        + (300).to_bytes(4, "big")
        + (200).to_bytes(4, "big")
    )
    siz += bytes(8)
    assert codestream_size(siz, JPEG2000Lossless) == (300, 200)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("", "png"),
        ("image/jpeg", "jpeg"),
        ("image/jpeg;q=0.2, image/png", "png"),
        ("image/*", "png"),
        ("application/json, image/x-portable-arbitrarymap", "pam"),
    ],
)
def test_negotiate_format(accept: str, expected: str) -> None:
    assert negotiate_format(accept) == expected


def test_negotiate_format_unsupported() -> None:
    with pytest.raises(OrthancError, match="Cannot produce an image"):
        negotiate_format("image/gif, image/jpeg;q=0")
