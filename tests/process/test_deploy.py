"""A Procfile platform's build, by hand: the committed tree, a venv from requirements.txt, the Procfile.

What a Python buildpack does: it takes the pushed commit (no untracked files, no .venv), installs the root
`requirements.txt` into a new environment, and runs the Procfile's `web` line with `PORT` set. The slug
(app plus installed packages) must fit in 500 MB.
"""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

from harness.processes import ROOT, free_port
from harness.quickdraw import drawings

SLUG_LIMIT_MB = 500


def folder_mb(path: Path) -> float:
    """Return the size of the files under `path`, in MB."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def web_command() -> str:
    """Return the Procfile's `web` command."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        kind, _, command = line.partition(":")
        if kind.strip() == "web":
            return command.strip()
    raise AssertionError("the Procfile has no web process")


def test_a_buildpack_style_deploy_serves_right_guesses(tmp_path: Path) -> None:
    record = drawings("fish")[22]  # held out by the trainer
    app = tmp_path / "app"
    app.mkdir()
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(app, filter="data")
    assert (app / "requirements.txt").is_file() and (app / ".python-version").read_text().strip() == "3.11"
    assert json.loads((app / "app.json").read_text())["formation"]["web"]["quantity"] >= 1

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", "requirements.txt"],
        cwd=app,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    installed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True
    ).stdout
    assert "tensorflow" not in installed.lower()
    slug_mb = folder_mb(app) + folder_mb(venv)
    print(f"\nslug: app {folder_mb(app):.1f} MB + packages {folder_mb(venv):.1f} MB = {slug_mb:.1f} MB")
    assert slug_mb < SLUG_LIMIT_MB

    port = free_port()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "PORT": str(port), "HOME": str(tmp_path)}
    log = tmp_path / "web.log"
    with open(log, "wb") as out:
        web = subprocess.Popen(
            shlex.split(web_command()), cwd=app, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        url = f"http://127.0.0.1:{port}"
        health = None
        deadline = time.monotonic() + 60
        while health is None and time.monotonic() < deadline:
            assert web.poll() is None, log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                    health = json.load(response)
            except OSError:
                time.sleep(0.2)
        assert health is not None and health["status"] == "ok", log.read_text()[-3000:]
        request = urllib.request.Request(
            url + "/api/predict",
            data=json.dumps({"strokes": record["drawing"]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["top"][0]["label"] == "fish"
    finally:
        web.terminate()
        web.wait(timeout=15)
    assert "Traceback" not in log.read_text()
    assert "--port" not in web_command()  # the port came from PORT, as the platform sets it
