"""The installable shell: service worker, manifest, offline page, the 待同步 badge (docs/sync.md)."""

from __future__ import annotations

from litestar.testing import TestClient

from tests.conftest import login


def test_service_worker_manifest_offline_page(client: TestClient) -> None:
    sw = client.get("/sw.js")
    assert sw.status_code == 200
    assert sw.headers["service-worker-allowed"] == "/"
    assert sw.headers["cache-control"] == "no-cache"
    assert "javascript" in sw.headers["content-type"]
    assert "__VERSION__" not in sw.text and '"/static/js/outbox.js"' in sw.text
    manifest = client.get("/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    data = manifest.json()
    assert data["short_name"] == "民情通" and data["display"] == "standalone"
    assert {i["sizes"] for i in data["icons"]} == {"192x192", "512x512"}
    for icon in data["icons"]:
        assert client.get(icon["src"]).status_code == 200
    offline = client.get("/offline")
    assert offline.status_code == 200 and "当前没有网络" in offline.text
    assert client.get("/sync", follow_redirects=False).status_code in (302, 303, 307)


def test_badge_and_sync_page_for_the_cadre(client: TestClient) -> None:
    login(client, "cadre_a")
    for path in ("/today", "/diary", "/sync"):
        page = client.get(path)
        assert "data-outbox-badge" in page.text and "待同步" in page.text, path
    assert "立即同步" in client.get("/sync").text
    assert "data-quiet" not in client.get("/today").text


def test_the_badge_keeps_quiet_for_people_who_record_nothing(client: TestClient) -> None:
    """A supervisor records no visits: the badge shows only when the phone holds someone's records."""
    login(client, "super")
    page = client.get("/coverage")
    assert "data-outbox-badge" in page.text and "data-quiet" in page.text
