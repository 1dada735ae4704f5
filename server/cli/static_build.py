"""Copy the browser libraries pinned in package.json from node_modules into static/vendor, make icons."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

from PIL import Image, ImageDraw, ImageFont

from server.config import ROOT

# (file in node_modules, name under static/vendor)
VENDOR_FILES = [
    ("htmx.org/dist/htmx.min.js", "htmx.min.js"),
    ("leaflet/dist/leaflet.js", "leaflet/leaflet.js"),
    ("leaflet/dist/leaflet.css", "leaflet/leaflet.css"),
    ("leaflet/dist/images", "leaflet/images"),
    ("leaflet.markercluster/dist/leaflet.markercluster.js", "leaflet/leaflet.markercluster.js"),
    ("leaflet.markercluster/dist/MarkerCluster.css", "leaflet/MarkerCluster.css"),
    ("leaflet.markercluster/dist/MarkerCluster.Default.css", "leaflet/MarkerCluster.Default.css"),
    ("idb/build/umd.js", "idb.umd.js"),
]

FONT_CANDIDATES = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
]


def _icon(size: int) -> Image.Image:
    img = Image.new("RGB", (size, size), "#b71c1c")
    draw = ImageDraw.Draw(img)
    margin = size // 8
    draw.rounded_rectangle(
        [margin, margin, size - margin, size - margin], radius=size // 6, outline="#fff", width=max(2, size // 24)
    )
    text = "民"
    for path in FONT_CANDIDATES:
        try:
            font = ImageFont.truetype(path, int(size * 0.5))
            break
        except OSError:
            continue
    else:
        font = ImageFont.load_default(size=int(size * 0.5))
    box = draw.textbbox((0, 0), text, font=font)
    w, h = box[2] - box[0], box[3] - box[1]
    draw.text(((size - w) / 2 - box[0], (size - h) / 2 - box[1]), text, fill="#fff", font=font)
    return img


def build() -> Iterator[str]:
    modules = ROOT / "node_modules"
    vendor = ROOT / "static" / "vendor"
    if not modules.exists():
        raise SystemExit("缺少 node_modules：请先运行 npm ci（make static 会自动运行）。")
    vendor.mkdir(parents=True, exist_ok=True)
    for source, name in VENDOR_FILES:
        src, dst = modules / source, vendor / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copyfile(src, dst)
        yield f"static/vendor/{name}"
    icons = ROOT / "static" / "icons"
    icons.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        _icon(size).save(icons / f"icon-{size}.png", optimize=True)
        yield f"static/icons/icon-{size}.png"
