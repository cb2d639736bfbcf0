"""Write the synthetic DICOM files of this folder (no personal data).

Run from the repository root: ``python sample_data/make_samples.py``. The
output is deterministic: UIDs are derived from fixed strings and pixel
values from a fixed formula.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

FOLDER = Path(__file__).resolve().parent
STUDY_DATE = "20240102"


def uid(name: str) -> str:
    return generate_uid(entropy_srcs=[name])


def base_dataset(name: str, modality: str, sop_class: str) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = uid(name + ".instance")
    ds.StudyInstanceUID = uid(name + ".study")
    ds.SeriesInstanceUID = uid(name + ".series")
    ds.StudyDate = STUDY_DATE
    ds.StudyTime = "101500"
    ds.AccessionNumber = "ACC-" + name.upper()[:8]
    ds.StudyDescription = f"Synthetic {modality} study"
    ds.SeriesDescription = f"Synthetic {modality} series"
    ds.Modality = modality
    ds.SeriesNumber = "1"
    ds.InstanceNumber = "1"
    return ds


def add_grayscale_pixels(ds: Dataset, rows: int, columns: int) -> None:
    y, x = np.mgrid[0:rows, 0:columns]
    pixels = ((x * 37 + y * 11) % 2000).astype(np.int16) - 1000
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 1
    ds.RescaleSlope, ds.RescaleIntercept = "1", "0"
    ds.WindowCenter, ds.WindowWidth = "40", "400"
    ds.PixelData = pixels.tobytes()


def save(ds: Dataset, file_name: str) -> None:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    pydicom.dcmwrite(FOLDER / file_name, ds, enforce_file_format=True)


def main() -> None:
    ct = base_dataset("ct", "CT", "1.2.840.10008.5.1.4.1.1.2")
    ct.PatientName = "Doe^Jane"
    ct.PatientID = "SAMPLE-001"
    ct.PatientBirthDate = "19700101"
    ct.PatientSex = "F"
    add_grayscale_pixels(ct, 64, 64)
    save(ct, "ct_64x64.dcm")

    accented = base_dataset("latin1", "MR", "1.2.840.10008.5.1.4.1.1.4")
    accented.SpecificCharacterSet = "ISO_IR 100"
    accented.PatientName = "Müller^Jérôme"
    accented.PatientID = "SAMPLE-002"
    accented.StudyDescription = "IRM cérébrale"
    add_grayscale_pixels(accented, 32, 32)
    save(accented, "mr_latin1_name.dcm")

    anonymous = base_dataset("no-patient-id", "OT", "1.2.840.10008.5.1.4.1.1.7")
    anonymous.PatientName = "Unknown^Patient"
    save(anonymous, "no_patient_id.dcm")


if __name__ == "__main__":
    main()
