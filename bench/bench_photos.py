"""Photo pipeline benchmark: server.media.process_photo against Pillow's plain full decode of the same bytes.

    .venv/bin/python bench/bench_photos.py [-n 20]

Two uploads: a 12 MP camera JPEG (4000×3000, quality 92, EXIF with GPS and orientation 6) and the
same photo as a phone shrinks it before upload (1600×1200, quality 85). The baseline is what any
handling of the upload costs at least: ``Image.open(io.BytesIO(b)).load()`` then ``convert("RGB")``.
Runs alternate baseline and pipeline so drift in machine speed hits both; medians are reported.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.media import process_photo  # noqa: E402


def camera_scene(size: tuple[int, int] = (4000, 3000), seed: int = 2026) -> Image.Image:
    """Sky-like gradients, blurred shapes with hard edges on top, and sensor noise."""
    rng = random.Random(seed)
    w, h = size
    im = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize(size),
            Image.radial_gradient("L").resize(size),
            Image.linear_gradient("L").rotate(90).resize(size),
        ),
    )
    draw = ImageDraw.Draw(im)
    for i in range(60):
        x, y = rng.randrange(w), rng.randrange(h)
        rw, rh = rng.randrange(w // 40, w // 6), rng.randrange(h // 40, h // 6)
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if i % 2 else draw.rectangle)((x - rw, y - rh, x + rw, y + rh), fill=colour)
        if i == 30:
            im = im.filter(ImageFilter.GaussianBlur(6))
            draw = ImageDraw.Draw(im)
    texture = Image.merge("RGB", [Image.effect_noise(size, 64) for _ in range(3)])
    return Image.blend(im, texture, 0.18)


def camera_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "Minqing", "Bench Phone", 6
    exif.get_ifd(0x8769).update({0x9003: "2026:10:01 09:30:00", 0x9011: "+08:00"})
    exif.get_ifd(0x8825).update({1: "N", 2: (39.0, 54.0, 15.12), 3: "E", 4: (116.0, 23.0, 29.4)})
    return exif


def jpeg(im: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, exif=camera_exif())
    return buf.getvalue()


def baseline(data: bytes) -> None:
    im = Image.open(io.BytesIO(data))
    im.load()
    im.convert("RGB")


def pipeline(data: bytes) -> None:
    process_photo(data)


def measure(data: bytes, n: int) -> tuple[list[float], list[float]]:
    runs: dict[Callable[[bytes], None], list[float]] = {baseline: [], pipeline: []}
    for fn in runs:  # warm-up: imports, plugin registration, caches
        fn(data)
    for _ in range(n):
        for fn, times in runs.items():
            start = time.perf_counter()
            fn(data)
            times.append((time.perf_counter() - start) * 1000)
    return runs[baseline], runs[pipeline]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"nproc {os.cpu_count()}, {cpu}, Python {platform.python_version()}, Pillow {Image.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="timed runs per case (default 20)")
    args = parser.parse_args()

    scene = camera_scene()
    cases = {
        "12 MP camera JPEG 4000×3000 q92": jpeg(scene, 92),
        "phone-shrunk JPEG 1600×1200 q85": jpeg(scene.resize((1600, 1200), Image.Resampling.LANCZOS), 85),
    }
    print(machine())
    print(f"{args.n} runs per case, median (min) ms per photo\n")
    print(f"{'upload':34} {'size':>8} {'baseline':>16} {'process_photo':>16} {'ratio':>6}")
    for name, data in cases.items():
        base, pipe = measure(data, args.n)
        b, p = statistics.median(base), statistics.median(pipe)
        photo = process_photo(data)
        print(
            f"{name:34} {len(data) / 1e6:6.2f}MB {b:8.1f} ({min(base):5.1f}) {p:8.1f} ({min(pipe):5.1f})"
            f" {p / b:5.2f}×   → {photo.width}×{photo.height} {len(photo.full_jpeg) // 1024} KB"
            f" + thumb {len(photo.thumb_jpeg) // 1024} KB"
        )


if __name__ == "__main__":
    main()
