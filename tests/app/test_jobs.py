"""The web app's queue: the progress bar's stages with and without the fit, and jobs that finish or fail."""
import time

import pytest

from _scripts.app.jobs import STAGES, Job, JobQueue, stage_shares


def test_without_the_fit_the_other_stages_fill_the_bar_in_the_same_proportions():
    assert stage_shares(True) == STAGES
    shares = stage_shares(False)
    assert list(shares) == ["views", "turntable", "mesh"]
    assert shares["views"][0] == 0.0 and shares["mesh"][1] == pytest.approx(1.0)
    for (name, (lo, hi)), (_, (lo_next, _)) in zip(list(shares.items())[:-1], list(shares.items())[1:]):
        assert hi == pytest.approx(lo_next), name  # contiguous
    # views : turntable : mesh keep their lengths' ratios (0.1 : 0.25 : 0.25 of the bar with the fit)
    length = {name: hi - lo for name, (lo, hi) in shares.items()}
    assert length["turntable"] / length["views"] == pytest.approx(2.5)
    assert length["mesh"] == pytest.approx(length["turntable"])


def test_a_job_reports_its_stage_and_position(tmp_path):
    job = Job("1", tmp_path, lambda job: None, stages=stage_shares(False))
    job.report("views", 0, 4)
    assert job.fraction == 0.0 and job.stage == "views 0/4"  # not 40%: no fit ran
    job.report("turntable", 12, 24)
    assert job.fraction == pytest.approx((0.5 - 0.4) / 0.6 + 0.5 * 0.25 / 0.6)
    fitted = Job("2", tmp_path, lambda job: None)
    fitted.report("refine", 50, 100)
    assert fitted.fraction == pytest.approx(0.2)


def wait(queue: JobQueue, job: Job, seconds: float = 30.0) -> dict:
    deadline = time.monotonic() + seconds
    while (status := queue.status(job))["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline, f"job {job.id} did not finish: {status}"
        time.sleep(0.01)
    return status


def test_the_queue_runs_jobs_with_its_stages_and_reports_failures(tmp_path):
    queue = JobQueue(tmp_path / "jobs", stages=stage_shares(False))

    def writes(job: Job) -> None:
        job.report("mesh", 1, 1)
        (job.folder / "character.glb").write_bytes(b"glb")

    def fails(job: Job) -> None:
        raise ValueError("the front drawing is empty")

    ok = queue.submit(*queue.new_folder(), writes)
    bad = queue.submit(*queue.new_folder(), fails)
    done = wait(queue, ok)
    assert done["state"] == "done" and done["files"] == ["character.glb"] and done["fraction"] == 1.0
    failed = wait(queue, bad)
    assert failed["state"] == "failed" and "the front drawing is empty" in failed["error"]
    assert ok.stages == stage_shares(False)
