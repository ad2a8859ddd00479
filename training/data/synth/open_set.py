"""The open real characters: openly licensed, rigged humanoid .glb files listed in a catalogue TSV,
taken from local git mirrors of their repositories, verified, split and recorded.

The catalogue (shared/open_characters.tsv) has '#' comment lines, then a header and one row per
file: repo (owner/name), path, size, sha256, git_blob, tris, style, repo_license. A mirror is the
bare git directory of a repository, found as <mirrors>/<owner>+<name>/repo or <mirrors>/<owner>+<name>.

Ids: the file's stem, prefixed with its folder's name unless it starts with it already
(avatars/Asian/Asian_F_1_Busi.glb -> Asian_F_1_Busi, modular_men/Worker.glb -> modular_men_Worker).

Variants: files of one folder whose stems differ only after their last '_' are one character
dressed differently (a VALID person's outfits, Quaternius's Character / Character_Gun); they always
share a split, so no test character is seen in training in other clothes.

Split: per style, whole variant groups in the order of a hash of (seed, group) fill the test quota,
then the val quota, each as near as whole groups allow; the rest trains. The --test / --val totals
are shared out by style size, each style getting at least 4 test and 2 val characters (stylised
sets are small).

Files whose required glTF extensions the loader lacks (KHR_draco_mesh_compression) are extracted
and verified but left out of the split, with the reason recorded.
"""
from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from training.data.synth.gltf_document import Document, Unusable

COLUMNS = ("repo", "path", "size", "sha256", "git_blob", "tris", "style", "repo_license")
MIN_PER_STYLE = {"test": 4, "val": 2}


@dataclass(frozen=True)
class Entry:
    """One catalogue row."""

    repo: str
    path: str
    size: int
    sha256: str
    git_blob: str
    tris: int
    style: str
    license: str

    @property
    def id(self) -> str:
        folder, stem = Path(self.path).parent.name, Path(self.path).stem
        return stem if not folder or stem.startswith(f"{folder}_") else f"{folder}_{stem}"

    @property
    def group(self) -> str:
        """The character this file is a variant of (module docstring)."""
        return f"{self.repo}/{Path(self.path).parent}/{Path(self.path).stem.rsplit('_', 1)[0]}"

    @property
    def local_name(self) -> str:
        """Where the extracted file goes, under the glb folder."""
        return f"{self.repo.replace('/', '+')}/{self.id}.glb"


def read_catalogue(path: Path) -> list[Entry]:
    """The catalogue's rows; ValueError naming the file and line for a malformed one or a repeated id."""
    lines = [(n, line.rstrip("\n")) for n, line in enumerate(path.read_text().splitlines(), 1)
             if line.strip() and not line.startswith("#")]
    if not lines or tuple(lines[0][1].split("\t")) != COLUMNS:
        raise ValueError(f"{path}: expected a header line {chr(9).join(COLUMNS)!r}")
    entries, seen = [], {}
    for n, line in lines[1:]:
        fields = line.split("\t")
        if len(fields) != len(COLUMNS) or not fields[2].isdigit() or not fields[5].isdigit():
            raise ValueError(f"{path}:{n}: expected {len(COLUMNS)} tab-separated fields with numeric size and tris")
        entry = Entry(fields[0], fields[1], int(fields[2]), fields[3].lower(), fields[4], int(fields[5]), fields[6],
                      fields[7])
        if entry.id in seen:
            raise ValueError(f"{path}:{n}: id {entry.id} repeats line {seen[entry.id]}")
        seen[entry.id] = n
        entries.append(entry)
    return entries


def mirror_dir(mirrors: Path, repo: str) -> Path:
    """The bare git directory of repo under mirrors (module docstring)."""
    base = mirrors / repo.replace("/", "+")
    for candidate in (base / "repo", base):
        if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            return candidate
    raise ValueError(f"{base}: no git mirror of {repo} (expected {base}/repo or {base} to be a bare git directory)")


def extract(entry: Entry, mirrors: Path, dest: Path) -> Path:
    """The entry's file under dest, taken from its mirror unless already there with the right sha256;
    ValueError when the blob is missing or its size or sha256 differ from the catalogue's."""
    target = dest / entry.local_name
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == entry.sha256:
        return target
    git = mirror_dir(mirrors, entry.repo)
    done = subprocess.run(["git", "--git-dir", str(git), "cat-file", "blob", entry.git_blob], capture_output=True)
    if done.returncode:
        raise ValueError(f"{entry.repo}:{entry.path}: blob {entry.git_blob} not in {git} "
                         f"({done.stderr.decode(errors='replace').strip()})")
    data, digest = done.stdout, hashlib.sha256(done.stdout).hexdigest()
    if len(data) != entry.size or digest != entry.sha256:
        raise ValueError(f"{entry.repo}:{entry.path}: got {len(data)} bytes with sha256 {digest}, "
                         f"the catalogue says {entry.size} bytes, {entry.sha256}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


def unusable_reason(path: Path) -> str | None:
    """Why the loader refuses the file when opening it (an unsupported required extension), or None."""
    try:
        Document(path)
    except Unusable as exc:
        return str(exc)
    return None


def _order(seed: int, key: str) -> bytes:
    return hashlib.blake2b(f"{seed}/{key}".encode(), digest_size=8).digest()


def quotas(sizes: dict[str, int], total: int, split: str) -> dict[str, int]:
    """Per style, its share of `total` by size but at least MIN_PER_STYLE[split] and at most a third
    of the style; what the minimums add is taken from the largest style."""
    n = sum(sizes.values())
    out = {style: min(size // 3, max(MIN_PER_STYLE[split], round(total * size / n))) for style, size in sizes.items()}
    largest = max(sizes, key=sizes.get)
    out[largest] = max(0, out[largest] - max(0, sum(out.values()) - total))
    return out


def choose_splits(entries: list[Entry], seed: int, test: int, val: int) -> dict[str, str]:
    """id -> split, in catalogue order (module docstring)."""
    by_style: dict[str, dict[str, list[str]]] = {}
    for entry in entries:
        by_style.setdefault(entry.style, {}).setdefault(entry.group, []).append(entry.id)
    sizes = {style: sum(map(len, groups.values())) for style, groups in by_style.items()}
    wanted = {"test": quotas(sizes, test, "test"), "val": quotas(sizes, val, "val")}
    assigned: dict[str, str] = {}
    for style, groups in by_style.items():
        left = {"test": wanted["test"][style], "val": wanted["val"][style]}
        for group in sorted(groups, key=lambda g: _order(seed, g)):
            # a group goes where taking it brings the count nearer the quota (it may overshoot a little)
            split = next((s for s in ("test", "val") if len(groups[group]) < 2 * left[s]), "train")
            if split != "train":
                left[split] -= len(groups[group])
            assigned.update(dict.fromkeys(groups[group], split))
    return {e.id: assigned[e.id] for e in entries}


def write_records(out: Path, entries: list[Entry], splits: dict[str, str], left_out: dict[str, str],
                  rendered: set[str], argv: list[str]) -> Path:
    """README.md (how it was made, counts, licences, one row per file) and sources.tsv (the same rows)
    in the data root; returns the README's path."""
    rows = []
    for e in entries:
        note = left_out.get(e.id) or ("" if e.id in rendered else "failed to render (see the run's output)")
        rows.append((e.id, "" if note else splits[e.id], e.style, e.repo, e.path, e.sha256, e.license, note))
    out.mkdir(parents=True, exist_ok=True)
    (out / "sources.tsv").write_text("".join("\t".join(map(str, r)) + "\n" for r in
                                             [("id", "split", "style", "repo", "path", "sha256", "license", "note")]
                                             + rows))
    counts = {s: sum(r[1] == s for r in rows) for s in ("train", "val", "test")}
    styles = sorted({e.style for e in entries})
    table = ["| style | " + " | ".join(counts) + " |", "|---|" + "---|" * len(counts)]
    table += [f"| {st} | " + " | ".join(str(sum(r[1] == s and r[2] == st for r in rows)) for s in counts) + " |"
              for st in styles]
    licences = sorted({(e.repo, e.license) for e in entries})
    text = [
        "# Open real characters", "",
        "Openly licensed, rigged humanoid characters from public GitHub repositories, rendered into the",
        "NOVA-Human layout (renders/, subsets/) by the project's character-file renderer. Made with:", "",
        "    " + shlex.join(["python", "-m", "_scripts.data.open_characters", *argv]), "",
        f"{len(entries)} files listed, {len(rendered)} rendered: " + ", ".join(f"{n} {s}" for s, n in counts.items())
        + f"; {len(left_out)} left out, {len(entries) - len(left_out) - len(rendered)} failed to render.", "",
        *table, "",
        "Variants of one character (a person's outfits) share a split; the split is seeded and fixed",
        "(training/data/synth/open_set.py). sources.tsv has the rows below, tab-separated.", "",
        "## Licences", "",
        *[f"- {repo}: {lic}" for repo, lic in licences], "",
        "The models themselves are not part of the NOVA-3D repository; they stay in their sources.", "",
        "## Files", "",
        "| id | split | style | source | sha256 | licence | note |", "|---|---|---|---|---|---|---|",
        *[f"| {r[0]} | {r[1]} | {r[2]} | {r[3]}: {r[4]} | {r[5]} | {r[6].split(' (')[0]} | {r[7]} |" for r in rows],
    ]
    path = out / "README.md"
    path.write_text("\n".join(text) + "\n")
    return path
