"""A real server process (uvicorn) on a free port and a real browser (Debian's /usr/bin/chromium via
Playwright) for the tests that only a browser can show. Never `playwright install`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from server.config import ROOT, Settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    """One uvicorn process serving the app on the test's database; can be killed and restarted."""

    settings: Settings
    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            MINQING_DATABASE_URL=self.settings.database_url,
            MINQING_MEDIA_DIR=str(self.settings.media_dir),
            MINQING_DATA_DIR=str(self.settings.data_dir),
            MINQING_SECRET_KEY="test-secret",
        )
        return env

    def start(self, timeout: float = 30.0) -> LiveServer:
        log = open(Path(self.settings.data_dir) / f"server-{self.port}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "server.asgi:app", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "warning"],
            cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; see {log.name}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not start in time")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flushing: what a power cut or OOM kill looks like."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def live_server(settings: Settings, world: object) -> Iterator[LiveServer]:
    server = LiveServer(settings, free_port()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (it installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def phone(browser, live_server: LiveServer) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A 390×844 phone context with geolocation granted (at 东风村 by default) and service workers allowed."""
    from tests.factories import VILLAGE_A

    context = browser.new_context(
        **PHONE,
        base_url=live_server.url,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        geolocation={"latitude": VILLAGE_A[0], "longitude": VILLAGE_A[1], "accuracy": 15},
        permissions=["geolocation"],
        service_workers="allow",
    )
    context.set_default_timeout(15000)
    try:
        yield context
    finally:
        context.close()


def browser_login(page, username: str, password: str = "secret-pass-1") -> None:  # type: ignore[no-untyped-def]
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
