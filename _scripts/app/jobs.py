"""The web app's work queue: one worker thread runs the reconstructions one at a time, in the order they
were asked for, so two users never run at once (a CPU run already takes every core), and keeps each
job's state for the page to poll."""
from __future__ import annotations

import itertools
import queue
import secrets
import shutil
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from _scripts.errors import failure

STAGES = {"refine": (0.0, 0.4), "views": (0.4, 0.5), "turntable": (0.5, 0.75), "mesh": (0.75, 1.0)}
"""Each stage's share of the progress bar: about its share of the time at the app's defaults on 2 CPU cores."""


def stage_shares(refine: bool) -> dict[str, tuple[float, float]]:
    """STAGES, or without the fit (--refine-steps 0) the other stages spread over the whole bar in the same
    proportions, so the bar does not start at 40%."""
    if refine:
        return dict(STAGES)
    start = STAGES["refine"][1]
    return {name: ((lo - start) / (1 - start), (hi - start) / (1 - start))
            for name, (lo, hi) in STAGES.items() if name != "refine"}


@dataclass
class Job:
    """One reconstruction: its folder, where it stands and what it wrote."""

    id: str
    folder: Path
    work: Callable[["Job"], None]
    """Writes the job's files into its folder, calling job.report as it goes."""
    state: str = "queued"
    """queued, running, done or failed."""
    stage: str = ""
    fraction: float = 0.0
    error: str = ""
    started: float = 0.0
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Warnings of a finished job (training/infer/export.py's OutputOptions.notes: no mesh, ...)."""
    stages: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(STAGES))
    """Each stage's span of the bar (stage_shares)."""

    def report(self, stage: str, done: int, total: int) -> None:
        """training/infer/export.py's progress callback: the stage and the bar's position."""
        lo, hi = self.stages.get(stage, (self.fraction, self.fraction))
        self.stage = f"{stage} {done}/{total}" if stage != "mesh" else "mesh"
        self.fraction = lo + (hi - lo) * done / max(total, 1)


class JobQueue:
    """Jobs run one at a time by a daemon thread; the folders of all but the last `keep` finished jobs are
    deleted, so a long-running app does not fill the disk."""

    def __init__(self, root: Path, keep: int = 8, stages: dict[str, tuple[float, float]] | None = None) -> None:
        self.root, self.keep = Path(root), keep
        self.stages = dict(STAGES) if stages is None else stages
        self.jobs: dict[str, Job] = {}
        self.waiting: queue.Queue[Job] = queue.Queue()
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        threading.Thread(target=self._run, name="reconstruct-queue", daemon=True).start()

    def new_folder(self) -> tuple[str, Path]:
        """A fresh job id and its (created) folder, for the uploads before the job is submitted."""
        job_id = f"{next(self.ids):06d}-{secrets.token_hex(4)}"  # sorts in order; not guessable
        folder = self.root / job_id
        folder.mkdir(parents=True)
        return job_id, folder

    def submit(self, job_id: str, folder: Path, work: Callable[[Job], None]) -> Job:
        job = Job(job_id, folder, work, stages=self.stages)
        with self.lock:
            self.jobs[job_id] = job
        self.waiting.put(job)
        return job

    def ahead(self, job: Job) -> int:
        """Jobs that run before this queued one (the running one included)."""
        with self.lock:
            return sum(1 for j in self.jobs.values() if j.state in ("queued", "running") and j.id < job.id)

    def status(self, job: Job) -> dict:
        """What the page shows: state, stage, bar position, queue position, error line and files."""
        elapsed = job.seconds or (time.time() - job.started if job.started else 0.0)
        return {"id": job.id, "state": job.state, "stage": job.stage, "fraction": round(job.fraction, 3),
                "ahead": self.ahead(job) if job.state == "queued" else 0, "error": job.error,
                "seconds": round(elapsed, 1), "files": job.files if job.state == "done" else [], "notes": job.notes}

    def _run(self) -> None:
        while True:
            job = self.waiting.get()
            job.state, job.started = "running", time.time()
            try:
                job.work(job)
                job.files = sorted(p.name for p in job.folder.iterdir() if p.is_file())
                job.state = "done"
            except Exception as exc:  # noqa: BLE001 - one job's failure must not stop the queue
                known = failure(exc)
                if known is None:
                    traceback.print_exc(file=sys.stderr)
                job.error = known[1][0] if known else f"the reconstruction failed ({type(exc).__name__}: {exc})"
                job.state = "failed"
            job.seconds = time.time() - job.started
            self._forget_old()

    def _forget_old(self) -> None:
        with self.lock:
            finished = [j for j in self.jobs.values() if j.state in ("done", "failed")]
            for job in finished[:-self.keep]:
                shutil.rmtree(job.folder, ignore_errors=True)
                del self.jobs[job.id]
