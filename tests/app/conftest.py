"""The web app running on a free port, and a headless Chromium page on it (the system's Chromium: no
browser is ever downloaded). Tests here skip with one line where the app's extra (pip install -e .[app]),
playwright or Chromium is missing."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# software WebGL (SwiftShader) in a headless browser without a GPU
CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]
# small enough for a test on 2 CPU cores: the page and the files are the same at any size
FAST = ["--frames", "8", "--fps", "8", "--mesh-res", "48", "--faces", "4000", "--texture-size", "64", "--samples", "8",
        "--res", "64", "--refine-steps", "2"]
MAX_UPLOAD_MB = 0.05
START_SECONDS = 180


def chromium() -> str:
    """The system Chromium ($CHROMIUM, else the first of CHROMIUM_NAMES on PATH); skips without one."""
    found = os.environ.get("CHROMIUM") or next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    if not found:
        pytest.skip("no Chromium (Debian/Ubuntu: apt-get install chromium; or set $CHROMIUM)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """http://127.0.0.1:PORT of `python -m _scripts.app` on the released model, with the FAST settings."""
    for module in ("starlette", "uvicorn", "multipart"):
        pytest.importorskip(module, reason="the web app's extra is not installed (pip install -e .[app])")
    log = tmp_path_factory.mktemp("app") / "app.log"
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"), PYTHONUNBUFFERED="1")
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "_scripts.app", "--port", str(port), *FAST,
                                 "--max-upload-mb", str(MAX_UPLOAD_MB)], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + START_SECONDS
        while True:
            try:
                urllib.request.urlopen(url + "/api/examples", timeout=5).read()
                break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, f"the app did not start:\n{log.read_text()[-3000:]}"
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    """Chromium through playwright's sync API for this module only: a sync playwright left running holds an
    asyncio loop, and any later sync_playwright in the session (the avatar check's) would refuse to start."""
    path = chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.goto(app_url)
    yield page
    context.close()
