"""Files and requests with malformed values: each gets a 4xx, never a 500."""

from __future__ import annotations

import copy
import io
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import JPEGBaseline8Bit, generate_uid

from tests.helpers import REPO, ServerProcess

SAMPLE = REPO / "sample_data" / "ct_64x64.dcm"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("malformed") / "data")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def set_raw(dataset: Dataset, tag: int, vr: str, value: bytes) -> None:
    """Store bytes as they are, bypassing pydicom's checks of the value."""
    dataset[tag] = RawDataElement(Tag(tag), vr, len(value), value, 0, False, True)


def crafted(change: Callable[[Dataset], None], transfer_syntax: str | None = None) -> bytes:
    dataset = copy.deepcopy(pydicom.dcmread(SAMPLE))
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    if transfer_syntax:
        dataset.file_meta.TransferSyntaxUID = transfer_syntax
    change(dataset)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=False)
    return buffer.getvalue()


def upload(http: httpx.Client, body: bytes) -> dict:
    response = http.post("/instances", content=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_forged_frame_count_listed_within_pixels(http: httpx.Client) -> None:
    body = crafted(lambda ds: set_raw(ds, 0x00280008, "IS", b"2147483647"))
    instance = upload(http, body)["ID"]
    started = time.monotonic()
    response = http.get(f"/instances/{instance}/frames")
    assert response.status_code == 200
    assert response.json() == [0]
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("value", [b"\x40", b"\x40\x00\x00"])
def test_wrong_length_rows_is_415(http: httpx.Client, value: bytes) -> None:
    body = crafted(lambda ds: set_raw(ds, 0x00280010, "US", value))
    instance = upload(http, body)["ID"]
    for route in ("preview", "rendered", "image-uint16", "frames/0/raw", "numpy"):
        response = http.get(f"/instances/{instance}/{route}")
        assert response.status_code == 415, route


def test_media_with_invalid_instance_number(http: httpx.Client) -> None:
    body = crafted(lambda ds: set_raw(ds, 0x00200013, "IS", b"1.5e3\\x "))
    answer = upload(http, body)
    response = http.get(f"/patients/{answer['ParentPatient']}/media")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.testzip() is None
        assert "DICOMDIR" in archive.namelist()


def test_deep_sequences_shown_in_tags(http: httpx.Client) -> None:
    def nest(dataset: Dataset) -> None:
        current = dataset
        for level in range(99):
            item = Dataset()
            item.CodeValue = str(level)
            current.add_new(0x00400260, "SQ", Sequence([item]))
            current = item

    instance = upload(http, crafted(nest))["ID"]
    response = http.get(f"/instances/{instance}/tags")
    assert response.status_code == 200
    assert "0040,0260" in response.json()


def test_content_of_empty_encapsulated_pixels(http: httpx.Client) -> None:
    def empty_fragments(dataset: Dataset) -> None:
        dataset.PixelData = b"\xfe\xff\x00\xe0\x00\x00\x00\x00\xfe\xff\xdd\xe0\x00\x00\x00\x00"
        dataset["PixelData"].VR = "OB"
        dataset["PixelData"].is_undefined_length = True

    instance = upload(http, crafted(empty_fragments, JPEGBaseline8Bit))["ID"]
    listing = http.get(f"/instances/{instance}/content")
    assert listing.status_code == 200
    assert "fffe-e0dd" not in listing.json()
    assert http.get(f"/instances/{instance}/content/fffe-e0dd").status_code in (400, 404)


def test_content_rejects_odd_tags_and_indexes(http: httpx.Client) -> None:
    instance = upload(http, crafted(lambda ds: None))["ID"]
    assert http.get(f"/instances/{instance}/content/-0010010").status_code == 400
    assert http.get(f"/instances/{instance}/content/0x100010").status_code == 400
    assert http.get(f"/instances/{instance}/content/7fe0-0010/%C2%B2").status_code == 404


def test_huge_paging_numbers_are_400(http: httpx.Client) -> None:
    for path in (
        "/changes?since=99999999999999999999999",
        "/changes?since=-99999999999999999999",
        "/patients?since=99999999999999999999999&limit=1",
        "/patients?since=0&limit=99999999999999999999999",
    ):
        assert http.get(path).status_code == 400, path


def test_find_with_too_many_alternatives(server: ServerProcess, http: httpx.Client) -> None:
    names = "\\".join(["Hidden^Searchname"] * 500)
    response = http.post(
        "/tools/find", json={"Level": "Study", "Query": {"PatientName": names}}
    )
    assert response.status_code == 400
    assert "alternatives" in response.json()["Details"]
    assert "HIDDEN" not in server.log().upper()


def test_bulk_delete_of_unknown_ids_is_quick(server: ServerProcess, http: httpx.Client) -> None:
    unknown = [f"{i:08x}-00000000-00000000-00000000-00000000" for i in range(5000)]
    started = time.monotonic()
    response = http.post("/tools/bulk-delete", json={"Resources": unknown})
    assert response.status_code == 200
    assert time.monotonic() - started < 20
    assert "skipped 5000 unknown resources" in server.log()
