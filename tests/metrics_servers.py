"""Real Prometheus and VictoriaMetrics servers on loopback, for the prometheus source tests.

Both are the Debian packages (``make metrics-servers`` installs them). Neither can listen on
port 0 and report the port it got, so a free port is found by binding a socket first; the
server gets its own data directory, readiness is polled, and the process is killed (by its
own pid) when the test session ends. Data is loaded before Prometheus starts (promtool
backfill into its data directory) and through the import API for VictoriaMetrics.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
VICTORIA = shutil.which("victoria-metrics")
MISSING_PROMETHEUS = ("Debian's prometheus package is not installed (prometheus/promtool not on PATH): "
                      "run `make metrics-servers` as root")
MISSING_VICTORIA = ("Debian's victoria-metrics package is not installed (victoria-metrics not on PATH): "
                    "run `make metrics-servers` as root")


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGTERM it when the test process dies (no orphans)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port() -> int:
    """A loopback port that was free a moment ago (the server binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running server: its base URL and process."""

    kind: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """Kill this server (its own pid only) and wait for it."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)


def _wait_ready(server: Server, path: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.kind} exited ({server.proc.returncode}): "
                               f"{server.log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(server.url + path, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{server.kind} not ready after {timeout}s: {server.log.read_text(errors='replace')[-2000:]}")


def start_prometheus(data_dir: Path, flags: Sequence[str] = ()) -> Server:
    """Prometheus on a free loopback port over ``data_dir`` (backfilled blocks), no scraping."""
    assert PROMETHEUS, MISSING_PROMETHEUS
    data_dir.mkdir(parents=True, exist_ok=True)
    cfg = data_dir.parent / f"{data_dir.name}.yml"
    cfg.write_text("global:\n  scrape_interval: 1m\nscrape_configs: []\n")
    port = free_port()
    log = data_dir.parent / f"{data_dir.name}.log"
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={data_dir}",
         f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=100y",
         "--log.level=warn", *flags],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=data_dir.parent,
        preexec_fn=_die_with_parent,
        env={**os.environ, "GOMAXPROCS": "1"})
    server = Server("prometheus", f"http://127.0.0.1:{port}", proc, log)
    _wait_ready(server, "/-/ready")
    return server


def start_victoria(data_dir: Path, flags: Sequence[str] = (), *, port: int | None = None,
                   die_with_parent: bool = True) -> Server:
    """VictoriaMetrics (single node) on a free loopback port (or ``port``) with its own ``data_dir``."""
    assert VICTORIA, MISSING_VICTORIA
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = data_dir.parent / f"{data_dir.name}.log"
    proc = subprocess.Popen(
        [VICTORIA, f"-storageDataPath={data_dir}", f"-httpListenAddr=127.0.0.1:{port}",
         "-retentionPeriod=100y", "-search.disableCache", "-search.latencyOffset=0s",
         "-loggerLevel=ERROR", *flags],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=data_dir.parent,
        preexec_fn=_die_with_parent if die_with_parent else None,
        env={**os.environ, "GOMAXPROCS": "1"})
    server = Server("victoria-metrics", f"http://127.0.0.1:{port}", proc, log)
    _wait_ready(server, "/health")
    return server
