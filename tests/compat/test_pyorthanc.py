"""pyorthanc, a client library written for Orthanc, used against orthanclite."""

from __future__ import annotations

import pyorthanc

from tests.helpers import ServerProcess, pydicom_file


def test_pyorthanc_walk_through(server: ServerProcess) -> None:
    orthanc = pyorthanc.Orthanc(server.url, username="orthanc", password="orthanc")
    body = pydicom_file("CT_small.dcm").read_bytes()
    answer = orthanc.post_instances(body)
    assert answer["Status"] == "Success"

    assert orthanc.get_patients() == [answer["ParentPatient"]]
    patient = pyorthanc.Patient(answer["ParentPatient"], orthanc)
    assert patient.patient_id == "1CT1"
    assert patient.name == "CompressedSamples^CT1"
    study = patient.studies[0]
    assert study.id_ == answer["ParentStudy"]
    assert study.uid == "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
    series = study.series[0]
    assert series.modality == "CT"
    instance = series.instances[0]
    assert instance.id_ == answer["ID"]
    assert instance.get_dicom_file_content() == body

    orthanc.delete_patients_id(patient.id_)
    assert orthanc.get_patients() == []
