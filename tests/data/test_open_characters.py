"""The open characters command: files taken from bare git mirrors by a catalogue (sha256 checked), a
fixed split that keeps variants of one character together, unsupported files left out with the
reason, the render, and the README / sources.tsv records."""
from __future__ import annotations

import contextlib
import hashlib
import io
import subprocess
from pathlib import Path

import numpy as np
import pytest

from _scripts.data import open_characters
from training.data.glb import write_glb
from training.data.layout import PRESETS, SPLITS, read_split, split_path
from training.data.synth.open_set import Entry, choose_splits, read_catalogue

HEADER = "repo\tpath\tsize\tsha256\tgit_blob\ttris\tstyle\trepo_license"
PEOPLE = [f"avatars/{g}/{g}_{s}_{n}_{o}.glb" for g in ("Asian", "White") for s in "FM" for n in (1, 2)
          for o in ("Busi", "Casual", "Milit")]  # 8 people in 3 outfits each
TOYS = [f"glb/pack/{name}.glb" for name in ("Robot", "Robot_Gun", "Duck", "Cat", "Dog", "Fox", "Owl", "Bee",
                                             "Ant", "Elk", "Yak", "Emu", "Pig")]


def _entries(people: int = 24, toys: int = 13) -> list[Entry]:
    rows = [Entry("alice/people", p, 1, "0" * 64, "0" * 40, 12, "realistic", "MIT") for p in PEOPLE[:people]]
    return rows + [Entry("bob/toys", p, 1, "0" * 64, "0" * 40, 12, "stylised", "CC0") for p in TOYS[:toys]]


def test_ids_groups_and_catalogue_order():
    people, toys = _entries()[0], _entries()[24]
    assert (people.id, people.group) == ("Asian_F_1_Busi", "alice/people/avatars/Asian/Asian_F_1")
    assert (toys.id, toys.group) == ("pack_Robot", "bob/toys/glb/pack/Robot")
    assert toys.local_name == "bob+toys/pack_Robot.glb"


def test_split_keeps_variants_together_and_gives_each_style_a_share():
    entries = _entries()
    splits = choose_splits(entries, seed=0, test=9, val=6)
    assert list(splits) == [e.id for e in entries]
    groups: dict[str, set[str]] = {}
    for e in entries:
        groups.setdefault(e.group, set()).add(splits[e.id])
    assert all(len(s) == 1 for s in groups.values())
    assert splits["pack_Robot"] == splits["pack_Robot_Gun"]
    # quotas 5 and 4 realistic (groups of 3: as near as whole groups allow), 4 and 2 stylised (the minimums)
    for style, n_test, n_val in (("realistic", 6, 3), ("stylised", 4, 2)):
        got = [splits[e.id] for e in entries if e.style == style]
        assert got.count("test") == n_test and got.count("val") == n_val, style
    assert choose_splits(entries, seed=0, test=9, val=6) == splits
    assert choose_splits(entries, seed=1, test=9, val=6) != splits


def _glb(path: Path, required: list[str] | None = None) -> bytes:
    """A quad 1 wide, 2 tall facing +z (or a file requiring an extension the loader lacks)."""
    positions = np.array([[-0.5, 0, 0], [0.5, 0, 0], [0.5, 2, 0], [-0.5, 2, 0]], np.float32)
    faces = np.array([0, 1, 2, 0, 2, 3], np.uint16)
    blob = positions.tobytes() + faces.tobytes()
    doc = {"asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
           "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
           "accessors": [{"bufferView": 0, "componentType": 5126, "type": "VEC3", "count": 4,
                          "min": [-0.5, 0, 0], "max": [0.5, 2, 0]},
                         {"bufferView": 1, "componentType": 5123, "type": "SCALAR", "count": 6}],
           "bufferViews": [{"buffer": 0, "byteLength": 48}, {"buffer": 0, "byteOffset": 48, "byteLength": 12}],
           "buffers": [{"byteLength": len(blob)}]}
    if required:
        doc["extensionsUsed"] = doc["extensionsRequired"] = required
    write_glb(path, doc, blob)
    return path.read_bytes()


@pytest.fixture
def mirrors(tmp_path) -> tuple[Path, Path]:
    """Two bare git mirrors holding the files as blobs, and a catalogue of them (one requires Draco)."""
    rows = []
    for repo, paths, style, licence in (("alice/people", PEOPLE[:12], "realistic", "MIT (repo LICENSE)"),
                                        ("bob/toys", TOYS, "stylised", "CC0")):
        git = tmp_path / "mirrors" / repo.replace("/", "+") / "repo"
        subprocess.run(["git", "init", "-q", "--bare", str(git)], check=True)
        for k, p in enumerate(paths):
            data = _glb(tmp_path / "file.glb", ["KHR_draco_mesh_compression"] if p.endswith("Pig.glb") else None)
            data = data + b" " * k  # distinct blobs (trailing bytes after the glb are ignored)
            (tmp_path / "file.glb").write_bytes(data)
            blob = subprocess.run(["git", "--git-dir", str(git), "hash-object", "-w", str(tmp_path / "file.glb")],
                                  check=True, capture_output=True, text=True).stdout.strip()
            rows.append(f"{repo}\t{p}\t{len(data)}\t{hashlib.sha256(data).hexdigest()}\t{blob}\t2\t{style}\t{licence}")
    catalogue = tmp_path / "catalogue.tsv"
    catalogue.write_text("# a comment\n" + "\n".join([HEADER, *rows]) + "\n")
    return tmp_path / "mirrors", catalogue


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        rc = open_characters.main(list(argv))
    return rc, out.getvalue()


def test_extract_split_render_and_record(tmp_path, mirrors):
    mirror_root, catalogue = mirrors
    glb, out = tmp_path / "glb", tmp_path / "data"
    args = ["--catalogue", str(catalogue), "--mirrors", str(mirror_root), "--glb", str(glb), "--out", str(out),
            "--res", "32", "--views", "1", "--grid", "none", "--test", "4", "--val", "2", "--workers", "1"]
    rc, text = _run(*args)
    assert rc == 0, text
    entries = read_catalogue(catalogue)
    for e in entries:
        assert hashlib.sha256((glb / e.local_name).read_bytes()).hexdigest() == e.sha256
    assert "left out" in text and "KHR_draco_mesh_compression" in text and "24 rendered" in text
    rows = [line.split("\t") for line in (out / "sources.tsv").read_text().splitlines()]
    assert rows[0] == ["id", "split", "style", "repo", "path", "sha256", "license", "note"]
    by_id = {r[0]: r for r in rows[1:]}
    assert len(by_id) == 25 and by_id["pack_Pig"][1] == "" and "KHR_draco_mesh_compression" in by_id["pack_Pig"][7]
    subset = PRESETS["body"].subset
    for name in SPLITS:
        listed = read_split(split_path(out, subset, name))
        assert listed and sorted(listed) == sorted(i for i, r in by_id.items() if r[1] == name)
    readme = (out / "README.md").read_text()
    assert "- alice/people: MIT (repo LICENSE)" in readme and "- bob/toys: CC0" in readme
    assert all(f"| {e.id} |" in readme for e in entries) and "--res 32" in readme
    # a rerun takes the verified files as they are and gives the same split
    assert _run(*args)[0] == 0 and (out / "sources.tsv").read_text() == "\n".join("\t".join(r) for r in rows) + "\n"


def test_a_file_that_does_not_match_the_catalogue_is_one_line(tmp_path, mirrors):
    mirror_root, catalogue = mirrors
    lines = catalogue.read_text().splitlines()
    fields = lines[2].split("\t")
    fields[3] = "f" * 64
    catalogue.write_text("\n".join([*lines[:2], "\t".join(fields), *lines[3:]]) + "\n")
    rc, text = _run("--catalogue", str(catalogue), "--mirrors", str(mirror_root), "--glb", str(tmp_path / "g"),
                    "--out", str(tmp_path / "o"))
    errors = [line for line in text.replace("\r", "\n").splitlines() if line.startswith("open_characters: error:")]
    assert rc == 2 and len(errors) == 1 and "f" * 64 in errors[0]  # bad input (README, "Exit codes")
    assert errors[0].startswith(f"open_characters: error: alice/people:{fields[1]}: got ")
