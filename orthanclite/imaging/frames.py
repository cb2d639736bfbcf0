"""Decode one frame of a DICOM instance into a numpy array.

Decoding goes through pydicom's pixel decoders, which use the pylibjpeg
plugins for JPEG, JPEG-LS, JPEG 2000 and RLE. The geometry that the Image
Pixel module declares is checked before anything is decoded, so a file that
claims a huge frame or contains less data than it declares is rejected without
allocating the frame.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.pixels import apply_color_lut, get_decoder
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000TransferSyntaxes,
    JPEGBaseline8Bit,
    JPEGLSTransferSyntaxes,
    JPEGTransferSyntaxes,
)

try:
    from pydicom.pixels.utils import _get_jpg_parameters
except ImportError:  # a private helper of pydicom 3.0, absent from other versions
    _get_jpg_parameters = None

# Pixel Data elements that pydicom decodes, by keyword.
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
COLOR_PHOTOMETRICS = (
    "RGB",
    "YBR_FULL",
    "YBR_FULL_422",
    "YBR_ICT",
    "YBR_RCT",
    "PALETTE COLOR",
)
NATIVE_SYNTAXES = (
    ImplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
)


class ImageDecodeError(ValueError):
    """The pixel data of a frame cannot be decoded."""


class FrameIndexError(IndexError):
    """The frame number is outside the frames of the instance.

    ``encapsulated`` is true for compressed pixel data, because Orthanc
    1.10.1 responds 404 for uncompressed and 415 for compressed frames.
    """

    def __init__(self, message: str, encapsulated: bool) -> None:
        super().__init__(message)
        self.encapsulated = encapsulated


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """The Image Pixel module of an instance, checked for consistency."""

    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    photometric: str
    number_of_frames: int
    transfer_syntax: UID
    pixel_keyword: str

    @property
    def is_color(self) -> bool:
        return self.samples_per_pixel == 3 or self.photometric == "PALETTE COLOR"

    @property
    def is_encapsulated(self) -> bool:
        return self.transfer_syntax not in NATIVE_SYNTAXES

    @property
    def stored_frame_bytes(self) -> int:
        """Size of one uncompressed frame as stored (bits packed for 1-bit data)."""
        samples = self.samples_per_pixel
        if self.photometric == "YBR_FULL_422":
            # Two chroma samples are shared by each pair of pixels.
            samples = 2
        bits = self.rows * self.columns * samples * self.bits_allocated
        return math.ceil(bits / 8)

    @property
    def decoded_frame_bytes(self) -> int:
        """Memory that one decoded frame takes, with 1-bit data unpacked."""
        item_size = max(1, self.bits_allocated // 8)
        channels = 3 if self.photometric == "PALETTE COLOR" else self.samples_per_pixel
        # A palette lookup produces 16-bit RGB samples at most.
        if self.photometric == "PALETTE COLOR":
            item_size = 2
        return self.rows * self.columns * channels * item_size


def read_dataset(path: str) -> Dataset:
    """Read a whole DICOM file, including a file written without File Meta.

    A file without a Transfer Syntax UID gets the one pydicom detected while
    reading, so that its pixel data can still be decoded.
    """
    dataset = pydicom.dcmread(path, force=True)
    if "TransferSyntaxUID" not in dataset.file_meta:
        implicit, little_endian = dataset.original_encoding
        if implicit:
            uid = ImplicitVRLittleEndian
        elif little_endian is False:
            uid = ExplicitVRBigEndian
        else:
            uid = ExplicitVRLittleEndian
        dataset.file_meta.TransferSyntaxUID = uid
    return dataset


def frame_count(dataset: Dataset) -> int:
    """Return Number of Frames, or 1 when it is absent or invalid."""
    try:
        count = int(dataset.get("NumberOfFrames") or 1)
    except (TypeError, ValueError):
        return 1
    return max(count, 1)


def listed_frame_count(dataset: Dataset) -> int:
    """Return Number of Frames, bounded by what the Pixel Data can hold.

    A forged Number of Frames (2,147,483,647 in a 64x64 image) must not make
    ``/frames`` build a list of that size. Each stored frame takes at least
    one byte, and a whole frame when the data is not compressed.
    """
    declared = frame_count(dataset)
    keywords = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
    keyword = next((k for k in keywords if k in dataset), None)
    if keyword is None:
        return 1
    stored = len(dataset[keyword].value or b"")
    try:
        info = image_info(dataset)
    except Exception:  # pydicom raises many types on malformed values
        return max(1, min(declared, stored))
    if info.is_encapsulated or info.stored_frame_bytes == 0:
        return max(1, min(declared, stored))
    return max(1, min(declared, stored // info.stored_frame_bytes))


def image_info(dataset: Dataset) -> ImageInfo:
    """Collect the Image Pixel module of ``dataset``.

    Raises
    ------
    ImageDecodeError
        If the dataset has no pixel data, or if an element that decoding
        needs is missing or invalid.
    """
    keyword = next((name for name in PIXEL_KEYWORDS if name in dataset), None)
    if keyword is None:
        raise ImageDecodeError("The instance has no pixel data")
    values = {}
    for name in ("Rows", "Columns", "BitsAllocated", "SamplesPerPixel"):
        values[name] = _positive_integer(
            dataset, name, default=1 if name == "SamplesPerPixel" else None
        )
    bits_stored = _positive_integer(
        dataset, "BitsStored", default=values["BitsAllocated"]
    )
    photometric = str(dataset.get("PhotometricInterpretation") or "").strip().upper()
    if not photometric:
        photometric = "MONOCHROME2" if values["SamplesPerPixel"] == 1 else "RGB"
    if values["SamplesPerPixel"] not in (1, 3):
        raise ImageDecodeError(
            f"Samples per Pixel is {values['SamplesPerPixel']}, "
            "but only 1 and 3 are supported"
        )
    if not 1 <= bits_stored <= values["BitsAllocated"] <= 64:
        raise ImageDecodeError(
            f"Bits Stored {bits_stored} does not fit in "
            f"Bits Allocated {values['BitsAllocated']}"
        )
    return ImageInfo(
        rows=values["Rows"],
        columns=values["Columns"],
        samples_per_pixel=values["SamplesPerPixel"],
        bits_allocated=values["BitsAllocated"],
        bits_stored=bits_stored,
        pixel_representation=1 if dataset.get("PixelRepresentation") == 1 else 0,
        photometric=photometric,
        number_of_frames=frame_count(dataset),
        transfer_syntax=UID(dataset.file_meta.TransferSyntaxUID),
        pixel_keyword=keyword,
    )


def _positive_integer(dataset: Dataset, keyword: str, default: int | None) -> int:
    value = dataset.get(keyword)
    if value is None or value == "":
        if default is None:
            raise ImageDecodeError(f"The Image Pixel module has no {keyword}")
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ImageDecodeError(f"Invalid {keyword}: {value!r}") from None
    if number <= 0:
        raise ImageDecodeError(f"Invalid {keyword}: {number}")
    return number


def check_frame(
    info: ImageInfo, dataset: Dataset, index: int, max_frame_bytes: int
) -> None:
    """Check a frame request against the declared geometry, before decoding.

    Raises
    ------
    FrameIndexError
        If ``index`` is not a frame of the instance.
    ImageDecodeError
        If one decoded frame would exceed ``max_frame_bytes``, or if
        uncompressed pixel data is shorter than its declared size.
    """
    if not 0 <= index < info.number_of_frames:
        raise FrameIndexError(
            f"Frame {index} does not exist: the instance has {info.number_of_frames} "
            f"frame(s), numbered from 0",
            info.is_encapsulated,
        )
    if info.decoded_frame_bytes > max_frame_bytes:
        raise ImageDecodeError(
            f"A decoded frame of {info.columns}x{info.rows} pixels, "
            f"{info.samples_per_pixel} sample(s) of {info.bits_allocated} bits "
            f"would take {info.decoded_frame_bytes} bytes, more than the limit "
            f"of {max_frame_bytes} bytes"
        )
    if info.is_encapsulated:
        _check_codestream_size(info, raw_frame(dataset, info, index), index)
    else:
        available = len(dataset[info.pixel_keyword].value or b"")
        needed = _native_frame_end(info, info.number_of_frames - 1)
        if available < needed:
            raise ImageDecodeError(
                f"The pixel data contains {available} bytes, "
                f"but {info.number_of_frames} "
                f"frame(s) of {info.columns}x{info.rows} pixels need {needed} bytes"
            )


def _check_codestream_size(info: ImageInfo, codestream: bytes, index: int) -> None:
    """Reject a JPEG, JPEG-LS or JPEG 2000 frame whose size differs from Rows x Columns.

    The decoders allocate what the codestream declares, so a mismatch is
    caught here, from the header alone.
    """
    size = codestream_size(codestream, info.transfer_syntax)
    if size is not None and size != (info.columns, info.rows):
        raise ImageDecodeError(
            f"Frame {index} contains a {size[0]}x{size[1]} image, but the dataset "
            f"declares {info.columns}x{info.rows} (Columns x Rows)"
        )


def codestream_size(codestream: bytes, transfer_syntax: UID) -> tuple[int, int] | None:
    """Return (width, height) from a JPEG family header, or None if unknown."""
    if transfer_syntax in JPEG2000TransferSyntaxes:
        # SOC marker, then the SIZ marker: length, capabilities, Xsiz, Ysiz,
        # XOsiz, YOsiz (ISO/IEC 15444-1, A.5.1).
        if len(codestream) < 24 or codestream[:4] != b"\xff\x4f\xff\x51":
            return None
        xsiz, ysiz, xosiz, yosiz = struct.unpack(">IIII", codestream[8:24])
        return xsiz - xosiz, ysiz - yosiz
    jpeg_family = (
        transfer_syntax in JPEGTransferSyntaxes
        or transfer_syntax in JPEGLSTransferSyntaxes
    )
    if jpeg_family and _get_jpg_parameters is not None:
        parameters = _get_jpg_parameters(codestream)
        width, height = parameters.get("width"), parameters.get("height")
        # A height of 0 means that a DNL marker gives it after the first scan.
        if width and height:
            return width, height
    return None


def _native_frame_end(info: ImageInfo, index: int) -> int:
    """Return the byte offset just past uncompressed frame ``index``."""
    if info.bits_allocated == 1:
        # Frames of 1-bit data are packed back to back, not byte-aligned.
        return math.ceil(
            (index + 1) * info.rows * info.columns * info.samples_per_pixel / 8
        )
    return (index + 1) * info.stored_frame_bytes


def decode_frame(dataset: Dataset, info: ImageInfo, index: int) -> np.ndarray:
    """Decode frame ``index`` to stored values in native byte order.

    Grayscale frames come back as a 2-D array of the stored values, sign
    extended when Pixel Representation is 1. Color frames come back as
    ``(rows, columns, 3)`` RGB: YBR is converted and PALETTE COLOR is looked
    up in its palette.

    Raises
    ------
    ImageDecodeError
        If no decoder supports the transfer syntax or the decoder fails.
    """
    try:
        decoder = get_decoder(info.transfer_syntax)
    except NotImplementedError:
        raise ImageDecodeError(
            f"No decoder for the transfer syntax {info.transfer_syntax} "
            f"({info.transfer_syntax.name})"
        ) from None
    if not decoder.is_available:
        raise ImageDecodeError(
            f"The decoder for {info.transfer_syntax.name} is not installed"
        )
    options = {
        "photometric_interpretation": info.photometric,
        "bits_stored": info.bits_stored,
        "number_of_frames": info.number_of_frames,
    }
    try:
        array, _ = decoder.as_array(dataset, index=index, as_rgb=True, **options)
        if info.photometric == "PALETTE COLOR":
            array = apply_color_lut(array, _palette_source(dataset, info))
    except (
        ValueError,
        RuntimeError,
        AttributeError,
        KeyError,
        TypeError,
        NotImplementedError,
    ) as error:
        # pydicom and the plugins raise many types for corrupt or odd data.
        raise ImageDecodeError(
            f"Cannot decode frame {index}: {_first_line(error)}"
        ) from None
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    if info.bits_allocated == 1:
        # Orthanc (through DCMTK) shows set bits as 255 in every route.
        array = array * np.uint8(255)
    return array


def _palette_source(dataset: Dataset, info: ImageInfo) -> Dataset:
    """Return a dataset whose 16-bit palette data is little endian.

    pydicom 3.0 reads Palette Color Lookup Table Data in the machine's byte
    order whatever the transfer syntax, so big endian palettes are swapped here.
    """
    if info.transfer_syntax != ExplicitVRBigEndian:
        return dataset
    source = Dataset()
    source.file_meta = dataset.file_meta
    for color in ("Red", "Green", "Blue", "Alpha"):
        descriptor = f"{color}PaletteColorLookupTableDescriptor"
        data = f"{color}PaletteColorLookupTableData"
        if descriptor in dataset:
            source[descriptor] = dataset[descriptor]
        if data in dataset:
            value = bytes(dataset[data].value)
            entries = (
                dataset[descriptor].value[0] or 65536 if descriptor in dataset else 0
            )
            if len(value) == 2 * entries:
                value = np.frombuffer(value, dtype=">u2").astype("<u2").tobytes()
            setattr(source, data, value)
    for keyword in (
        "SegmentedRedPaletteColorLookupTableData",
        "SegmentedGreenPaletteColorLookupTableData",
        "SegmentedBluePaletteColorLookupTableData",
    ):
        if keyword in dataset:
            source[keyword] = dataset[keyword]
    return source


def _first_line(error: Exception) -> str:
    """Return an error message on one line; pydicom lists each plugin's failure."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return "; ".join(lines) if lines else type(error).__name__


def decode_file_frame(path: str, index: int) -> np.ndarray:
    """Read a file and decode one frame; the entry point of worker processes."""
    dataset = read_dataset(path)
    return decode_frame(dataset, image_info(dataset), index)


def raw_frame(dataset: Dataset, info: ImageInfo, index: int) -> bytes:
    """Return the bytes of frame ``index`` exactly as stored.

    For compressed pixel data this is the codestream of the frame (its
    fragments joined). Uncompressed 1-bit frames that do not start on a byte
    boundary are returned from the byte that contains their first pixel.
    """
    value = dataset[info.pixel_keyword].value
    if info.is_encapsulated:
        try:
            return bytes(
                get_frame(value, index, number_of_frames=info.number_of_frames)
            )
        except (ValueError, KeyError) as error:
            raise ImageDecodeError(
                f"Cannot extract frame {index}: {_first_line(error)}"
            ) from None
    if info.bits_allocated == 1:
        pixels = info.rows * info.columns * info.samples_per_pixel
        return bytes(value[index * pixels // 8 : _native_frame_end(info, index)])
    size = info.stored_frame_bytes
    return bytes(value[index * size : (index + 1) * size])


def raw_frame_media_type(info: ImageInfo) -> str:
    """Return the media type of a raw frame, as Orthanc 1.10.1 labels it."""
    if info.transfer_syntax == JPEGBaseline8Bit:
        return "image/jpeg"
    if info.transfer_syntax in JPEG2000TransferSyntaxes:
        return "image/jp2"
    return "application/octet-stream"
