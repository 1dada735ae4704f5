"""Hostile uploads and hostile fields: each is refused with a 4xx and a Chinese message, never a 500, and
nothing is stored (no row, no file). Text that merely looks like XSS or SQL is data: it is stored as typed
and shown escaped."""

from __future__ import annotations

import io
import struct
import uuid
import zlib
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from PIL import Image

from server.config import Settings
from tests.conftest import bearer, login
from tests.factories import VILLAGE_A, World, jpeg_bytes
from tests.security.test_authz_matrix import scalar
from tests.test_visits import post_visit, visit_form


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def png_bomb(side: int = 20000) -> bytes:
    """A 400-megapixel 1-bit PNG that compresses to about 50 KB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + side // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header claims a huge size (decoders would allocate for it)."""
    data = bytearray(jpeg_bytes(64, 48))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


HOSTILE_UPLOADS: dict[str, tuple[bytes, str]] = {
    "png decompression bomb": (png_bomb(), "image/png"),
    "jpeg header claiming 60000x60000": (jpeg_claiming(60000, 60000), "image/jpeg"),
    "truncated jpeg": (jpeg_bytes(800, 600)[:4000], "image/jpeg"),
    "polyglot: jpeg magic then html": (
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00<html><script>alert(1)</script>",
        "image/jpeg",
    ),
    "svg with script": (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image/svg+xml"),
    "html as image": (b"<!doctype html><script>alert(document.cookie)</script>", "image/jpeg"),
    "empty body": (b"", "image/jpeg"),
}


def media_files(settings: Settings) -> list[Path]:
    root = Path(settings.media_dir)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def photo_rows(settings: Settings) -> int:
    return int(scalar(settings, "SELECT count(*) FROM photo"))


def visit_rows(settings: Settings) -> int:
    return int(scalar(settings, "SELECT count(*) FROM visit"))


@pytest.fixture
def api(client: TestClient) -> dict[str, str]:
    return bearer(client, "cadre_a")


@pytest.mark.parametrize("name", list(HOSTILE_UPLOADS))
def test_hostile_photo_upload_is_refused_and_nothing_stored(
    client: TestClient, api: dict[str, str], settings: Settings, name: str
) -> None:
    body, kind = HOSTILE_UPLOADS[name]
    response = client.put(f"/api/v1/photos/{uuid.uuid4()}", content=body, headers={**api, "Content-Type": kind})
    assert 400 <= response.status_code < 500, (name, response.status_code, response.text[:200])
    assert has_chinese(response.json()["error"])
    assert photo_rows(settings) == 0 and media_files(settings) == []


def test_jpeg_with_html_appended_is_stored_re_encoded_without_the_html(
    client: TestClient, api: dict[str, str], settings: Settings
) -> None:
    """A valid picture carrying a payload: kept as a picture, the payload does not survive re-encoding."""
    photo_uuid = str(uuid.uuid4())
    body = jpeg_bytes(320, 240) + b"<html><script>alert(1)</script></html>"
    response = client.put(f"/api/v1/photos/{photo_uuid}", content=body, headers={**api, "Content-Type": "image/jpeg"})
    assert response.status_code == 201, response.text
    files = media_files(settings)
    assert files and all(b"<script" not in f.read_bytes() for f in files)
    served = client.get(f"/photos/{photo_uuid}", headers=api)
    assert served.headers["content-type"].startswith("image/jpeg")
    assert served.headers.get("x-content-type-options") == "nosniff"


def test_a_200_mb_body_is_refused_before_it_is_stored(
    client: TestClient, api: dict[str, str], settings: Settings
) -> None:
    body = b"\xff\xd8\xff\xe0" + bytes(200 * 1024 * 1024)
    response = client.put(f"/api/v1/photos/{uuid.uuid4()}", content=body, headers={**api, "Content-Type": "image/jpeg"})
    del body
    assert response.status_code == 413, response.status_code
    assert has_chinese(response.json()["error"])
    assert photo_rows(settings) == 0 and media_files(settings) == []


@pytest.mark.parametrize("photo_id", ["../../etc/passwd", "..%2F..%2Fescape", "a/../../b", "C:\\x.jpg", "%00.jpg"])
def test_path_like_photo_ids_are_refused(
    client: TestClient, api: dict[str, str], settings: Settings, photo_id: str, tmp_path: Path
) -> None:
    response = client.put(f"/api/v1/photos/{photo_id}", content=jpeg_bytes(64, 48),
                          headers={**api, "Content-Type": "image/jpeg"})
    assert 400 <= response.status_code < 500, response.status_code
    assert photo_rows(settings) == 0 and media_files(settings) == []
    assert not list(tmp_path.parent.rglob("passwd")) and not list(tmp_path.parent.rglob("escape"))


def test_path_like_upload_filenames_are_ignored(client: TestClient, world: World, settings: Settings) -> None:
    """The web form: the browser's filename never reaches the disk; files are named by uuid."""
    login(client, "cadre_a")
    data = visit_form(client, world.targets["house_1"])
    files = [("photos", ("../../../../tmp/evil.jpg", jpeg_bytes(64, 48), "image/jpeg")),
             ("photos", ("..\\..\\evil2.jpg", jpeg_bytes(64, 48, color=(9, 9, 9)), "image/jpeg"))]
    response = client.post("/visits", data=data, files=files, follow_redirects=True)
    assert response.status_code == 200, response.text[:300]
    names = [p.name for p in media_files(settings)]
    assert names and not any("evil" in n for n in names)
    assert all(p.resolve().is_relative_to(Path(settings.media_dir).resolve()) for p in media_files(settings))


BAD_FIELDS: dict[str, dict[str, Any]] = {
    "latitude out of range": {"lat": 91.5},
    "longitude out of range": {"lon": -181},
    "NaN latitude (as a string)": {"lat": "NaN"},
    "infinite longitude": {"lon": "Infinity"},
    "year 9999": {"created_at": "9999-12-31T10:00:00+08:00", "visited_at": "9999-12-31T10:00:00+08:00"},
    "year 1": {"visited_at": "0001-01-01T10:00:00+08:00"},
    "1 MB of notes": {"notes": "长" * (1024 * 1024)},
    "SQL in an id": {"target_id": "1 OR 1=1"},
    "SQL in the uuid": {"uuid": "'; DROP TABLE visit; --"},
    "XSS in the uuid": {"uuid": "<script>alert(1)</script>"},
    "wrong type: topics as a string": {"topics": "家庭收入"},
    "wrong type: accuracy as an object": {"accuracy": {"$gt": 0}},
    "negative accuracy": {"accuracy": -5},
    "unknown visit type": {"visit_type": "teleport"},
    "no timezone": {"created_at": "2026-11-20T10:00:00"},
}


def sync_item(world: World, **changes: Any) -> dict[str, Any]:
    item = {"uuid": str(uuid.uuid4()), "kind": "visit", "created_at": "2026-11-20T10:00:00+08:00",
            "target_id": world.targets["house_1"], "lat": VILLAGE_A[0] + 0.001, "lon": VILLAGE_A[1],
            "accuracy": 10, "visit_type": "home", "notes": "走访", "topics": ["家庭收入"]}
    return item | changes


def test_hostile_sync_fields_are_rejected_item_by_item_and_nothing_stored(
    client: TestClient, api: dict[str, str], world: World, settings: Settings
) -> None:
    items = [sync_item(world, **changes) for changes in BAD_FIELDS.values()]
    response = client.post("/api/v1/sync", json={"items": items}, headers=api)
    assert response.status_code == 200, response.text[:300]
    results = response.json()["results"]
    for name, result in zip(BAD_FIELDS, results, strict=True):
        assert result["status"] == "rejected", (name, result)
        assert has_chinese(result["error"]), (name, result)
    assert visit_rows(settings) == 0


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"items": "nope"}', b"[]", b'{"items": [1, 2]}', b"NaN", b"\xff\xfe\x00garbage", b""],
    ids=["broken", "items-not-list", "array", "items-not-objects", "nan", "binary", "empty"],
)
def test_malformed_sync_bodies(client: TestClient, api: dict[str, str], settings: Settings, body: bytes) -> None:
    response = client.post("/api/v1/sync", content=body, headers={**api, "Content-Type": "application/json"})
    assert response.status_code < 500, response.text[:200]
    if response.status_code >= 400:
        assert has_chinese(response.json()["error"])
    else:  # a well-formed envelope with bad items: each item rejected with a reason
        assert all(r["status"] == "rejected" and has_chinese(r["error"]) for r in response.json()["results"])
    assert visit_rows(settings) == 0


FORM_FIELDS: dict[str, dict[str, Any]] = {
    "latitude out of range": {"lat": "95"},
    "NaN latitude": {"lat": "nan"},
    "infinite longitude": {"lon": "inf"},
    "year 9999": {"visited_at": "9999-12-31T10:00"},
    "garbage time": {"visited_at": "yesterday'; --"},
    "1 MB of notes": {"notes": "长" * (1024 * 1024)},
    "SQL in the target": {"target_id": "1 OR 1=1"},
    "XSS in the uuid": {"uuid": "<script>alert(1)</script>"},
    "unknown topic": {"topics": ["<img src=x onerror=alert(1)>"]},
}


@pytest.mark.parametrize("name", list(FORM_FIELDS))
def test_hostile_form_fields_are_refused(client: TestClient, world: World, settings: Settings, name: str) -> None:
    login(client, "cadre_a")
    data = visit_form(client, world.targets["house_1"])
    data.update(FORM_FIELDS[name])
    response = post_visit(client, data)
    assert 400 <= response.status_code < 500, (name, response.status_code)
    assert has_chinese(response.text)
    assert visit_rows(settings) == 0


def test_xss_and_sql_text_is_data_stored_verbatim_and_shown_escaped(
    client: TestClient, world: World, settings: Settings
) -> None:
    login(client, "cadre_a")
    notes = "<script>alert('x')</script> Robert'); DROP TABLE visit;-- 路灯"
    response = post_visit(client, visit_form(client, world.targets["house_1"], notes=notes))
    assert response.status_code == 200, response.text[:300]
    assert "<script>alert('x')</script>" not in response.text and "&lt;script&gt;" in response.text
    assert scalar(settings, "SELECT notes FROM visit") == notes
    assert visit_rows(settings) == 1


def test_unknown_paths_and_bad_path_values_are_404_not_500(client: TestClient) -> None:
    login(client, "cadre_a")
    for path in ("/no-such-page", "/visits/not-a-number", "/targets/99999999999999999999", "/api/v1/nothing"):
        response = client.get(path)
        assert response.status_code in (400, 404), (path, response.status_code)


def test_the_bomb_really_is_one(settings: Settings) -> None:
    """A guard against a test that cannot fail: 400 MP declared in 50 KB; Pillow alone refuses to open it."""
    bomb = png_bomb()
    width, height = struct.unpack(">II", bomb[16:24])
    assert width * height > settings.max_photo_pixels and len(bomb) < 200_000
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(bomb))
