"""Image routes over HTTP: every pydicom test file with pixels, and hard cases.

One server serves the whole module; each test deletes what it uploaded, so
test files that share UIDs do not collide.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pydicom
import pytest
from pydicom.uid import RLELossless

from tests.helpers import ServerProcess, make_dicom
from tests.images_helpers import (
    decode_image,
    image_dataset,
    jpeg_baseline,
    orthanc_digests,
    pixel_digest,
    sample_path,
    to_bytes,
    with_new_uids,
)

DIGESTS = orthanc_digests()

# Files that Orthanc 1.10.1 cannot decode (JPEG 2000, 16-bit palette) or
# cannot store (no UIDs), each with the file whose pixels it must equal.
LOSSLESS_TWINS = {
    "MR_small_jp2klossless.dcm": "MR_small.dcm",
    "emri_small_jpeg_2k_lossless.dcm": "emri_small.dcm",
    "693_J2KR.dcm": "693_UNCR.dcm",
    "MR2_J2KR.dcm": "MR2_UNCR.dcm",
    "RG3_J2KR.dcm": "RG3_UNCR.dcm",
    "US1_J2KR.dcm": "US1_UNCR.dcm",
    "JPEG2000.dcm": "JPEG2000_UNC.dcm",
    "J2K_pixelrep_mismatch.dcm": None,
    "GDCMJ2K_TextGBR.dcm": None,
    "examples_jpeg2k.dcm": "US1_UNCR.dcm",
    "SC_rgb_gdcm_KY.dcm": "SC_rgb.dcm",
    "SC_rgb_gdcm2k_uncompressed.dcm": "SC_rgb.dcm",
    "explicit_VR-UN.dcm": None,
    "RG1_J2KR.dcm": "RG1_UNCR.dcm",
    # 16 and 32-bit RGB keep their high 8 bits, which are SC_rgb.dcm's values.
    "SC_rgb_16bit.dcm": "SC_rgb.dcm",
    "SC_rgb_16bit_2frame.dcm": "SC_rgb.dcm",
    "SC_rgb_32bit.dcm": "SC_rgb.dcm",
    "SC_rgb_32bit_2frame.dcm": "SC_rgb.dcm",
    "SC_rgb_expb_16bit.dcm": "SC_rgb.dcm",
    "SC_rgb_expb_16bit_2frame.dcm": "SC_rgb.dcm",
    "SC_rgb_expb_32bit.dcm": "SC_rgb.dcm",
    "SC_rgb_expb_32bit_2frame.dcm": "SC_rgb.dcm",
    "SC_rgb_rle_16bit.dcm": "SC_rgb.dcm",
    "SC_rgb_rle_16bit_2frame.dcm": "SC_rgb.dcm",
    "SC_rgb_rle_32bit.dcm": "SC_rgb.dcm",
    "SC_rgb_rle_32bit_2frame.dcm": "SC_rgb.dcm",
    "OBXXXX1A_2frame.dcm": "OBXXXX1A.dcm",
    "OBXXXX1A_expb_2frame.dcm": "OBXXXX1A.dcm",
    "OBXXXX1A_rle_2frame.dcm": "OBXXXX1A.dcm",
}
# Lossy or otherwise undecodable by Orthanc: the response must be an image of
# the right size and kind.
DECODABLE_ONLY = [
    "693_J2KI.dcm",
    "MR2_J2KI.dcm",
    "RG1_J2KI.dcm",
    "US1_J2KI.dcm",
    "JPEGLSNearLossless_08.dcm",
    "JPEGLSNearLossless_16.dcm",
    "SC_rgb_jls_lossy_line.dcm",
    "SC_rgb_jls_lossy_sample.dcm",
    "JPGExtended.dcm",
    "SC_jpeg_no_color_transform.dcm",
    "SC_jpeg_no_color_transform_2.dcm",
    "SC_rgb_dcmtk_+eb+cr.dcm",
    "SC_rgb_dcmtk_+eb+cy+n1.dcm",
    "SC_rgb_dcmtk_+eb+cy+n2.dcm",
    "SC_rgb_dcmtk_+eb+cy+np.dcm",
    "SC_rgb_dcmtk_+eb+cy+s2.dcm",
    "SC_rgb_dcmtk_+eb+cy+s4.dcm",
    "SC_rgb_jpeg_app14_dcmd.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "SC_rgb_jpeg_gdcm.dcm",
    "SC_rgb_jpeg_lossy_gdcm.dcm",
    "SC_rgb_small_odd_jpeg.dcm",
    "examples_ybr_color.dcm",
    "color3d_jpeg_baseline.dcm",
    "rtdose.dcm",
    "rtdose_1frame.dcm",
    "rtdose_expb.dcm",
    "rtdose_expb_1frame.dcm",
    "gdcm-US-ALOKA-16.dcm",
    "gdcm-US-ALOKA-16_big.dcm",
    "OT-PAL-8-face.dcm",
    "mlut_18.dcm",
    "RG3_J2KI.dcm",
    "SC_ybr_full_uncompressed.dcm",
    "SC_ybr_full_422_uncompressed.dcm",
]
# Test files whose pixel data cannot be decoded, with the reason.
UNDECODABLE = {
    "JPEG-lossy.dcm": "A misplaced marker segment was found",
    "JPEG2000-embedded-sequence-delimiter.dcm": "contains a 3722445056x1024 image",
    "badVR.dcm": "Cannot decode frame 0",
    "meta_missing_tsyntax.dcm": "The Image Pixel module has no Rows",
    "nested_priv_SQ.dcm": "The Image Pixel module has no Rows",
}
# Test files with pixel data that the archive rejects at upload: their
# pixel data runs past the end of the file.
TRUNCATED = ["MR_truncated.dcm", "SC_rgb_jpeg.dcm"]


@pytest.fixture(scope="module")
def image_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("images") / "data")
    yield process
    process.stop()


@pytest.fixture
def http(image_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=image_server.url, timeout=60) as client:
        yield client


class Uploaded:
    """Instances uploaded by one test, deleted when it ends."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.ids: list[str] = []

    def __call__(self, body: bytes) -> str:
        response = self.client.post("/instances", content=body)
        assert response.status_code == 200, response.text
        instance = response.json()["ID"]
        self.ids.append(instance)
        return instance


@pytest.fixture
def upload(http: httpx.Client) -> Iterator[Uploaded]:
    uploaded = Uploaded(http)
    yield uploaded
    for instance in uploaded.ids:
        http.delete(f"/instances/{instance}")


def get_pixels(http: httpx.Client, url: str, **headers: str) -> np.ndarray:
    response = http.get(url, headers=headers)
    assert response.status_code == 200, (
        f"{url}: {response.status_code} {response.text[:300]}"
    )
    return decode_image(response.content)


# -- pydicom's test files ------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DIGESTS))
def test_testfile_matches_orthanc(
    name: str, http: httpx.Client, upload: Uploaded
) -> None:
    """Every route gives the pixels that Orthanc 1.10.1 gives."""
    instance = upload(sample_path(name).read_bytes())
    for route, expected in DIGESTS[name].items():
        pixels = get_pixels(http, f"/instances/{instance}/{route}")
        assert pixel_digest(pixels) == expected, f"{name} {route}"


@pytest.mark.parametrize("name", sorted(LOSSLESS_TWINS))
def test_lossless_twin_preview(name: str, http: httpx.Client, upload: Uploaded) -> None:
    """A losslessly compressed file previews like its uncompressed twin."""
    instance = upload(with_new_uids(sample_path(name)))
    preview = get_pixels(http, f"/instances/{instance}/preview")
    twin = LOSSLESS_TWINS[name]
    if twin is None or twin not in DIGESTS:
        dataset = pydicom.dcmread(sample_path(name))
        assert preview.shape[:2] == (dataset.Rows, dataset.Columns)
        return
    assert pixel_digest(preview) == DIGESTS[twin]["preview"]


@pytest.mark.parametrize("name", DECODABLE_ONLY)
def test_testfile_preview_decodes(
    name: str, http: httpx.Client, upload: Uploaded
) -> None:
    dataset = pydicom.dcmread(sample_path(name), force=True)
    instance = upload(with_new_uids(sample_path(name)))
    frames = http.get(f"/instances/{instance}/frames").json()
    color = (
        dataset.SamplesPerPixel == 3
        or dataset.PhotometricInterpretation == "PALETTE COLOR"
    )
    for frame in {0, frames[-1]}:
        pixels = get_pixels(http, f"/instances/{instance}/frames/{frame}/preview")
        assert pixels.shape[:2] == (dataset.Rows, dataset.Columns), name
        assert pixels.ndim == (3 if color else 2), name
        assert pixels.max() > pixels.min(), f"{name} frame {frame} is blank"


def test_lossy_jpeg2000_close_to_original(http: httpx.Client, upload: Uploaded) -> None:
    lossy = upload(with_new_uids(sample_path("MR2_J2KI.dcm")))
    original = upload(with_new_uids(sample_path("MR2_UNCR.dcm")))
    lossy_pixels = get_pixels(http, f"/instances/{lossy}/image-uint16").astype(int)
    original_pixels = get_pixels(http, f"/instances/{original}/image-uint16").astype(
        int
    )
    difference = np.abs(lossy_pixels - original_pixels)
    assert difference.mean() < 0.02 * original_pixels.max()


@pytest.mark.parametrize("name", sorted(UNDECODABLE))
def test_undecodable_testfile_415(
    name: str, http: httpx.Client, upload: Uploaded
) -> None:
    instance = upload(with_new_uids(sample_path(name)))
    response = http.get(f"/instances/{instance}/preview")
    assert response.status_code == 415
    assert UNDECODABLE[name] in response.json()["Details"]


@pytest.mark.parametrize("name", TRUNCATED)
def test_truncated_testfile_rejected(name: str, http: httpx.Client) -> None:
    response = http.post("/instances", content=sample_path(name).read_bytes())
    assert response.status_code == 400


def test_palette_big_endian_like_little(http: httpx.Client, upload: Uploaded) -> None:
    little = upload(with_new_uids(sample_path("gdcm-US-ALOKA-16.dcm")))
    big = upload(with_new_uids(sample_path("gdcm-US-ALOKA-16_big.dcm")))
    little_pixels = get_pixels(http, f"/instances/{little}/preview")
    big_pixels = get_pixels(http, f"/instances/{big}/preview")
    assert np.array_equal(little_pixels, big_pixels)


# -- hard cases ----------------------------------------------------------------


def monochrome_pair(photometric: str) -> bytes:
    pixels = np.tile(np.arange(16, dtype=np.uint8) * 17, (16, 1)).T.copy()
    pixels[0, 0], pixels[-1, -1] = 255, 0
    return to_bytes(image_dataset(pixels, photometric))


@pytest.mark.parametrize("route", ["preview", "frames/0/preview"])
def test_monochrome1_inverted(route: str, http: httpx.Client, upload: Uploaded) -> None:
    inverted = upload(monochrome_pair("MONOCHROME1"))
    normal = upload(monochrome_pair("MONOCHROME2"))
    assert get_pixels(http, f"/instances/{inverted}/{route}")[0, 0] == 0
    assert get_pixels(http, f"/instances/{normal}/{route}")[0, 0] == 255


def test_monochrome1_rendered_inverted(http: httpx.Client, upload: Uploaded) -> None:
    inverted = upload(monochrome_pair("MONOCHROME1"))
    normal = upload(monochrome_pair("MONOCHROME2"))
    inverted_pixels = get_pixels(http, f"/instances/{inverted}/rendered")
    normal_pixels = get_pixels(http, f"/instances/{normal}/rendered")
    assert normal_pixels[0, 0] > 250
    assert np.array_equal(inverted_pixels, 255 - normal_pixels)


def test_monochrome1_jpeg_answer(http: httpx.Client, upload: Uploaded) -> None:
    inverted = upload(monochrome_pair("MONOCHROME1"))
    pixels = get_pixels(http, f"/instances/{inverted}/preview", accept="image/jpeg")
    assert pixels[0, 0] < 10


@pytest.mark.parametrize("encoding", ["jpeg", "rle"])
def test_monochrome1_compressed_inverted(
    encoding: str, http: httpx.Client, upload: Uploaded
) -> None:
    pixels = np.full((16, 16), 128, dtype=np.uint8)
    pixels[:8, :8] = 255
    pixels[8:, 8:] = 0
    dataset = image_dataset(pixels, "MONOCHROME1")
    if encoding == "rle":
        dataset.compress(RLELossless)
    else:
        jpeg_baseline(dataset, pixels, "MONOCHROME1")
    instance = upload(to_bytes(dataset))
    assert get_pixels(http, f"/instances/{instance}/preview")[0, 0] < 10


def test_monochrome1_raw_routes_not_inverted(
    http: httpx.Client, upload: Uploaded
) -> None:
    inverted = upload(monochrome_pair("MONOCHROME1"))
    assert get_pixels(http, f"/instances/{inverted}/image-uint8")[0, 0] == 255
    assert get_pixels(http, f"/instances/{inverted}/image-uint16")[0, 0] == 255


def signed_12_bit() -> tuple[bytes, np.ndarray]:
    values = np.array([[-2000, -1, 0, 2047]] * 4, dtype=np.int16)
    stored = values.astype(np.uint16) & 0x0FFF
    stored[values >= 0] |= 0xF000  # garbage above the high bit of positive values
    dataset = image_dataset(
        values,
        "MONOCHROME2",
        bits_stored=12,
        RescaleSlope="1.5",
        RescaleIntercept="-1024",
    )
    dataset.PixelData = stored.tobytes()
    dataset.Modality = "CT"
    return to_bytes(dataset), values


def test_signed_12_bit_int16(http: httpx.Client, upload: Uploaded) -> None:
    body, values = signed_12_bit()
    instance = upload(body)
    pixels = get_pixels(http, f"/instances/{instance}/image-int16")
    assert np.array_equal(pixels.view(np.int16), values)
    assert pixels[0, 0] == 63536


def test_signed_12_bit_uint_routes_clip(http: httpx.Client, upload: Uploaded) -> None:
    body, values = signed_12_bit()
    instance = upload(body)
    uint16 = get_pixels(http, f"/instances/{instance}/image-uint16")
    uint8 = get_pixels(http, f"/instances/{instance}/image-uint8")
    assert uint16[0].tolist() == [0, 0, 0, 2047]
    assert uint8[0].tolist() == [0, 0, 0, 255]


def test_signed_12_bit_preview_min_max(http: httpx.Client, upload: Uploaded) -> None:
    body, _ = signed_12_bit()
    instance = upload(body)
    preview = get_pixels(http, f"/instances/{instance}/preview")
    assert preview[0].tolist() == [0, 126, 126, 255]


def test_signed_12_bit_rendered_window(http: httpx.Client, upload: Uploaded) -> None:
    """The fractional slope applies before the window given in the URI."""
    body, _ = signed_12_bit()
    instance = upload(body)
    rendered = get_pixels(
        http, f"/instances/{instance}/rendered?window-center=-1024&window-width=2000"
    )
    # -1 * 1.5 - 1024 = -1025.5 and 2047 * 1.5 - 1024 = 2046.5
    assert rendered[0].tolist() == [0, 127, 127, 255]


@pytest.mark.parametrize(
    ("centers", "widths", "expected"),
    [
        # (87 + 160) / 400 * 255 with the first pair, 40/400
        ([40, 400], [400, 2000], 157),
        # Counts differ: the window [0, 256] of 8 bits stored, 87 / 256 * 255
        ([40, 400], [400], 86),
        ("40 ", "400", 157),
    ],
)
def test_multi_valued_window(
    centers: object, widths: object, expected: int, http: httpx.Client, upload: Uploaded
) -> None:
    pixels = np.full((4, 4), 87, dtype=np.int16)
    dataset = image_dataset(
        pixels, "MONOCHROME2", bits_stored=8, WindowCenter=centers, WindowWidth=widths
    )
    dataset.WindowCenterWidthExplanation = ["SOFT", "BONE"]
    instance = upload(to_bytes(dataset))
    rendered = get_pixels(http, f"/instances/{instance}/rendered")
    assert rendered[0, 0] == expected


def test_multi_valued_window_tags_kept(http: httpx.Client, upload: Uploaded) -> None:
    dataset = image_dataset(np.zeros((4, 4), dtype=np.uint8), "MONOCHROME2")
    dataset.WindowCenter = [40, 400]
    dataset.WindowWidth = [400, 2000]
    instance = upload(to_bytes(dataset))
    response = http.get(f"/instances/{instance}/preview")
    assert response.status_code == 200


def test_odd_length_pixel_data(http: httpx.Client, upload: Uploaded) -> None:
    """A 3x3 8-bit image has 9 bytes; padding and one byte too many are fine."""
    pixels = np.arange(9, dtype=np.uint8).reshape(3, 3) * 30
    dataset = image_dataset(pixels, "MONOCHROME2")
    dataset.PixelData = pixels.tobytes() + b"\x07"
    instance = upload(to_bytes(dataset))
    assert np.array_equal(
        get_pixels(http, f"/instances/{instance}/image-uint8"), pixels
    )


def test_short_pixel_data_415(http: httpx.Client, upload: Uploaded) -> None:
    dataset = image_dataset(np.zeros((8, 8), dtype=np.uint16), "MONOCHROME2")
    dataset.PixelData = bytes(100)
    instance = upload(to_bytes(dataset))
    response = http.get(f"/instances/{instance}/preview")
    assert response.status_code == 415
    assert "contains 100 bytes" in response.json()["Details"]


def test_huge_declared_frame_415(http: httpx.Client, upload: Uploaded) -> None:
    dataset = image_dataset(np.zeros((2, 2), dtype=np.uint16), "MONOCHROME2")
    dataset.Rows = 65535
    dataset.Columns = 65535
    instance = upload(to_bytes(dataset))
    response = http.get(f"/instances/{instance}/preview")
    assert response.status_code == 415
    assert "more than the limit" in response.json()["Details"]


def test_frame_limit_setting(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", {"ORTHANCLITE_MAX_FRAME_SIZE": "1000"})
    try:
        with httpx.Client(base_url=server.url) as client:
            instance = client.post(
                "/instances", content=sample_path("CT_small.dcm").read_bytes()
            ).json()["ID"]
            response = client.get(f"/instances/{instance}/preview")
    finally:
        server.stop()
    assert response.status_code == 415
    assert "limit of 1000 bytes" in response.json()["Details"]


def multiframe(transfer_syntax: str, dtype: type) -> bytes:
    pixels = np.stack(
        [
            np.full(
                (16, 16), k * 100 % 256 if dtype is np.uint8 else k * 100, dtype=dtype
            )
            for k in range(8)
        ]
    )
    dataset = image_dataset(pixels, "MONOCHROME2")
    if transfer_syntax == "rle":
        dataset.compress(RLELossless)
    return to_bytes(dataset)


@pytest.mark.parametrize(
    ("transfer_syntax", "dtype", "last_value"),
    [("native", np.uint16, 700), ("native", np.uint8, 188), ("rle", np.uint16, 700)],
)
def test_multiframe_last_frame(
    transfer_syntax: str,
    dtype: type,
    last_value: int,
    http: httpx.Client,
    upload: Uploaded,
) -> None:
    instance = upload(multiframe(transfer_syntax, dtype))
    assert http.get(f"/instances/{instance}/frames").json() == list(range(8))
    pixels = get_pixels(http, f"/instances/{instance}/frames/7/image-uint16")
    assert np.all(pixels == last_value)


@pytest.mark.parametrize(("transfer_syntax", "status"), [("native", 404), ("rle", 415)])
def test_frame_out_of_range(
    transfer_syntax: str, status: int, http: httpx.Client, upload: Uploaded
) -> None:
    """Orthanc 1.10.1: 404 for uncompressed frames, 415 for compressed ones."""
    instance = upload(multiframe(transfer_syntax, np.uint16))
    assert http.get(f"/instances/{instance}/frames/8/preview").status_code == status
    assert http.get(f"/instances/{instance}/frames/-1/preview").status_code == status


@pytest.mark.parametrize("route", ["raw", "numpy", "matlab"])
def test_frame_out_of_range_data_routes_400(
    route: str, http: httpx.Client, upload: Uploaded
) -> None:
    instance = upload(multiframe("native", np.uint16))
    response = http.get(f"/instances/{instance}/frames/8/{route}")
    assert response.status_code == 400
    assert response.json()["OrthancStatus"] == 3


def test_rendered_window_center_only(http: httpx.Client, upload: Uploaded) -> None:
    """The width missing from the URI comes from the dataset."""
    pixels = np.full((4, 4), 100, dtype=np.int16)
    dataset = image_dataset(pixels, "MONOCHROME2", WindowCenter="0", WindowWidth="400")
    instance = upload(to_bytes(dataset))
    rendered = get_pixels(http, f"/instances/{instance}/rendered?window-center=100")
    # (100 - (100 - 200)) / 400 * 255
    assert rendered[0, 0] == 127


def test_frame_not_a_number_404(http: httpx.Client, upload: Uploaded) -> None:
    instance = upload(multiframe("native", np.uint16))
    assert http.get(f"/instances/{instance}/frames/abc/preview").status_code == 404


def quadrants() -> np.ndarray:
    pixels = np.zeros((4, 4, 3), dtype=np.uint8)
    pixels[:2, :2] = (255, 0, 0)
    pixels[:2, 2:] = (0, 255, 0)
    pixels[2:, :2] = (0, 0, 255)
    pixels[2:, 2:] = (255, 255, 0)
    return pixels


@pytest.mark.parametrize("planar", [0, 1])
def test_rgb_rle_planar_configuration(
    planar: int, http: httpx.Client, upload: Uploaded
) -> None:
    dataset = image_dataset(quadrants(), "RGB")
    dataset.compress(RLELossless)
    dataset.PlanarConfiguration = planar
    instance = upload(to_bytes(dataset))
    assert np.array_equal(
        get_pixels(http, f"/instances/{instance}/preview"), quadrants()
    )


def test_rgb_native_planar_configuration(http: httpx.Client, upload: Uploaded) -> None:
    dataset = image_dataset(quadrants(), "RGB")
    dataset.PlanarConfiguration = 1
    dataset.PixelData = quadrants().transpose(2, 0, 1).tobytes()
    instance = upload(to_bytes(dataset))
    assert np.array_equal(
        get_pixels(http, f"/instances/{instance}/preview"), quadrants()
    )


def test_ybr_full_rle(http: httpx.Client, upload: Uploaded) -> None:
    from pydicom.pixels import convert_color_space

    ybr = convert_color_space(quadrants(), "RGB", "YBR_FULL")
    dataset = image_dataset(ybr, "YBR_FULL")
    dataset.compress(RLELossless)
    instance = upload(to_bytes(dataset))
    preview = get_pixels(http, f"/instances/{instance}/preview").astype(int)
    assert np.abs(preview - quadrants()).max() <= 2


def test_jpeg_ybr_full_422(http: httpx.Client, upload: Uploaded) -> None:
    pixels = np.repeat(np.repeat(quadrants(), 4, axis=0), 4, axis=1)
    dataset = jpeg_baseline(image_dataset(pixels, "RGB"), pixels, "YBR_FULL_422")
    instance = upload(to_bytes(dataset))
    preview = get_pixels(http, f"/instances/{instance}/preview").astype(int)
    assert np.abs(preview[2, 2] - pixels[2, 2]).max() <= 2
    assert np.abs(preview[13, 13] - pixels[13, 13]).max() <= 2


# -- formats and arguments -----------------------------------------------------


@pytest.fixture
def ct(upload: Uploaded) -> str:
    return upload(sample_path("CT_small.dcm").read_bytes())


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, "image/png"),
        ("*/*", "image/png"),
        ("text/html,application/xhtml+xml,image/webp,*/*;q=0.8", "image/png"),
        ("image/jpeg", "image/jpeg"),
        ("image/png;q=0.5, image/jpeg", "image/jpeg"),
        ("image/x-portable-arbitrarymap", "image/x-portable-arbitrarymap"),
    ],
)
def test_accept_picks_format(
    accept: str | None, media_type: str, http: httpx.Client, ct: str
) -> None:
    headers = {"Accept": accept} if accept else {}
    response = http.get(f"/instances/{ct}/preview", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type


def test_accept_gif_404(http: httpx.Client, ct: str) -> None:
    response = http.get(f"/instances/{ct}/preview", headers={"Accept": "image/gif"})
    assert response.status_code == 404


def test_jpeg_16_bit_404(http: httpx.Client, ct: str) -> None:
    response = http.get(
        f"/instances/{ct}/image-uint16", headers={"Accept": "image/jpeg"}
    )
    assert response.status_code == 404


def test_jpeg_uint8_allowed(http: httpx.Client, ct: str) -> None:
    response = http.get(
        f"/instances/{ct}/image-uint8", headers={"Accept": "image/jpeg"}
    )
    assert response.headers["content-type"] == "image/jpeg"


def test_jpeg_quality(http: httpx.Client, ct: str) -> None:
    low = http.get(
        f"/instances/{ct}/preview?quality=10", headers={"Accept": "image/jpeg"}
    )
    high = http.get(
        f"/instances/{ct}/preview?quality=100", headers={"Accept": "image/jpeg"}
    )
    assert len(low.content) < len(high.content)


@pytest.mark.parametrize("quality", ["0", "101", "abc"])
def test_invalid_quality_415(quality: str, http: httpx.Client, ct: str) -> None:
    response = http.get(f"/instances/{ct}/preview?quality={quality}")
    assert response.status_code == 415


def test_pam_header(http: httpx.Client, ct: str) -> None:
    response = http.get(
        f"/instances/{ct}/image-uint16",
        headers={"Accept": "image/x-portable-arbitrarymap"},
    )
    assert response.content.startswith(
        b"P7\nWIDTH 128\nHEIGHT 128\nDEPTH 1\nMAXVAL 65535\n"
    )


@pytest.mark.parametrize(
    ("arguments", "size"),
    [
        ("width=64", (64, 64)),
        ("height=32", (32, 32)),
        ("width=64&height=100", (64, 64)),
    ],
)
def test_rendered_size(
    arguments: str, size: tuple[int, int], http: httpx.Client, ct: str
) -> None:
    pixels = get_pixels(http, f"/instances/{ct}/rendered?{arguments}")
    assert pixels.shape == size


def test_rendered_huge_size_415(http: httpx.Client, ct: str) -> None:
    response = http.get(f"/instances/{ct}/rendered?width=1000000")
    assert response.status_code == 415
    assert "exceed the limit" in response.json()["Details"]


def test_rendered_keeps_aspect_ratio(http: httpx.Client, upload: Uploaded) -> None:
    instance = upload(sample_path("US1_UNCR.dcm").read_bytes())
    pixels = get_pixels(http, f"/instances/{instance}/rendered?width=64")
    assert pixels.shape == (48, 64, 3)


@pytest.mark.parametrize(
    "arguments",
    ["width=-5", "width=abc", "window-center=abc&window-width=9", "window-width=nan"],
)
def test_rendered_invalid_arguments_404(
    arguments: str, http: httpx.Client, ct: str
) -> None:
    response = http.get(f"/instances/{ct}/rendered?{arguments}")
    assert response.status_code == 404
    assert "Invalid argument" in response.json()["Details"]


def test_color_image_routes_415(http: httpx.Client, upload: Uploaded) -> None:
    instance = upload(sample_path("SC_rgb.dcm").read_bytes())
    for mode in ("image-uint8", "image-uint16", "image-int16"):
        assert http.get(f"/instances/{instance}/{mode}").status_code == 415


def test_frame_routes_list(http: httpx.Client, ct: str) -> None:
    routes = http.get(f"/instances/{ct}/frames/0").json()
    assert "preview" in routes
    assert "raw" in routes


def test_frame_routes_list_any_frame(http: httpx.Client, ct: str) -> None:
    """Orthanc 1.10.1 lists the routes whatever the frame."""
    assert http.get(f"/instances/{ct}/frames/abc").status_code == 200


def test_raw_frame_native(http: httpx.Client, ct: str) -> None:
    dataset = pydicom.dcmread(sample_path("CT_small.dcm"))
    response = http.get(f"/instances/{ct}/frames/0/raw")
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == dataset.PixelData


def test_raw_frame_gzip(http: httpx.Client, ct: str) -> None:
    import gzip

    dataset = pydicom.dcmread(sample_path("CT_small.dcm"))
    response = http.get(f"/instances/{ct}/frames/0/raw.gz")
    assert gzip.decompress(response.content) == dataset.PixelData


@pytest.mark.parametrize(
    ("name", "frame", "media_type", "magic"),
    [
        ("examples_ybr_color.dcm", 29, "image/jpeg", b"\xff\xd8"),
        ("emri_small_jpeg_2k_lossless.dcm", 9, "image/jp2", b"\xff\x4f"),
        ("JPEG-LL.dcm", 0, "application/octet-stream", b"\xff\xd8"),
    ],
)
def test_raw_frame_encapsulated(
    name: str,
    frame: int,
    media_type: str,
    magic: bytes,
    http: httpx.Client,
    upload: Uploaded,
) -> None:
    instance = upload(with_new_uids(sample_path(name)))
    response = http.get(f"/instances/{instance}/frames/{frame}/raw")
    assert response.headers["content-type"] == media_type
    assert response.content.startswith(magic)


def test_numpy_instance_rescaled(http: httpx.Client, ct: str) -> None:
    dataset = pydicom.dcmread(sample_path("CT_small.dcm"))
    array = np.load(io.BytesIO(http.get(f"/instances/{ct}/numpy").content))
    assert array.shape == (1, 128, 128, 1)
    assert array.dtype == np.float32
    assert array[0, 0, 0, 0] == dataset.pixel_array[0, 0] - 1024


def test_numpy_frame_stored_values(http: httpx.Client, ct: str) -> None:
    dataset = pydicom.dcmread(sample_path("CT_small.dcm"))
    array = np.load(
        io.BytesIO(http.get(f"/instances/{ct}/frames/0/numpy?rescale=0").content)
    )
    assert array.shape == (128, 128, 1)
    assert np.array_equal(array[:, :, 0], dataset.pixel_array)


def test_numpy_multiframe_color(http: httpx.Client, upload: Uploaded) -> None:
    instance = upload(sample_path("SC_rgb_rle_2frame.dcm").read_bytes())
    array = np.load(io.BytesIO(http.get(f"/instances/{instance}/numpy").content))
    assert array.shape == (2, 100, 100, 3)
    assert array.dtype == np.uint8


def test_pdf_document(http: httpx.Client, upload: Uploaded) -> None:
    document = b"%PDF-1.4\n%%EOF\n"
    body = make_dicom(
        SOPClassUID="1.2.840.10008.5.1.4.1.1.104.1",
        MIMETypeOfEncapsulatedDocument="application/pdf",
        EncapsulatedDocument=document,
    )
    instance = upload(body)
    response = http.get(f"/instances/{instance}/pdf")
    assert response.headers["content-type"] == "application/pdf"
    assert response.content == document.rstrip(b"\x00")
    assert http.get(f"/instances/{instance}/preview").status_code == 415


def test_pdf_of_image_404(http: httpx.Client, ct: str) -> None:
    assert http.get(f"/instances/{ct}/pdf").status_code == 404


def test_no_pixel_data_415(http: httpx.Client, upload: Uploaded) -> None:
    instance = upload(make_dicom())
    response = http.get(f"/instances/{instance}/preview")
    assert response.status_code == 415
    assert response.json()["Details"] == "The instance has no pixel data"


def test_return_unsupported_image(http: httpx.Client, upload: Uploaded) -> None:
    instance = upload(make_dicom())
    response = http.get(f"/instances/{instance}/preview?returnUnsupportedImage")
    assert response.status_code == 301
    assert response.headers["location"] == "../../app/images/unsupported.png"
    placeholder = http.get("/app/images/unsupported.png")
    assert placeholder.headers["content-type"] == "image/png"


def test_unknown_instance_404(http: httpx.Client) -> None:
    assert http.get("/instances/nope/preview").status_code == 404


def test_decoding_leaves_server_responsive(
    http: httpx.Client, upload: Uploaded
) -> None:
    """A slow JPEG 2000 decode runs in a worker thread, not in the event loop."""
    instance = upload(with_new_uids(sample_path("RG1_J2KR.dcm")))
    done = threading.Event()

    def decode() -> None:
        with httpx.Client(base_url=str(http.base_url), timeout=60) as other:
            other.get(f"/instances/{instance}/preview")
        done.set()

    worker = threading.Thread(target=decode)
    worker.start()
    time.sleep(0.3)
    started = time.perf_counter()
    status = http.get("/system").status_code
    elapsed = time.perf_counter() - started
    decoding = not done.is_set()
    worker.join()
    assert status == 200
    assert decoding, "the decode finished too early to prove anything"
    assert elapsed < 1.0


def test_matlab_frame(http: httpx.Client, upload: Uploaded) -> None:
    pixels = np.array([[0, 16], [32, 48]], dtype=np.uint16)
    instance = upload(to_bytes(image_dataset(pixels, "MONOCHROME2")))
    response = http.get(f"/instances/{instance}/frames/0/matlab")
    assert response.text == "double([ 0 16 ; 32 48 ])"
