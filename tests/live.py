"""A real `voxbase serve` process for tests that need one (end to end, schemathesis)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.mail import free_port


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def server_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXBASE_")}
    env.update(
        VOXBASE_DATABASE_URL=database_url,
        VOXBASE_DATA_DIR=str(data_dir),
        VOXBASE_EMBEDDED_WORKER="false",
        VOXBASE_EMAIL_BACKEND="log",
        VOXBASE_ARGON2_TIME_COST="1",
        VOXBASE_ARGON2_MEMORY_KIB="1024",
        VOXBASE_LOG_LEVEL="WARNING",
        VOXBASE_LOGIN_LIMIT_PER_IP="100000/minute",
        VOXBASE_LOGIN_LIMIT_PER_ACCOUNT="100000/minute",
        VOXBASE_REGISTER_LIMIT_PER_IP="100000/minute",
        VOXBASE_RESET_LIMIT_PER_IP="100000/minute",
        **extra,
    )
    return env


def voxbase(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voxbase", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def start_server(env: dict[str, str], timeout: float = 180.0) -> LiveServer:
    """Start `voxbase serve`; its log goes to serve.log in the data directory (a pipe nobody
    reads would fill up and stall the server)."""
    port = free_port()
    log_path = Path(env["VOXBASE_DATA_DIR"]) / "serve.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "voxbase", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"voxbase serve exited with {process.returncode}: {log_path.read_text()}"
            )
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return LiveServer(url, process, env, log_path)
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("voxbase serve did not become healthy in time")
