"""The commands' common ending (README, "Exit codes"): 0 done, 1 the work failed, 2 bad usage or bad input;
an output folder that cannot be written is one line naming it before any work, error lines never share
a line with a progress bar, and a file holding code is refused without torch's advice to load it unsafely."""
import errno
import os
from pathlib import Path

import pytest
import torch
from tqdm import tqdm

from _scripts import reconstruct
from _scripts.data import render, synth
from _scripts.errors import BAD_INPUT, FAILED, failure, report
from _scripts.eval import generate, measure
from _train import train
from training.data.checks import DatasetError


def _unwritable(tmp_path: Path) -> Path:
    """A folder this process cannot write in (root writes anywhere but in /sys)."""
    if os.geteuid() == 0:
        if not Path("/sys").is_dir():
            pytest.skip("no unwritable folder for root")
        return Path("/sys")
    folder = tmp_path / "read_only"
    folder.mkdir(mode=0o555)
    return folder


def _commands(tmp_path: Path, out: Path) -> dict[str, tuple]:
    """Each command given out as its output folder, and how to call it (-> exit code)."""
    snapshot = tmp_path / "snapshot.pt"
    snapshot.write_bytes(b"never read")  # refused before the snapshot is opened
    click_commands = {
        "train": (train.main, ["--name", "x", "--preset", "tiny", "--data", str(tmp_path), "--outdir", str(out)]),
        "generate": (generate.main, ["--ckpt", str(snapshot), "--data", str(tmp_path), "--out", str(out)]),
        "reconstruct": (reconstruct.main, ["--front", "f.png", "--back", "b.png", "--ckpt", str(snapshot),
                                           "--out", str(out)]),
        "measure": (measure.main, ["--ckpt", str(snapshot), "--data", str(tmp_path), "--out", str(out)]),
    }
    calls = {name: (lambda c=cmd, a=args: c.main(a, standalone_mode=False)) for name, (cmd, args) in click_commands.items()}
    calls["synth"] = lambda: synth.main(["--out", str(out), "--n", "2", "--res", "8", "--preset", "body"])
    calls["render"] = lambda: render.main(["--in", str(tmp_path), "--out", str(out), "--preset", "body"])
    return calls


COMMANDS = ("train", "generate", "reconstruct", "measure", "synth", "render")


@pytest.mark.parametrize("where", ["under_a_file", "unwritable"])
@pytest.mark.parametrize("command", COMMANDS)
def test_an_output_folder_that_cannot_be_written_is_one_line_before_any_work(command, where, tmp_path, capsys):
    if where == "under_a_file":
        (tmp_path / "notes.txt").write_text("a plain file")
        out, why = tmp_path / "notes.txt" / "out", "which is a file"
    else:
        out, why = _unwritable(tmp_path) / "nova3d_out", "cannot write in"
    run = _commands(tmp_path, out)[command]
    before = sorted(tmp_path.rglob("*"))
    assert run() == BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(out) in err[0] and why in err[0], err
    assert sorted(tmp_path.rglob("*")) == before  # nothing made


class _Payload:
    def __reduce__(self):
        return (print, ("this ran",))


@pytest.mark.parametrize("command", ["generate", "train --resume"])
def test_a_file_holding_code_is_refused_without_the_unsafe_advice(command, tmp_path, capsys):
    evil = tmp_path / "network-snapshot-000000.pt"
    torch.save({"G_ema": _Payload()}, evil)
    if command == "generate":
        code = generate.main(["--ckpt", str(evil), "--data", str(tmp_path), "--out", str(tmp_path / "o")],
                             standalone_mode=False)
    else:
        code = train.main(["--name", "x", "--resume", str(evil)], standalone_mode=False)
    captured = capsys.readouterr()
    assert code == BAD_INPUT and "this ran" not in captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {evil}: refused: not a plain NOVA-3D snapshot"), lines
    assert "weights_only" not in captured.err and "(print)" in lines[0]  # names what it holds


def test_failures_and_their_exit_codes(tmp_path):
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "a.png"))
    assert failure(full) == (FAILED, [f"{tmp_path / 'a.png'}: no space left on device"])
    assert failure(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate..."))[0] == FAILED
    assert failure(DatasetError(f"{tmp_path}: missing file")) == (BAD_INPUT, [f"{tmp_path}: missing file"])
    assert failure(FileNotFoundError(f"{tmp_path}: snapshot not found"))[0] == BAD_INPUT
    assert failure(KeyError("front")) is None  # a bug: its traceback is the report


def test_the_error_line_starts_a_line_of_its_own(capsys):
    bar = tqdm(total=10, desc="generate")  # a command's bar, still drawn when the failure comes
    bar.update(3)
    assert report(DatasetError("/data/x.png: missing file")) == BAD_INPUT
    lines = capsys.readouterr().err.replace("\r", "\n").split("\n")
    assert "error: /data/x.png: missing file" in lines
