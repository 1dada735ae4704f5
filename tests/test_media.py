"""The photo pipeline on real images made here with Pillow: sizes, orientation, EXIF, refusals, storage."""

from __future__ import annotations

import hashlib
import io
import logging
import random
import struct
import warnings
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image, ImageDraw, TiffImagePlugin

from server import media
from server.media import PhotoError, ProcessedPhoto, hamming, photo_path, process_photo

RED_BAND = (230, 20, 20)
HEIC = pytest.mark.skipif(not pillow_heif.libheif_info().get("HEIF"), reason="libheif has no HEVC encoder")


def scene(seed: int, size: tuple[int, int] = (4000, 3000), band: bool = False) -> Image.Image:
    """A photo-like picture: gradient sky, random shapes, sensor noise; a red band on top if asked."""
    rng = random.Random(seed)
    w, h = size
    im = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize(size),
            Image.linear_gradient("L").rotate(90).resize(size),
            Image.new("L", size, rng.randrange(60, 200)),
        ),
    )
    draw = ImageDraw.Draw(im)
    for _ in range(30):
        x, y = rng.randrange(w), rng.randrange(h)
        rw, rh = rng.randrange(w // 12, w // 3), rng.randrange(h // 12, h // 3)
        colour = tuple(rng.randrange(256) for _ in range(3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x - rw, y - rh, x + rw, y + rh), fill=colour)
    if band:
        draw.rectangle((0, 0, w, h // 10), fill=RED_BAND)
    noise = Image.effect_noise(size, 24).convert("RGB")
    return Image.blend(im, noise, 0.12)


def camera_exif(
    orientation: int = 1,
    when: str | None = "2026:10:01 09:30:00",
    offset: str | None = None,
    gps: tuple[str, tuple, str, tuple] | None = ("N", (39, 54, 15.12), "E", (116, 23, 29.4)),
) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Minqing Test Camera"
    if when is not None:
        exif.get_ifd(0x8769)[0x9003] = when
    if offset is not None:
        exif.get_ifd(0x8769)[0x9011] = offset
    if gps is not None:
        ifd = exif.get_ifd(0x8825)
        ifd[1], ifd[2], ifd[3], ifd[4] = gps
    return exif


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def jpeg_markers(data: bytes) -> list[int]:
    """The segment markers of a JPEG up to the start of scan."""
    assert data[:2] == b"\xff\xd8"
    markers, pos = [], 2
    while pos < len(data):
        assert data[pos] == 0xFF
        marker = data[pos + 1]
        markers.append(marker)
        if marker == 0xDA:
            break
        pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
    return markers


def assert_clean_jpeg(data: bytes) -> Image.Image:
    """A plain RGB JPEG: no EXIF/XMP/ICC/comment segments, nothing that came from the upload's metadata."""
    im = Image.open(io.BytesIO(data))
    assert im.format == "JPEG" and im.mode == "RGB"
    assert not im.getexif()
    assert not {m for m in jpeg_markers(data) if 0xE1 <= m <= 0xEF or m == 0xFE}
    for secret in (b"Exif\x00\x00", b"http://ns.adobe.com/xap", b"Minqing Test Camera", b"secret note"):
        assert secret not in data
    return im


def header_only_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width×height (a decompression bomb in shape)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def camera_jpeg() -> bytes:
    """12 MP as a phone stores it: sensor-oriented pixels plus orientation 6 (rotate 90° clockwise)."""
    exif = camera_exif(orientation=6)
    return encode(scene(1, band=True), "JPEG", quality=92, exif=exif, comment=b"secret note")


@pytest.fixture(scope="module")
def camera_photo(camera_jpeg: bytes) -> ProcessedPhoto:
    return process_photo(camera_jpeg)


# --- the camera photo -----------------------------------------------------------------------------


def test_camera_jpeg_is_shrunk_and_turned_upright(camera_photo: ProcessedPhoto, camera_jpeg: bytes) -> None:
    assert (camera_photo.width, camera_photo.height) == (1200, 1600)
    assert camera_photo.size_bytes == len(camera_jpeg)
    assert camera_photo.sha256 == hashlib.sha256(camera_jpeg).hexdigest()
    full = assert_clean_jpeg(camera_photo.full_jpeg)
    assert full.size == (1200, 1600)
    # The sensor's top row (red band) ends up on the right once turned 90° clockwise.
    right, left = full.getpixel((1190, 800)), full.getpixel((10, 800))
    assert right[0] > 180 and right[1] < 90, right
    assert not (left[0] > 180 and left[1] < 90), left
    thumb = assert_clean_jpeg(camera_photo.thumb_jpeg)
    assert thumb.size == (240, 320)


def test_camera_exif_time_and_place(camera_photo: ProcessedPhoto) -> None:
    assert camera_photo.exif_time == datetime(2026, 10, 1, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
    assert camera_photo.exif_lat == pytest.approx(39 + 54 / 60 + 15.12 / 3600, abs=1e-6)
    assert camera_photo.exif_lon == pytest.approx(116 + 23 / 60 + 29.4 / 3600, abs=1e-6)


def test_repr_leaks_neither_place_nor_bytes(camera_photo: ProcessedPhoto) -> None:
    text = repr(camera_photo)
    assert "39.9" not in text and "116.3" not in text and "\\x" not in text and len(text) < 400


def test_nothing_about_the_photo_is_logged(caplog: pytest.LogCaptureFixture, camera_jpeg: bytes) -> None:
    caplog.set_level(logging.DEBUG)
    process_photo(camera_jpeg)
    with pytest.raises(PhotoError):
        process_photo(camera_jpeg[: len(camera_jpeg) // 2])
    assert caplog.records == []


@pytest.mark.parametrize(
    ("when", "offset", "expected"),
    [
        ("2026:10:01 09:30:00", "+02:00", datetime(2026, 10, 1, 7, 30, tzinfo=UTC)),
        ("2026:10:01 09:30:00", "-05:00", datetime(2026, 10, 1, 14, 30, tzinfo=UTC)),
        ("2026:01:01 03:00:00", None, datetime(2025, 12, 31, 19, 0, tzinfo=UTC)),
        ("2026-10-01 09:30:00", None, datetime(2026, 10, 1, 1, 30, tzinfo=UTC)),
        ("0000:00:00 00:00:00", None, None),
        ("garbage", None, None),
        (None, None, None),
    ],
)
def test_exif_time(when: str | None, offset: str | None, expected: datetime | None) -> None:
    data = encode(scene(2, (400, 300)), "JPEG", exif=camera_exif(when=when, offset=offset, gps=None))
    photo = process_photo(data)
    assert photo.exif_time == expected
    assert photo.exif_lat is None and photo.exif_lon is None


def test_exif_gps_south_west_and_broken() -> None:
    south_west = ("S", (33, 52, 4.0), "W", (151, 12, 36.0))
    photo = process_photo(encode(scene(3, (400, 300)), "JPEG", exif=camera_exif(gps=south_west)))
    assert photo.exif_lat == pytest.approx(-(33 + 52 / 60 + 4 / 3600), abs=1e-6)
    assert photo.exif_lon == pytest.approx(-(151 + 12 / 60 + 36 / 3600), abs=1e-6)
    zero = TiffImagePlugin.IFDRational(0, 0)  # a 0/0 rational: no fix
    broken = ("N", (zero, zero, zero), "E", (116, 0, 0))
    photo = process_photo(encode(scene(3, (400, 300)), "JPEG", exif=camera_exif(gps=broken)))
    assert (photo.exif_lat, photo.exif_lon) == (None, None)
    assert photo.exif_time is not None


# --- other formats and pixel modes ----------------------------------------------------------------


def test_png_with_alpha_is_flattened_on_white_and_not_enlarged() -> None:
    im = Image.new("RGBA", (600, 400), (0, 0, 0, 0))
    ImageDraw.Draw(im).rectangle((0, 0, 299, 399), fill=(0, 0, 255, 255))
    photo = process_photo(encode(im, "PNG"))
    assert (photo.width, photo.height) == (600, 400)
    full = assert_clean_jpeg(photo.full_jpeg)
    assert full.getpixel((450, 200)) >= (250, 250, 250)  # transparent → white, not black
    b = full.getpixel((150, 200))
    assert b[2] > 240 and b[0] < 15
    assert Image.open(io.BytesIO(photo.thumb_jpeg)).size == (320, 213)
    assert photo.exif_time is None


def test_webp() -> None:
    photo = process_photo(encode(scene(4, (2000, 1000)), "WEBP", quality=80, exif=camera_exif(orientation=8)))
    assert (photo.width, photo.height) == (800, 1600)
    assert photo.exif_time == datetime(2026, 10, 1, 1, 30, tzinfo=UTC)
    assert_clean_jpeg(photo.full_jpeg)


@HEIC
def test_heic_orientation_is_left_to_libheif() -> None:
    """In HEIF the irot/imir boxes rotate (libheif applies them) and EXIF orientation is informational:
    pillow_heif resets it to 1, so a file with only an EXIF orientation stays as stored, never turned twice."""
    data = encode(scene(5, (960, 640), band=True), "HEIF", quality=70, exif=camera_exif(orientation=6))
    photo = process_photo(data)
    assert (photo.width, photo.height) == (960, 640)
    assert photo.exif_time == datetime(2026, 10, 1, 1, 30, tzinfo=UTC)
    assert photo.exif_lat == pytest.approx(39.904, abs=1e-3)
    full = assert_clean_jpeg(photo.full_jpeg)
    top = full.getpixel((480, 5))
    assert top[0] > 180 and top[1] < 90, top


@pytest.mark.parametrize(
    ("im", "fmt", "params", "pixel"),
    [
        (Image.new("P", (300, 200), 0), "PNG", {"transparency": 0}, (255, 255, 255)),
        (Image.new("LA", (300, 200), (0, 0)), "PNG", {}, (255, 255, 255)),
        (Image.new("I;16", (300, 200), 32768), "PNG", {}, (128, 128, 128)),  # scaled, not clipped
        (Image.new("1", (300, 200), 1), "PNG", {}, (255, 255, 255)),
        (Image.new("L", (300, 200), 77), "JPEG", {}, (77, 77, 77)),
        (Image.new("CMYK", (300, 200), (0, 255, 255, 0)), "JPEG", {}, (254, 0, 0)),
    ],
    ids=["palette-transparent", "grey-alpha", "grey-16bit", "bilevel", "grey-jpeg", "cmyk-jpeg"],
)
def test_pixel_modes_become_rgb(im: Image.Image, fmt: str, params: dict, pixel: tuple[int, int, int]) -> None:
    photo = process_photo(encode(im, fmt, **params))
    full = assert_clean_jpeg(photo.full_jpeg)
    got = full.getpixel((150, 100))
    assert all(abs(a - b) <= 3 for a, b in zip(got, pixel, strict=True)), got


def test_trailing_bytes_after_the_image_are_not_kept() -> None:
    data = encode(scene(6, (800, 600)), "JPEG") + b"<html><script>alert(1)</script></html>"
    photo = process_photo(data)
    assert b"<script>" not in photo.full_jpeg and b"<script>" not in photo.thumb_jpeg


def test_phone_shrunk_upload_is_kept_at_its_size() -> None:
    photo = process_photo(encode(scene(7, (1600, 1200)), "JPEG", quality=85, exif=camera_exif(orientation=3)))
    assert (photo.width, photo.height) == (1600, 1200)
    assert photo.exif_time is not None


# --- refusals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        "就是一段文字，不是照片。".encode(),
        b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF",
        b"\xff\xd8\xff\xe0" + b"<html><script>alert(document.cookie)</script></html>",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        bytes(range(256)) * 8,
    ],
    ids=["text", "html", "svg", "pdf", "jpeg-html-polyglot", "png-signature-only", "random"],
)
def test_not_a_photo_is_415(data: bytes) -> None:
    with pytest.raises(PhotoError) as err:
        process_photo(data)
    assert err.value.status_code == 415
    assert "JPEG、PNG、WebP 或 HEIC" in err.value.message


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "AVIF"])
def test_other_image_formats_are_415(fmt: str) -> None:
    with pytest.raises(PhotoError) as err:
        process_photo(encode(scene(8, (200, 150)), fmt))
    assert err.value.status_code == 415


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", pytest.param("HEIF", marks=HEIC)])
def test_truncated_image_is_400(fmt: str) -> None:
    data = encode(scene(9, (800, 600)), fmt)
    with pytest.raises(PhotoError) as err:
        process_photo(data[: len(data) * 6 // 10])
    assert err.value.status_code == 400
    assert err.value.message == media.MSG_CORRUPT


def test_truncated_camera_jpeg_is_400(camera_jpeg: bytes) -> None:
    """Decoding at reduced scale (draft) still notices the missing tail."""
    with pytest.raises(PhotoError) as err:
        process_photo(camera_jpeg[: len(camera_jpeg) * 9 // 10])
    assert err.value.status_code == 400


def test_empty_body_is_400() -> None:
    with pytest.raises(PhotoError) as err:
        process_photo(b"")
    assert err.value.status_code == 400


def test_oversize_body_is_413_with_the_limit() -> None:
    with pytest.raises(PhotoError) as err:
        process_photo(b"\xff\xd8\xff" + bytes(20 * 1024 * 1024))
    assert err.value.status_code == 413
    assert "20 MB" in err.value.message
    with pytest.raises(PhotoError) as err:
        process_photo(encode(scene(10, (800, 600)), "PNG"), max_bytes=512 * 1024)
    assert err.value.status_code == 413 and "0.5 MB" in err.value.message


@pytest.mark.parametrize(
    ("data", "limit"),
    [
        (header_only_png(30000, 30000), 50_000_000),  # Pillow itself refuses this one while opening
        (header_only_png(8000, 8000), 50_000_000),  # 64 MP: over our limit, under Pillow's
        (encode(Image.new("RGB", (100, 100)), "PNG"), 5_000),
    ],
    ids=["pillow-bomb", "over-limit", "custom-limit"],
)
def test_too_many_pixels_is_400_before_decoding(data: bytes, limit: int) -> None:
    assert len(data) < 2000
    with pytest.raises(PhotoError) as err:
        process_photo(data, max_pixels=limit)
    assert err.value.status_code == 400
    assert "万像素" in err.value.message


@pytest.mark.parametrize("action", ["always", "error"])
def test_pillow_bomb_warning_becomes_400(action: str) -> None:
    """Between Pillow's warning and error limits (~89–179 MP): refused whatever the warnings filter says."""
    with warnings.catch_warnings(record=True):
        warnings.simplefilter(action, Image.DecompressionBombWarning)
        with pytest.raises(PhotoError) as err:
            process_photo(header_only_png(10_000, 10_000), max_pixels=500_000_000)
    assert err.value.status_code == 400
    assert "8948 万像素" in err.value.message


# --- perceptual hash --------------------------------------------------------------------------------


def test_dhash_survives_recompression_and_tells_photos_apart() -> None:
    original = scene(11, (3000, 2000))
    first = process_photo(encode(original, "JPEG", quality=92))
    resent = process_photo(encode(original.resize((1500, 1000)), "JPEG", quality=55))
    other = process_photo(encode(scene(12, (3000, 2000)), "JPEG", quality=92))
    assert len(first.dhash) == 16 and int(first.dhash, 16) >= 0
    assert hamming(first.dhash, resent.dhash) <= 6
    assert hamming(first.dhash, other.dhash) >= 15


def test_hamming() -> None:
    assert hamming("0" * 16, "0" * 16) == 0
    assert hamming("0" * 16, "f" * 16) == 64
    assert hamming("8000000000000001", "0000000000000000") == 2


# --- files ------------------------------------------------------------------------------------------

UUID = "3f2c1a9e-7b4d-4c2a-9e1f-0a1b2c3d4e5f"


@pytest.fixture(scope="module")
def small_photo() -> ProcessedPhoto:
    return process_photo(encode(scene(13, (900, 600)), "JPEG"))


def test_store_photo_writes_both_files(tmp_path: Path, small_photo: ProcessedPhoto) -> None:
    media.store_photo(tmp_path, UUID, small_photo)
    full, thumb = tmp_path / "3f" / f"{UUID}.jpg", tmp_path / "3f" / f"{UUID}_t.jpg"
    assert full.read_bytes() == small_photo.full_jpeg
    assert thumb.read_bytes() == small_photo.thumb_jpeg
    # and no temp files left behind
    assert sorted(p.name for p in (tmp_path / "3f").iterdir()) == sorted([full.name, thumb.name])
    assert photo_path(tmp_path, UUID) == full and photo_path(tmp_path, UUID, "thumb") == thumb
    assert photo_path(tmp_path, UUID.upper()) == full
    media.store_photo(tmp_path, UUID, small_photo)  # replacing is fine
    media.delete_photo_files(tmp_path, UUID)
    assert not full.exists() and not thumb.exists()
    media.delete_photo_files(tmp_path, UUID)  # and so is deleting twice


@pytest.mark.parametrize(
    "bad",
    ["../etc/passwd", "..", "", "ab", "3f/../../etc", "3f2c1a9e\\..\\x", "3f2c1a9e\n", "-f2c1a9e", "xyzxyz"],
)
def test_malformed_uuid_is_refused(tmp_path: Path, bad: str, small_photo: ProcessedPhoto) -> None:
    for call in (
        lambda: photo_path(tmp_path, bad),
        lambda: media.store_photo(tmp_path, bad, small_photo),
        lambda: media.delete_photo_files(tmp_path, bad),
    ):
        with pytest.raises(PhotoError) as err:
            call()
        assert err.value.status_code == 400
    assert list(tmp_path.iterdir()) == []


def test_photo_path_size() -> None:
    with pytest.raises(PhotoError):
        photo_path(Path("/srv/media"), UUID, "huge")
