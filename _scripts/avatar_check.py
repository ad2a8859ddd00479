"""Check an avatar with the tools its users have: the Khronos glTF validator and three-vrm in Chromium.

\b
    python -m _scripts.avatar_check AVATAR.vrm [MORE.glb ...] [--posed OUT.png] [--size 512]

Each file goes through the Khronos glTF validator (npm 'gltf-validator', run by node); a .vrm is
also loaded by @pixiv/three-vrm + three.js in headless Chromium, and with --posed the rest pose and a
pose (arms 60 degrees down, head turned 30 degrees) are written side by side to OUT.png (whole or not
at all).

Nothing is downloaded into the repository and no browser is ever downloaded: the npm packages
(NPM_PACKAGES) are installed on first use into $NOVA3D_NPM_CACHE (default ~/.cache/nova3d-npm) from
the npm registry, and playwright drives the system's Chromium (Debian/Ubuntu: apt-get install
chromium; or set $CHROMIUM to a Chromium/Chrome binary). Exit codes as every command's
(_scripts/errors.py): 0 when every file passes; 1 when the validator reports an error, three-vrm cannot
load a file, or node, npm or Chromium is missing (one 'error: ...' line saying how to get it, like a
renderer that cannot start); 2 for a bad command line (a missing file, a --posed that cannot be written).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from io import BytesIO
from pathlib import Path

import click
import numpy as np
from PIL import Image

from _scripts.errors import FAILED, OK, OneLineErrors, print_error_lines, writable_folder
from dnnlib.files import atomic_path, write_text_atomic

NPM_PACKAGES = ("three@0.187.0", "@pixiv/three-vrm@3.5.5", "gltf-validator@2.0.0-dev.3.10")
WEB = Path(__file__).resolve().parent / "web"
ORIGIN = "http://avatar.local"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# software WebGL (SwiftShader) in a headless browser without a GPU
CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]
POSE = (60.0, 30.0)  # arms down, head turned (degrees)


class Unavailable(RuntimeError):
    """A tool is missing; the message is one line saying which and how to get it."""


def npm_cache() -> Path:
    return Path(os.environ.get("NOVA3D_NPM_CACHE", Path.home() / ".cache" / "nova3d-npm"))


def npm_packages(cache: Path | None = None) -> Path:
    """The node_modules folder holding NPM_PACKAGES, installed there first if any is missing."""
    cache = cache or npm_cache()
    modules = cache / "node_modules"
    stamp = cache / "nova3d-packages.txt"
    if stamp.is_file() and stamp.read_text().split() == list(NPM_PACKAGES) and modules.is_dir():
        return modules
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise Unavailable("node and npm are not installed (Debian/Ubuntu: apt-get install nodejs npm)")
    cache.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["npm", "install", "--prefix", str(cache), "--no-audit", "--no-fund", "--no-save",
                           *NPM_PACKAGES], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise Unavailable(f"npm could not install {' '.join(NPM_PACKAGES)} into {cache} ({reason})")
    write_text_atomic(stamp, "\n".join(NPM_PACKAGES) + "\n")
    return modules


def validate(path: Path, modules: Path | None = None) -> dict:
    """The Khronos validator's report on a .glb/.vrm: {'errors', 'warnings', 'infos', 'messages'}."""
    modules = modules or npm_packages()
    done = subprocess.run(["node", str(WEB / "validate.cjs"), str(path)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "NODE_PATH": str(modules)})
    if done.returncode != 0:
        raise RuntimeError(f"{path}: the glTF validator failed ({done.stderr.strip()[-300:]})")
    return json.loads(done.stdout)


def chromium() -> str:
    """The system Chromium's path ($CHROMIUM, else the first of CHROMIUM_NAMES on PATH)."""
    found = os.environ.get("CHROMIUM") or next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    if not found:
        raise Unavailable("no Chromium found (Debian/Ubuntu: apt-get install chromium; or set $CHROMIUM)")
    return found


def _content_type(path: str) -> str:
    return {".js": "text/javascript", ".mjs": "text/javascript", ".html": "text/html",
            ".json": "application/json"}.get(Path(path).suffix, "application/octet-stream")


def pose_screenshots(vrm: Path, poses: list[tuple[float, float]], size: int = 512,
                     modules: Path | None = None) -> tuple[list[np.ndarray], dict]:
    """RGB screenshots (size, size, 3) of the avatar in each (arms down, head turn) pose, front view,
    orthographic, white background; and what three-vrm read (its meta version and humanoid bones)."""
    modules = modules or npm_packages()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise Unavailable("the playwright Python package is not installed (pip install playwright)") from None
    files = {"/pose.html": WEB / "pose.html", "/avatar.vrm": Path(vrm)}

    def serve(route) -> None:
        path = route.request.url[len(ORIGIN):].split("?")[0]
        local = files.get(path) or (modules / path[len("/npm/"):] if path.startswith("/npm/") else None)
        if local is None or not local.is_file():
            route.fulfill(status=404, body="not found")
        else:
            route.fulfill(status=200, body=local.read_bytes(), headers={"Content-Type": _content_type(str(local))})

    shots = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": size, "height": size})
            page.route(f"{ORIGIN}/**", serve)
            page.goto(f"{ORIGIN}/pose.html?size={size}")
            page.wait_for_function("window.status_ !== 'loading'", timeout=120_000)
            status = page.evaluate("window.status_")
            if status != "ready":
                raise RuntimeError(f"{vrm}: three-vrm could not load it ({status})")
            info = page.evaluate("window.vrmInfo")
            for arms, head in poses:
                page.evaluate(f"window.pose({arms}, {head})")
                shot = page.locator("canvas").screenshot()
                with Image.open(BytesIO(shot)) as im:
                    shots.append(np.asarray(im.convert("RGB")))
        finally:
            browser.close()
    return shots, info


@click.command(cls=OneLineErrors, help=__doc__)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--posed", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write the first .vrm's rest pose and the test pose side by side to this PNG")
@click.option("--size", type=click.IntRange(min=64), default=512, help="screenshot size in pixels (default 512)")
def main(files: tuple[Path, ...], posed: Path | None, size: int) -> int:
    if posed is not None:
        writable_folder(posed.parent, "--posed")  # before the tools are installed or run
    failed = False
    try:
        modules = npm_packages()
        for path in files:
            report = validate(path, modules)
            failed |= report["errors"] > 0
            click.echo(f"{path}: glTF validator: {report['errors']} errors, {report['warnings']} warnings, "
                       f"{report['infos']} infos")
            for message in report["messages"]:
                click.echo(f"    {message['code']} {message.get('pointer', '')}: {message['message']}")
        vrms = [p for p in files if p.suffix.lower() == ".vrm"]
        for k, path in enumerate(vrms):
            shots, info = pose_screenshots(path, [(0.0, 0.0), POSE], size, modules)
            click.echo(f"{path}: three-vrm read VRM {info['version']} with {len(info['bones'])} humanoid bones")
            if posed is not None and k == 0:
                posed.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(posed) as tmp:
                    Image.fromarray(np.concatenate(shots, 1)).save(tmp)
                click.echo(f"wrote {posed}")
    except RuntimeError as exc:  # Unavailable, a validator that failed, a file three-vrm cannot load
        print_error_lines([str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__])
        return FAILED
    return FAILED if failed else OK


if __name__ == "__main__":
    main()
