"""A full disk never leaves a truncated or 0-byte output: files are written through a temporary file and a
rename, the previous version stays, and the command stops with one line 'PATH: no space left on device'
(exit code 1). The disk is simulated: the writer fills part of the file, then fails as a full disk does."""
import errno
import os
from pathlib import Path

import pytest
import torch
from PIL import Image

from _scripts.errors import FAILED, failure
from _scripts.eval import generate
from dnnlib.files import atomic_path, write_text_atomic
from training.eval import report
from training.train.snapshot import atomic_save, load_snapshot

NO_SPACE = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as a write reports it: no file name


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and (p.name.startswith(".") or p.stat().st_size == 0)]


def test_a_failed_write_keeps_the_previous_file_and_names_it(tmp_path):
    path = write_text_atomic(tmp_path / "notes.txt", "old")
    with pytest.raises(OSError) as full:
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"part")
            raise NO_SPACE
    assert (full.value.filename, full.value.strerror) == (str(path), "no space left on device")
    assert path.read_text() == "old" and not _leftovers(tmp_path)


def test_measure_outputs_on_a_full_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "format_markdown", lambda results: "| table |\n")
    out = tmp_path / "eval"
    md, js = report.write_outputs({"psnr": 1.0}, out)

    def fills_the_disk(self, text, *args, **kwargs):
        with open(self, "w") as f:
            f.write(text[:3])
        raise NO_SPACE
    monkeypatch.setattr(Path, "write_text", fills_the_disk)
    with pytest.raises(OSError) as full:
        report.write_outputs({"psnr": 2.0}, out)
    monkeypatch.undo()
    assert failure(full.value) == (FAILED, [f"{md}: no space left on device"])
    assert md.read_text() == "| table |\n" and '"psnr": 1.0' in js.read_text() and not _leftovers(out)


def test_a_snapshot_on_a_full_disk(tmp_path, monkeypatch):
    path = tmp_path / "network-snapshot-000000.pt"
    atomic_save({"step": torch.tensor(1)}, path)

    def fills_the_disk(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"PK\x03\x04")
        raise NO_SPACE
    monkeypatch.setattr(torch, "save", fills_the_disk)
    with pytest.raises(OSError) as full:
        atomic_save({"step": torch.tensor(2)}, path)
    monkeypatch.undo()
    assert failure(full.value) == (FAILED, [f"{path}: no space left on device"])  # the trainer's line
    assert load_snapshot(path)["step"] == 1 and not _leftovers(tmp_path)


def test_generate_on_a_full_disk(tiny_snapshot, body_root, tmp_path, monkeypatch, capsys):
    def fills_the_disk(im, fp, filename, *args, **kwargs):
        fp.write(b"\x89PNG")
        raise NO_SPACE
    monkeypatch.setitem(Image.SAVE, "PNG", fills_the_disk)
    out = tmp_path / "out"
    code = generate.main(["--ckpt", str(tiny_snapshot), "--data", str(body_root), "--out", str(out), "--limit", "1",
                          "--res", "16", "--samples", "4"], standalone_mode=False)
    assert code == FAILED
    lines = capsys.readouterr().err.replace("\r", "\n").split("\n")
    assert f"error: {out}: no space left on device" in lines  # on a line of its own, after the progress bar
    assert not _leftovers(out)
