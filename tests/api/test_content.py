"""Content routes over HTTP: tags, header, raw content, metadata, attachments.

The reference tests compare every response with the one Orthanc 1.10.1 sent
for the same file (recorded by ``tests/content_reference.py``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orthanclite.dicom.dictionary import find_dcmtk_files
from tests import content_helpers as synthetic
from tests.content_reference import digest, load_reference, reference_files
from tests.helpers import ServerProcess, make_dicom, pydicom_file

REFERENCE = load_reference()
FILES = dict(reference_files())
USER_METADATA = {"ORTHANCLITE_USER_METADATA": json.dumps({"Sample": 1024})}
# Orthanc names private tags after DCMTK's dictionary, which is read when installed.
needs_dcmtk = pytest.mark.skipif(
    not find_dcmtk_files(), reason="DCMTK's dicom.dic and private.dic are not installed"
)

# Where Orthanc 1.10.1 garbles text, orthanclite decodes it correctly: ISO
# 2022 IR 13 turns the backslash delimiter into a yen sign, and escape
# sequences of ISO 2022 IR 87 are dropped.
CORRECTED = {
    "pydicom/charset_files/chrH32.dcm": {
        "0008,0005": "ISO 2022 IR 13\\ISO 2022 IR 87",
        "0010,0010": "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう",
    },
    "pydicom/charset_files/chrJapMultiExplicitIR6.dcm": {
        "0010,0010": "やまだ^たろう",
        "0010,1001": "やまだ^たろう\\やまだ^たろう",
        "0010,21b0": "たろう",
    },
    "pydicom/test_files/J2K_pixelrep_mismatch.dcm": {
        "0008,0005": "ISO 2022 IR 13\\ISO 2022 IR 87",
        "0008,0008": "ORIGINAL\\PRIMARY\\AXIAL\\NORMAL",
        "0020,0020": "L\\PF",
        "0020,0032": "-110.2153\\-98.1898\\72.1446",
        "0020,0037": "1.0000\\0.0000\\0.0000\\0.0000\\0.9272\\-0.3746",
        "0028,0030": "0.431\\0.431",
        "0028,1050": "40\\40\\40",
        "0028,1051": "100\\100\\200",
    },
}


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the tests of this module that leave no state behind."""
    process = ServerProcess(tmp_path_factory.mktemp("content") / "data", USER_METADATA)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def http(shared_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_server.url, timeout=60) as client:
        yield client


def upload(client: httpx.Client, body: bytes) -> dict:
    response = client.post("/instances", content=body)
    assert response.status_code == 200, response.text
    return response.json()


def corrected(name: str, tags: dict) -> dict:
    """Return Orthanc's recorded tags with the values it garbles fixed."""
    fixes = CORRECTED.get(name, {})
    return {
        key: dict(entry, Value=fixes[key]) if key in fixes else entry
        for key, entry in tags.items()
    }


def content_differences(client: httpx.Client, base: str, expected: dict) -> list[str]:
    """Compare every recorded /content path with this server's response."""
    problems = []
    for path, answer in expected.items():
        response = client.get(f"{base}/content{'' if path == '/' else path}")
        if isinstance(answer, int):
            got: object = response.status_code
        elif response.headers.get("content-type", "").startswith("application/json"):
            got = response.json()
        else:
            got = digest(response.content)
        if got != answer:
            problems.append(f"{path}: expected {answer}, got {got}")
    return problems


@needs_dcmtk
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_content_routes_match_orthanc(http: httpx.Client, name: str) -> None:
    """Every form of /tags, /header and /content equals Orthanc's response."""
    expected = REFERENCE[name]
    instance = upload(http, FILES[name])["ID"]
    base = f"/instances/{instance}"
    try:
        tags = http.get(f"{base}/tags").json()
        assert tags == corrected(name, expected["tags"])
        if name not in CORRECTED:
            assert http.get(f"{base}/tags?simplify").json() == expected["simplify"]
            assert http.get(f"{base}/simplified-tags").json() == expected["simplify"]
            assert http.get(f"{base}/tags?short").json() == expected["short"]
        header = http.get(f"{base}/header").json()
        if expected["header"]:
            assert header == expected["header"]
        else:
            # A file uploaded without File Meta is stored with a generated one,
            # which /header shows; Orthanc keeps such files as they came.
            assert header["0002,0013"]["Value"] == "ORTHANCLITE"
            assert "0002,0010" in header
        if name not in CORRECTED:
            assert content_differences(http, base, expected["content"]) == []
    finally:
        http.delete(base)


class TestTags:
    @needs_dcmtk
    def test_private_creator_unknown_to_dictionary(self, http: httpx.Client) -> None:
        instance = upload(http, synthetic.private_tags_file())["ID"]
        tags = http.get(f"/instances/{instance}/tags").json()
        assert tags["4321,1012"] == {
            "Name": "Unknown Tag & Data",
            "PrivateCreator": "RadioLogic",
            "Type": "String",
            "Value": "éöàäèü£",
        }
        assert tags["4321,0010"]["Name"] == "PrivateCreator"
        assert tags["0009,1001"]["Name"] == "FullFidelity"
        assert tags["0009,1027"]["Value"] == "862399669"
        http.delete(f"/instances/{instance}")

    @needs_dcmtk
    def test_implicit_private_without_dictionary_is_null(
        self, http: httpx.Client
    ) -> None:
        instance = upload(http, synthetic.private_tags_file(implicit=True))["ID"]
        tags = http.get(f"/instances/{instance}/tags").json()
        assert tags["4321,1011"]["Type"] == "Null"
        assert tags["0009,1001"]["Value"] == "GE_GENESIS_FF"
        http.delete(f"/instances/{instance}")

    def test_value_lengths_around_limit(self, http: httpx.Client) -> None:
        instance = upload(http, synthetic.long_values_file())["ID"]
        tags = http.get(f"/instances/{instance}/tags").json()
        assert tags["0008,1030"] == {
            "Name": "StudyDescription",
            "Type": "TooLong",
            "Value": None,
        }
        assert tags["0020,4000"]["Value"] == "C" * 256
        assert tags["0010,21b0"]["Type"] == "TooLong"
        simplified = http.get(f"/instances/{instance}/simplified-tags").json()
        assert simplified["StudyDescription"] is None
        http.delete(f"/instances/{instance}")

    def test_sequences_nested_and_empty(self, http: httpx.Client) -> None:
        instance = upload(http, synthetic.nested_sequences_file())["ID"]
        simplified = http.get(f"/instances/{instance}/simplified-tags").json()
        third = simplified["ProcedureCodeSequence"][1]["ConceptNameCodeSequence"][0][
            "PurposeOfReferenceCodeSequence"
        ][0]
        assert third["CodeMeaning"] == "Third level"
        assert simplified["ReferencedImageSequence"] == []
        assert simplified["ProtocolName"] == ""
        short = http.get(f"/instances/{instance}/tags?short").json()
        assert short["0008,0008"] == "ORIGINAL\\PRIMARY\\AXIAL"
        http.delete(f"/instances/{instance}")

    def test_un_elements(self, http: httpx.Client) -> None:
        instance = upload(http, synthetic.un_elements_file())["ID"]
        tags = http.get(f"/instances/{instance}/tags").json()
        # Text elements sent as UN keep their padding; others stay binary.
        assert tags["0008,1030"]["Value"] == "Study as UN "
        assert tags["0011,4567"]["Type"] == "Null"
        assert tags["0028,0010"]["Type"] == "Null"
        http.delete(f"/instances/{instance}")

    def test_binary_numbers_and_pixel_data(self, http: httpx.Client) -> None:
        instance = upload(http, synthetic.binary_file())["ID"]
        simplified = http.get(f"/instances/{instance}/simplified-tags").json()
        assert simplified["SmallestImagePixelValue"] == "-5"
        assert simplified["FrameIncrementPointer"] == "0054,0010"
        assert simplified["ReferencePixelPhysicalValueX"] == "0.33333333333333331"
        assert simplified["PixelData"] is None
        http.delete(f"/instances/{instance}")

    def test_windows1252_bytes_declared_latin1(self, http: httpx.Client) -> None:
        body = synthetic.windows1252_as_latin1()
        instance = upload(http, body)["ID"]
        response = http.get(f"/instances/{instance}/tags")
        assert response.status_code == 200
        raw = http.get(f"/instances/{instance}/content/0010-0010").content
        assert raw == b"cc\x9e\x9ad^CC\x8e\x8a\xd0 "
        http.delete(f"/instances/{instance}")

    def test_unknown_charset_decodes_and_warns_once(
        self, http: httpx.Client, shared_server: ServerProcess
    ) -> None:
        instance = upload(http, synthetic.unknown_charset())["ID"]
        for _ in range(3):
            tags = http.get(f"/instances/{instance}/simplified-tags").json()
        assert tags["PatientName"] == "Name^Plain"
        log = shared_server.log()
        assert log.count("Unusual Specific Character Set 'ISO_IR 999'") == 1
        http.delete(f"/instances/{instance}")

    def test_gbk_alias_and_korean(self, http: httpx.Client) -> None:
        gbk = upload(http, synthetic.gbk_alias())["ID"]
        korean = upload(http, synthetic.korean_iso2022())["ID"]
        gbk_name = http.get(f"/instances/{gbk}/simplified-tags").json()["PatientName"]
        korean_name = http.get(f"/instances/{korean}/simplified-tags").json()[
            "PatientName"
        ]
        assert gbk_name == "Wang^XiaoDong=王^小东"
        assert korean_name == "Hong^Gildong=洪^吉洞=홍^길동"
        http.delete(f"/instances/{gbk}")
        http.delete(f"/instances/{korean}")

    def test_unknown_instance(self, http: httpx.Client) -> None:
        response = http.get(
            "/instances/00000000-00000000-00000000-00000000-00000000/tags"
        )
        assert response.status_code == 404
        assert response.json()["OrthancStatus"] == 17

    def test_full_main_tags(self, http: httpx.Client) -> None:
        answer = upload(http, pydicom_file("CT_small.dcm").read_bytes())
        full = http.get(f"/instances/{answer['ID']}?full").json()
        assert full["MainDicomTags"]["0020,0013"] == {
            "Name": "InstanceNumber",
            "Type": "String",
            "Value": "1",
        }
        series = http.get(f"/series/{answer['ParentSeries']}?full").json()
        assert series["MainDicomTags"]["0008,0060"]["Value"] == "CT"
        http.delete(f"/instances/{answer['ID']}")


@pytest.fixture(scope="module")
def nested(http: httpx.Client) -> Iterator[str]:
    """The /content URL of an instance with nested and empty sequences."""
    instance = upload(http, synthetic.nested_sequences_file())["ID"]
    yield f"/instances/{instance}/content"
    http.delete(f"/instances/{instance}")


@pytest.fixture(scope="module")
def series(http: httpx.Client) -> Iterator[dict]:
    """Three instances of one series; the upload answer of the first, plus all IDs."""
    answers = []
    for number in range(3):
        ds = synthetic.base_dataset("shared")
        ds.SOPInstanceUID += f".{number}"
        ds.InstanceNumber = str(number + 1)
        ds.ImageComments = f"image {number}"
        ds.StudyDescription = "Shared study"
        ds.ProcedureCodeSequence = synthetic.Sequence(
            [synthetic.code_item("P", "same")]
        )
        answers.append(upload(http, synthetic.write(ds)))
    yield answers[0] | {"Instances": [answer["ID"] for answer in answers]}
    for answer in answers:
        http.delete(f"/instances/{answer['ID']}")


class TestContent:
    def test_raw_value_keeps_padding(self, http: httpx.Client, nested: str) -> None:
        response = http.get(f"{nested}/0008-1032/1/0008-0104")
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.content == b"Thing two "

    def test_path_three_levels_deep(self, http: httpx.Client, nested: str) -> None:
        path = "0008-1032/1/0040-a043/0/0040-a170/0/0008-0104"
        assert http.get(f"{nested}/{path}").content == b"Third level "

    def test_sequence_lists_items(self, http: httpx.Client, nested: str) -> None:
        assert http.get(f"{nested}/0008-1032").json() == ["0", "1"]
        assert http.get(f"{nested}/0008-1140").json() == []
        assert http.get(f"{nested}/0008-1032/0").json() == [
            "0008-0100",
            "0008-0102",
            "0008-0104",
        ]

    def test_tag_spellings(self, http: httpx.Client, nested: str) -> None:
        dashed = http.get(f"{nested}/0010-0010").content
        assert http.get(f"{nested}/0010,0010").content == dashed
        assert http.get(f"{nested}/PatientName").content == dashed

    def test_missing_element_or_item(self, http: httpx.Client, nested: str) -> None:
        assert http.get(f"{nested}/0010-9999").status_code == 404
        assert http.get(f"{nested}/0008-1032/5").status_code == 404
        assert http.get(f"{nested}/0008-1032/abc").status_code == 404
        assert http.get(f"{nested}/0010-0010/0").status_code == 404

    def test_malformed_tag(self, http: httpx.Client, nested: str) -> None:
        response = http.get(f"{nested}/zzzz")
        assert response.status_code == 400
        assert response.json()["OrthancStatus"] == 27

    def test_pixel_data_frames(self, http: httpx.Client) -> None:
        instance = upload(http, synthetic.binary_file())["ID"]
        base = f"/instances/{instance}/content/7fe0-0010"
        assert http.get(base).json() == ["0"]
        assert http.get(f"{base}/0").content == struct.pack("<4h", -5, 0, 100, 2047)
        http.delete(f"/instances/{instance}")


class TestSeveralInstances:
    def test_shared_tags_keep_equal_strings(
        self, http: httpx.Client, series: dict
    ) -> None:
        shared = http.get(f"/series/{series['ParentSeries']}/shared-tags").json()
        assert shared["0008,1030"]["Value"] == "Shared study"
        assert "0020,0013" not in shared
        assert "0008,1032" not in shared

    def test_shared_tags_forms(self, http: httpx.Client, series: dict) -> None:
        study = series["ParentStudy"]
        simplified = http.get(f"/studies/{study}/shared-tags?simplify").json()
        short = http.get(
            f"/patients/{series['ParentPatient']}/shared-tags?short"
        ).json()
        assert simplified["StudyDescription"] == "Shared study"
        assert short["0008,1030"] == "Shared study"

    def test_instances_tags(self, http: httpx.Client, series: dict) -> None:
        answer = http.get(
            f"/series/{series['ParentSeries']}/instances-tags?simplify"
        ).json()
        assert sorted(answer) == sorted(series["Instances"])
        assert answer[series["ID"]]["ImageComments"] == "image 0"

    def test_modules(self, http: httpx.Client, series: dict) -> None:
        study = http.get(f"/studies/{series['ParentStudy']}/module").json()
        patient = http.get(
            f"/studies/{series['ParentStudy']}/module-patient?simplify"
        ).json()
        instance = http.get(f"/instances/{series['ID']}/module?short").json()
        assert sorted(study) == ["0008,1030", "0008,1032", "0020,000d"]
        assert patient == {"PatientID": "SYN-SHARED", "PatientName": "Synthetic^Case"}
        assert instance["0020,0013"] == "1"


class TestMetadata:
    def test_instance_metadata(self, http: httpx.Client) -> None:
        instance = upload(http, pydicom_file("CT_small.dcm").read_bytes())["ID"]
        names = http.get(f"/instances/{instance}/metadata").json()
        assert names == [
            "IndexInSeries",
            "ReceptionDate",
            "RemoteAET",
            "Origin",
            "TransferSyntax",
            "SopClassUid",
            "RemoteIP",
            "HttpUsername",
            "PixelDataOffset",
        ]
        values = http.get(f"/instances/{instance}/metadata?expand").json()
        assert values["PixelDataOffset"] == "6288"
        assert values["TransferSyntax"] == "1.2.840.10008.1.2.1"
        origin = http.get(f"/instances/{instance}/metadata/Origin")
        assert origin.text == "RestApi"
        assert origin.headers["content-type"] == "text/plain"
        http.delete(f"/instances/{instance}")

    def test_levels_above_instance(self, http: httpx.Client) -> None:
        answer = upload(http, make_dicom(patient_id="META-LEVELS"))
        series = http.get(f"/series/{answer['ParentSeries']}/metadata").json()
        study = http.get(f"/studies/{answer['ParentStudy']}/metadata").json()
        assert series == ["RemoteAET", "LastUpdate"]
        assert study == ["LastUpdate"]
        http.delete(f"/instances/{answer['ID']}")

    def test_user_metadata_round_trip(self, http: httpx.Client) -> None:
        answer = upload(http, make_dicom(patient_id="META-USER"))
        url = f"/series/{answer['ParentSeries']}/metadata/Sample"
        assert http.put(url, content=b"hello").status_code == 200
        assert http.get(url).text == "hello"
        numbered = http.get(f"/series/{answer['ParentSeries']}/metadata/1024")
        assert numbered.text == "hello"
        assert http.delete(url).status_code == 200
        assert http.get(url).status_code == 404
        http.delete(f"/instances/{answer['ID']}")

    def test_system_metadata_is_read_only(self, http: httpx.Client) -> None:
        answer = upload(http, make_dicom(patient_id="META-SYSTEM"))
        url = f"/instances/{answer['ID']}/metadata"
        assert http.put(f"{url}/Origin", content=b"x").status_code == 403
        assert http.delete(f"{url}/ReceptionDate").status_code == 403
        assert http.put(f"{url}/Undeclared", content=b"x").status_code == 404
        http.delete(f"/instances/{answer['ID']}")


class TestAttachments:
    def test_dicom_attachment(self, http: httpx.Client) -> None:
        body = pydicom_file("MR_small.dcm").read_bytes()
        instance = upload(http, body)["ID"]
        base = f"/instances/{instance}/attachments"
        md5 = hashlib.md5(body).hexdigest()
        assert http.get(base).json() == ["dicom"]
        info = http.get(f"{base}/dicom/info").json()
        assert info["UncompressedMD5"] == md5
        assert info["ContentType"] == 1
        assert http.get(f"{base}/dicom/size").text == str(len(body))
        assert http.get(f"{base}/dicom/md5").text == md5
        assert http.post(f"{base}/dicom/verify-md5").json() == {}
        assert http.get(f"{base}/dicom/data").content == body
        assert http.get(f"{base}/nope").status_code == 404
        http.delete(f"/instances/{instance}")


class TestStoredFiles:
    """Tests that damage the storage area get a server of their own."""

    @pytest.fixture
    def own_server(self, tmp_path: Path) -> Iterator[ServerProcess]:
        process = ServerProcess(tmp_path / "data")
        yield process
        process.stop()

    def stored_path(
        self, server: ServerProcess, client: httpx.Client, instance: str
    ) -> Path:
        uuid = client.get(f"/instances/{instance}").json()["FileUuid"]
        return server.data / "storage" / uuid[:2] / uuid[2:4] / uuid

    def test_damaged_files(self, own_server: ServerProcess) -> None:
        with httpx.Client(base_url=own_server.url, timeout=60) as client:
            ct = upload(client, pydicom_file("CT_small.dcm").read_bytes())["ID"]
            mr = upload(client, pydicom_file("MR_small.dcm").read_bytes())["ID"]
            ct_path = self.stored_path(own_server, client, ct)
            body = ct_path.read_bytes()
            # Cut the file inside its Pixel Data: /tags never reads pixels.
            ct_path.write_bytes(body[: 6288 + 100])
            assert client.get(f"/instances/{ct}/tags").status_code == 200
            verify = client.post(f"/instances/{ct}/attachments/dicom/verify-md5")
            assert verify.status_code == 500
            assert verify.json()["OrthancStatus"] == 20

            self.stored_path(own_server, client, mr).write_bytes(b"\x00" * 10)
            broken = client.get(f"/instances/{mr}/tags")
            assert broken.status_code == 400
            assert "cannot be parsed" in broken.json()["Details"]


class TestDefaultEncoding:
    def test_default_encoding_persists_and_applies(self, tmp_path: Path) -> None:
        data = tmp_path / "data"
        server = ServerProcess(data)
        try:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                assert client.get("/tools/default-encoding").text == "Latin1"
                answer = upload(client, synthetic.cyrillic_without_charset())
                latin = client.get(f"/instances/{answer['ID']}/simplified-tags").json()
                assert latin["SeriesDescription"] != "Исследование"
                put = client.put("/tools/default-encoding", content=b"Windows1251")
                assert put.text == "Windows1251"
                cyrillic = client.get(
                    f"/instances/{answer['ID']}/simplified-tags"
                ).json()
                assert cyrillic["SeriesDescription"] == "Исследование"
                bad = client.put("/tools/default-encoding", content=b"Klingon")
                assert bad.status_code == 400
        finally:
            server.stop()

        restarted = ServerProcess(data)
        try:
            with httpx.Client(base_url=restarted.url, timeout=60) as client:
                assert client.get("/tools/default-encoding").text == "Windows1251"
                ds = synthetic.base_dataset("cyrillic-later", charset=None)
                synthetic.put_raw(ds, 0x0008103E, "LO", "Серия".encode("cp1251") + b" ")
                later = upload(client, synthetic.write(ds))
                series = client.get(f"/series/{later['ParentSeries']}").json()
                assert series["MainDicomTags"]["SeriesDescription"] == "Серия"
        finally:
            restarted.stop()
        shutil.rmtree(data, ignore_errors=True)
