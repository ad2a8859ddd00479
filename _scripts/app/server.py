"""The web app's HTTP side: the page, the framing previews, jobs and their files (a starlette app that
_scripts/app/__main__.py serves with uvicorn).

Uploads are checked as reconstruct checks its images (training/infer/reconstruct.py's prepare_pair:
unreadable, empty or tiny images fail with one line naming the file) before a job is queued, so a bad
image is reported at once; each image is limited to max_upload bytes.
"""
from __future__ import annotations

import base64
import io
import re
import shutil
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from _scripts.app.jobs import Job, JobQueue, stage_shares
from training.data.preprocess import prepare_image
from training.infer.export import OutputOptions
from training.infer.load import LoadedGenerator
from training.infer.reconstruct import drawing_size, prepare_pair, reconstruct_character
from training.infer.refine import RefineSettings

WEB = Path(__file__).resolve().parent / "web"
EXAMPLES = Path(__file__).resolve().parents[2] / "_data" / "examples"
SIDES = ("front", "back")
ORTHO = tuple(f"ortho_{v}.png" for v in ("front", "back", "left", "right"))
VIEWS_ZIP = "views.zip"


class BadUpload(ValueError):
    """An upload the app cannot use; the message is the one line the page shows."""


@dataclass
class AppConfig:
    """What every job is reconstructed with, where jobs live and how large an upload may be."""

    loaded: LoadedGenerator
    preset: str
    outputs: OutputOptions
    workdir: Path
    max_upload: int
    """Bytes per image."""
    refine: RefineSettings = RefineSettings()
    """The fit of each job's planes to its two drawings."""
    examples: Path = EXAMPLES


def read_examples(folder: Path) -> dict[str, tuple[Path, Path]]:
    """The bundled examples of folder/pairs.txt ('FRONT BACK NAME' lines): name -> (front, back)."""
    examples = {}
    for line in (folder / "pairs.txt").read_text().splitlines():
        fields = line.split()
        if len(fields) == 3 and not fields[0].startswith("#"):
            examples[fields[2]] = (folder / fields[0], folder / fields[1])
    return examples


def safe_name(name: str) -> str:
    """An uploaded file's name reduced to a harmless file name (it appears in error lines)."""
    return re.sub(r"[^\w.\-]+", "_", Path(name or "upload").name).lstrip(".")[:80] or "upload"


def error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def build_app(config: AppConfig) -> Starlette:
    """The starlette app: / (the page), /static/*, /api/examples, /api/preview, /api/jobs, /jobs/ID/FILE."""
    jobs = JobQueue(config.workdir / "jobs", stages=stage_shares(config.refine.steps > 0))
    examples = read_examples(config.examples)
    size = drawing_size(config.loaded)
    limit_mb = f"{config.max_upload / 2 ** 20:.3g} MB"

    async def side_image(form: FormData, key: str, side: str, folder: Path) -> Path:
        """The image a form gives for one side: an upload (saved into folder) or a bundled example."""
        example = form.get(f"{key}_example")
        if example:
            if example not in examples:
                raise BadUpload(f"no bundled example named {example!r}")
            return examples[example][SIDES.index(side)]
        upload = form.get(key)
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise BadUpload(f"no {side} image: drop one, or pick an example")
        data = await upload.read(config.max_upload + 1)
        if len(data) > config.max_upload:
            raise BadUpload(f"{safe_name(upload.filename)}: larger than the {limit_mb} upload limit")
        path = folder / side / safe_name(upload.filename)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    async def read_form(request: Request) -> FormData:
        if int(request.headers.get("content-length") or 0) > 2 * config.max_upload + 2 ** 16:
            raise BadUpload(f"upload too large: at most {limit_mb} per image")
        try:
            return await request.form(max_files=2, max_fields=8)
        except Exception as exc:  # noqa: BLE001 - starlette's MultiPartException and parser errors
            raise BadUpload(f"not a form upload ({exc})") from None

    def one_line(exc: ValueError, folder: Path) -> str:
        """The image check's message, the upload folder dropped from its paths."""
        return str(exc).splitlines()[0].replace(f"{folder}/front/", "").replace(f"{folder}/back/", "")

    async def page(request: Request) -> Response:
        return FileResponse(WEB / "index.html")

    async def example_list(request: Request) -> Response:
        return JSONResponse([{"name": name, "front": f"/examples/{f.name}", "back": f"/examples/{b.name}"}
                             for name, (f, b) in examples.items()])

    async def example_file(request: Request) -> Response:
        files = {p.name: p for pair in examples.values() for p in pair}
        path = files.get(request.path_params["name"])
        return FileResponse(path) if path else error("no such example image", 404)

    async def preview(request: Request) -> Response:
        """The image as the model will see it (background removed, framed, resized), or the error line."""
        _, folder = jobs.new_folder()
        try:
            form = await read_form(request)
            side = form.get("side") if form.get("side") in SIDES else "front"
            path = await side_image(form, "image", side, folder)
            framed = await run_in_threadpool(prepare_image, path, config.preset, size)
        except BadUpload as exc:
            return error(str(exc))
        except ValueError as exc:  # ImageError: unreadable, empty, tiny
            return error(one_line(exc, folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        buffer = io.BytesIO()
        framed.save(buffer, format="PNG")
        return JSONResponse({"preview": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()})

    async def submit(request: Request) -> Response:
        """Check both images and queue the job; its id, or the one error line."""
        job_id, folder = jobs.new_folder()
        try:
            form = await read_form(request)
            front, back = [await side_image(form, side, side, folder) for side in SIDES]
            images = await run_in_threadpool(prepare_pair, config.loaded, config.preset, front, back)
        except (BadUpload, ValueError) as exc:
            shutil.rmtree(folder, ignore_errors=True)
            return error(one_line(exc, folder))

        def work(job: Job) -> None:
            opts = replace(config.outputs, notes=[])
            reconstruct_character(config.loaded, config.preset, images, job.folder, opts, "character", job.report,
                                  config.refine)
            job.notes = opts.notes
            with zipfile.ZipFile(job.folder / VIEWS_ZIP, "w") as archive:
                for name in ORTHO:
                    archive.write(job.folder / name, name)

        job = jobs.submit(job_id, folder, work)
        return JSONResponse(jobs.status(job))

    async def job_status(request: Request) -> Response:
        job = jobs.jobs.get(request.path_params["job"])
        return JSONResponse(jobs.status(job)) if job else error("no such job (finished jobs are kept for a while)", 404)

    async def job_file(request: Request) -> Response:
        job = jobs.jobs.get(request.path_params["job"])
        name = request.path_params["name"]
        if job is None or name not in job.files:
            return error("no such file", 404)
        return FileResponse(job.folder / name)

    return Starlette(routes=[
        Route("/", page),
        Route("/api/examples", example_list),
        Route("/examples/{name}", example_file),
        Route("/api/preview", preview, methods=["POST"]),
        Route("/api/jobs", submit, methods=["POST"]),
        Route("/api/jobs/{job}", job_status),
        Route("/jobs/{job}/{name}", job_file),
        Mount("/static", StaticFiles(directory=WEB), name="static"),
    ])

