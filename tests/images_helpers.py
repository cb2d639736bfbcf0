"""Helpers of the image tests: test files, synthetic images and PNG decoding."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

PYDICOM_TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
ORTHANC_DIGESTS_PATH = Path(__file__).parent / "data" / "orthanc_1.10.1_pixels.json"


def sample_path(name: str) -> Path:
    """Path of a pydicom test file, from pydicom itself or from pydicom-data."""
    local = PYDICOM_TEST_FILES / name
    if local.is_file():
        return local
    path = get_testdata_file(name, download=False)
    if path is None:
        raise FileNotFoundError(f"pydicom test file {name!r} is not installed")
    return Path(path)


def orthanc_digests() -> dict[str, dict[str, str]]:
    """Digests of the pixels that Orthanc 1.10.1 returned, by file and route."""
    return json.loads(ORTHANC_DIGESTS_PATH.read_text())


def pixel_digest(pixels: np.ndarray) -> str:
    """Digest of decoded image pixels, in the form the digest file keeps."""
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()[:16]


def decode_image(body: bytes) -> np.ndarray:
    """Decode a PNG or JPEG response body; 16-bit PNGs come back as uint16."""
    image = Image.open(io.BytesIO(body))
    pixels = np.asarray(image)
    if image.mode.startswith("I"):
        pixels = pixels.astype(np.uint16)
    return pixels


def with_new_uids(path: Path) -> bytes:
    """Return a test file with fresh Study, Series and SOP Instance UIDs.

    Several pydicom test files share UIDs, or have none, which the archive
    would treat as the same instance or reject.
    """
    dataset = pydicom.dcmread(path, force=True)
    dataset.StudyInstanceUID = generate_uid()
    dataset.SeriesInstanceUID = generate_uid()
    dataset.SOPInstanceUID = generate_uid()
    if "SOPClassUID" not in dataset:
        dataset.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.file_meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def image_dataset(
    pixels: np.ndarray,
    photometric: str,
    bits_stored: int | None = None,
    **elements: object,
) -> Dataset:
    """Build an instance holding ``pixels`` (frames first when 3-D grayscale)."""
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    dataset.SOPInstanceUID = generate_uid()
    dataset.StudyInstanceUID = generate_uid()
    dataset.SeriesInstanceUID = generate_uid()
    dataset.PatientID = "IMAGES"
    dataset.Modality = "OT"
    dataset.set_pixel_data(
        pixels,
        photometric_interpretation=photometric,
        bits_stored=bits_stored or pixels.dtype.itemsize * 8,
    )
    for keyword, value in elements.items():
        setattr(dataset, keyword, value)
    dataset.file_meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    return dataset


def to_bytes(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def jpeg_baseline(dataset: Dataset, pixels: np.ndarray, photometric: str) -> Dataset:
    """Replace the pixel data of ``dataset`` by a JPEG baseline encoding of ``pixels``.

    Pillow writes RGB input as YCbCr with 4:2:0 subsampling, which DICOM
    labels YBR_FULL_422; grayscale stays MONOCHROME1 or MONOCHROME2.
    """
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
    dataset.PixelData = encapsulate([buffer.getvalue()])
    dataset["PixelData"].VR = "OB"
    dataset.PhotometricInterpretation = photometric
    dataset.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    return dataset
