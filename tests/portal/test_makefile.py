"""`make test` on a fresh machine: Chromium (for the browser tests) is installed from
Debian's packages when it is missing and the user may install; otherwise make stops
before the suite runs and prints the command to run. apt-get, id and sudo are stand-ins
on PATH here, recording what they were asked."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make")

pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def fake_bin(tmp_path: Path, *, uid: int, sudo: bool | None, apt: bool = True) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    scripts = {"id": f"echo {uid}"}
    if apt:
        # "Installs" Chromium by putting an executable where the next lookup finds it.
        scripts["apt-get"] = (
            f'echo "apt-get $*" >> {log}\n'
            f'case "$1" in install) printf "#!/bin/sh\\n" > {bin_dir}/fake-chromium; '
            f"chmod +x {bin_dir}/fake-chromium;; esac"
        )
    if sudo is not None:
        scripts["sudo"] = (
            'if [ "$1" = "-n" ]; then exit ' + ("0" if sudo else "1") + "; fi\n"
            f'echo "sudo $*" >> {log}\n"$@"'
        )
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    return bin_dir


def make_chromium(bin_dir: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "WHARF_CHROMIUM"}
    # Only the stand-ins and the basic tools: no real Chromium, apt-get or sudo.
    tools = bin_dir.parent / "tools"
    tools.mkdir(exist_ok=True)
    for tool in ("sh", "echo", "printf", "chmod", "cat"):
        real = shutil.which(tool)
        if real and not (tools / tool).exists():
            (tools / tool).symlink_to(real)
    env["PATH"] = f"{bin_dir}:{tools}"
    return subprocess.run(
        [MAKE, "-s", "chromium", "CHROMIUM_PATHS=fake-chromium", "SHELL=" + shutil.which("sh")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_without_the_right_to_install_make_stops_with_the_command_to_run(tmp_path):
    result = make_chromium(fake_bin(tmp_path, uid=1000, sudo=False))
    assert result.returncode != 0
    assert "sudo apt-get update && sudo apt-get install -y chromium" in result.stdout
    assert not (tmp_path / "calls.log").exists()


def test_root_installs_debians_chromium(tmp_path):
    result = make_chromium(fake_bin(tmp_path, uid=0, sudo=None))
    assert result.returncode == 0, result.stdout + result.stderr
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert calls == ["apt-get update", "apt-get install -y chromium"]


def test_passwordless_sudo_installs_with_sudo(tmp_path):
    result = make_chromium(fake_bin(tmp_path, uid=1000, sudo=True))
    assert result.returncode == 0, result.stdout + result.stderr
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert calls == [
        "sudo apt-get update",
        "apt-get update",
        "sudo apt-get install -y chromium",
        "apt-get install -y chromium",
    ]


def test_a_chromium_already_there_installs_nothing(tmp_path):
    bin_dir = fake_bin(tmp_path, uid=0, sudo=None)
    (bin_dir / "fake-chromium").write_text("#!/bin/sh\n")
    (bin_dir / "fake-chromium").chmod(0o755)
    result = make_chromium(bin_dir)
    assert result.returncode == 0
    assert not (tmp_path / "calls.log").exists()


def test_make_test_checks_chromium_before_the_suite():
    makefile = (ROOT / "Makefile").read_text()
    assert "\ntest: venv chromium\n" in makefile
