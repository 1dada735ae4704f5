"""The installable app shell: the service worker's source (stamped with a version derived from the
files it precaches, so any change to them installs a new worker with new caches) and the manifest."""

from __future__ import annotations

import hashlib
import json
import os

from server.config import ROOT

STATIC = ROOT / "static"

# Precached by the service worker (the app shell). Vendored files are listed when the build made them.
SHELL_FILES = [
    "css/app.css",
    "js/app.js",
    "js/outbox-core.js",
    "js/outbox.js",
    "vendor/htmx.min.js",
    "vendor/idb.umd.js",
    "vendor/leaflet/leaflet.js",
    "vendor/leaflet/leaflet.css",
    "icons/icon-192.png",
    "icons/icon-512.png",
]
SHELL_PAGES = ["/offline", "/manifest.webmanifest"]

MANIFEST = {
    "name": "民情通 · 干部走访",
    "short_name": "民情通",
    "description": "干部下基层走访、签到、登记群众诉求；没有信号也能记录，联网后自动同步。",
    "lang": "zh-CN",
    "start_url": "/today",
    "scope": "/",
    "display": "standalone",
    "orientation": "portrait",
    "background_color": "#ffffff",
    "theme_color": "#b71c1c",
    "icons": [
        {"src": "/static/icons/icon-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any maskable"},
        {"src": "/static/icons/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any maskable"},
    ],
}


def shell_urls() -> list[str]:
    return [f"/static/{name}" for name in SHELL_FILES if (STATIC / name).is_file()] + SHELL_PAGES


def service_worker_source() -> bytes:
    """static/sw.js with its version and precache list filled in."""
    source = (STATIC / "sw.js").read_bytes()
    digest = hashlib.sha256(source)
    for name in SHELL_FILES:
        path = STATIC / name
        if path.is_file():
            digest.update(name.encode())
            digest.update(path.read_bytes())
    for template in ("base.html", "sync/offline.html", "sync/index.html"):
        digest.update((ROOT / "templates" / template).read_bytes())
    digest.update(os.environ.get("MINQING_BUILD", "").encode())  # a deploy may force new caches
    version = digest.hexdigest()[:12]
    source = source.replace(b'"__VERSION__"', json.dumps(version).encode())
    return source.replace(b'["__PRECACHE__"]', json.dumps(shell_urls()).encode())
