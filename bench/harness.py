"""Shared by the benchmark scripts: the machine line, percentiles, a real server process, a county DB."""

from __future__ import annotations

import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{platform.system()} {platform.release()}"
    )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def county_copy(source: Path, dest: Path, households: int = 150_000, visits: int = 2_000_000) -> Path:
    """A private, migrated copy of the county database (built by bench/county.py first if missing)."""
    if not source.exists():
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "county.py"),
                "--db",
                str(source),
                "--households",
                str(households),
                "--visits",
                str(visits),
            ],
            check=True,
        )
    for suffix in ("", "-wal", "-shm"):
        Path(f"{dest}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source, dest)
    from server.db import migrate

    migrate(f"sqlite+aiosqlite:///{dest}")  # as `serve` would: a county built before a migration gets it
    os.sync()  # write the 1.4 GB copy out now, not while the measured runs read it
    return dest


class Server:
    """`python -m uvicorn server.asgi:app` on a free port, on the given database (``loop``/``http``: uvicorn's
    choice, "auto" takes uvloop and httptools, which are dependencies; "asyncio"/"h11" for a comparison)."""

    def __init__(
        self,
        database_url: str,
        data_dir: Path,
        extra_env: dict[str, str] | None = None,
        workers: int = 1,
        loop: str = "auto",
        http: str = "auto",
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(
            os.environ,
            MINQING_DATABASE_URL=database_url,
            MINQING_DATA_DIR=str(data_dir),
            MINQING_SECRET_KEY="bench",
            MINQING_DEMO_MODE="false",
            **(extra_env or {}),
        )
        self.log = open(data_dir / "server.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "server.asgi:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
                "--workers",
                str(workers),
                "--loop",
                loop,
                "--http",
                http,
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited; see {self.log.name}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("server did not start")

    def token(self, username: str, password: str) -> dict[str, str]:
        r = httpx.post(f"{self.url}/api/v1/auth/token", json={"username": username, "password": password}, timeout=30)
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server and its worker processes."""
        tick = os.sysconf("SC_CLK_TCK")
        pids = [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / tick

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()
