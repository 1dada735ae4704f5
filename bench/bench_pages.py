"""Benchmark 5, page weight: the cadre's home page (今日) as a phone first downloads it, gzipped.

    .venv/bin/python bench/bench_pages.py

Seeds the demo county into a fresh SQLite file, logs in as ``cadre01`` (the cadre with the most targets
in the demo) and fetches ``/`` → ``/today`` and everything the page links: stylesheets, scripts, the
manifest and the service worker the outbox registers. Our own HTML + CSS + JS are counted gzipped
(level 6, as a reverse proxy would send them); vendored libraries (``/static/vendor``) are listed
apart. Baseline in the same run: the bare layout (the login page, same stylesheet and scripts).
Aim: our own bytes ≤ 30 KB.
"""

from __future__ import annotations

import asyncio
import gzip
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from bs4 import BeautifulSoup
from litestar.testing import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import machine  # noqa: E402
from server.app import create_app  # noqa: E402
from server.config import load_settings  # noqa: E402
from server.db import create_engine, migrate, session_maker  # noqa: E402
from server.demo.seed import DEMO_PASSWORD, seed_demo  # noqa: E402

AIM_KB = 30.0
EXTRA = ("/manifest.webmanifest", "/sw.js")  # fetched by the browser for every page (manifest, outbox SW)


def gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=6))


def assets(html: str) -> list[str]:
    soup = BeautifulSoup(html, "html.parser")
    urls = [tag["src"] for tag in soup.find_all("script", src=True)]
    urls += [tag["href"] for tag in soup.find_all("link", href=True) if "stylesheet" in (tag.get("rel") or [])]
    return [str(u) for u in urls if str(u).startswith("/")]


def weigh(client: TestClient, path: str) -> tuple[dict[str, int], dict[str, int]]:
    """({our url: gzipped bytes}, {vendor url: gzipped bytes}) for one page and what it loads."""
    page = client.get(path)
    page.raise_for_status()
    if path != "/login" and page.url.path == "/login":
        raise RuntimeError("not logged in")
    ours = {f"{path} (HTML)": gz(page.content)}
    vendor: dict[str, int] = {}
    for url in [*assets(page.text), *EXTRA]:
        body = client.get(url)
        if body.status_code != 200:
            continue
        (vendor if url.startswith("/static/vendor/") else ours)[url] = gz(body.content)
    return ours, vendor


async def seed(url: str) -> None:
    engine = create_engine(url)
    async with session_maker(engine)() as db:
        await seed_demo(db)
    await engine.dispose()


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="minqing-pages-"))
    url = f"sqlite+aiosqlite:///{work / 'demo.db'}"
    migrate(url)
    asyncio.run(seed(url))
    settings = replace(load_settings(), database_url=url, data_dir=work, media_dir=work / "media")
    print(machine())
    with TestClient(app=create_app(settings)) as client:
        bare, _ = weigh(client, "/login")
        token = client.cookies.get("minqing_csrf") or ""
        r = client.post("/login", data={"username": "cadre01", "password": DEMO_PASSWORD, "_csrf": token})
        r.raise_for_status()
        ours, vendor = weigh(client, "/today")
    for name, size in ours.items():
        print(f"  ours    {size / 1024:6.1f} KB  {name}")
    for name, size in vendor.items():
        print(f"  vendor  {size / 1024:6.1f} KB  {name}")
    total, base = sum(ours.values()) / 1024, sum(bare.values()) / 1024
    print(
        f"5. page weight, cadre home page (今日): our HTML+CSS+JS {total:.1f} KB gzipped (aim ≤ {AIM_KB:.0f} KB, "
        f"{total / AIM_KB:.2f} of it); vendored {sum(vendor.values()) / 1024:.1f} KB apart; "
        f"bare layout (login page) {base:.1f} KB; ratio {total / base:.2f}"
    )


if __name__ == "__main__":
    main()
