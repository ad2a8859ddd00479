"""The pretrained-weights policy: lookup order, one-line errors, the n/a text, and --download.

Nothing here touches the network: downloads use file:// addresses into a temporary TORCH_HOME.
Tests swap the registry entry for a small fake file whose sha256 they know (the real files are
hundreds of MB and not on CI machines).
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from _scripts import weights as weights_cli
from training.metrics import weights

PUBLISHED = {  # name -> (file name, sha256) as the registry must record them
    "alexnet": ("alexnet-owt-7be5be79.pth", "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02"),
    "lpips_alex_v0.1": ("lpips-alex-v0.1.pth", "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0"),
    "clip_vit_b32": ("ViT-B-32.pt", "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af"),
    "inception_fid": ("pt_inception-2015-12-05-6726825d.pth",
                      "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"),
}


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    """No weights anywhere: empty TORCH_HOME and HOME, no NOVA3D_WEIGHTS_* variables."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(weights.DIR_ENV, raising=False)
    for w in weights.REGISTRY.values():
        monkeypatch.delenv(w.env, raising=False)
    return tmp_path


@pytest.fixture
def fake(clean_env, monkeypatch):
    """Register a fake 'alexnet' whose bytes are known; returns (payload, source folder)."""
    payload = b"not really alexnet " * 100
    src = clean_env / "src"
    src.mkdir()
    entry = dataclasses.replace(weights.REGISTRY["alexnet"], sha256=hashlib.sha256(payload).hexdigest())
    monkeypatch.setitem(weights.REGISTRY, "alexnet", entry)
    (src / entry.filename).write_bytes(payload)
    return payload, src


def _put(folder: Path, filename: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / filename).write_bytes(data)
    return folder / filename


def test_registry_records_published_names_and_hashes():
    for name, (filename, sha) in PUBLISHED.items():
        w = weights.get(name)
        assert (w.filename, w.sha256) == (filename, sha)
        assert w.url.startswith("https://")
    # torchvision and pytorch-fid embed the first 8 hex digits of the sha256 in the file name
    assert weights.get("alexnet").sha256.startswith("7be5be79")
    assert weights.get("inception_fid").sha256.startswith("6726825d")
    assert weights.get("clip_vit_b32").sha256 in weights.get("clip_vit_b32").url
    with pytest.raises(ValueError, match="unknown weights name 'vgg'"):
        weights.get("vgg")


def test_shipped_lpips_heads_are_found_by_hash(clean_env):
    path = weights.resolve("lpips_alex_v0.1")
    assert path is not None and path.parts[-4:] == ("lpips", "weights", "v0.1", "alex.pth")
    assert weights.sha256_of(path) == PUBLISHED["lpips_alex_v0.1"][1]


def test_resolution_order(fake, monkeypatch):
    payload, src = fake
    w = weights.get("alexnet")
    assert weights.hub_checkpoints() == src.parent / "torch_home" / "hub" / "checkpoints"
    hub = _put(weights.hub_checkpoints(), w.filename, payload)
    assert weights.resolve("alexnet") == hub
    in_dir = _put(src.parent / "weights_dir", w.filename, payload)
    monkeypatch.setenv(weights.DIR_ENV, str(in_dir.parent))
    assert weights.resolve("alexnet") == in_dir
    per_file = _put(src.parent / "per_file", w.filename, payload)
    monkeypatch.setenv(w.env, str(per_file))  # a file path
    assert w.env == "NOVA3D_WEIGHTS_ALEXNET"
    assert weights.resolve("alexnet") == per_file
    monkeypatch.setenv(w.env, str(per_file.parent))  # or a folder holding the file
    assert weights.resolve("alexnet") == per_file
    explicit = src / w.filename
    assert weights.resolve("alexnet", explicit) == explicit
    assert weights.resolve("alexnet", src) == explicit
    assert [p.label for p in weights.lookup("alexnet", src)] == [
        "path", "$NOVA3D_WEIGHTS_ALEXNET", "$NOVA3D_WEIGHTS_DIR", "torch hub cache"]


def test_wrong_hash_is_skipped(fake, monkeypatch):
    payload, src = fake
    w = weights.get("alexnet")
    bad = _put(src.parent / "bad", w.filename, b"corrupted")
    hub = _put(weights.hub_checkpoints(), w.filename, payload)
    assert weights.resolve("alexnet", bad) == hub
    statuses = {p.label: p.status for p in weights.lookup("alexnet", bad)}
    assert statuses["path"] == "sha256 mismatch" and statuses["torch hub cache"] == "found"


def test_missing_gives_one_line_error_and_na_text(clean_env, monkeypatch):
    monkeypatch.setenv(weights.DIR_ENV, str(clean_env / "nowhere"))
    filename, sha = PUBLISHED["alexnet"]
    assert weights.resolve("alexnet") is None
    with pytest.raises(weights.WeightsMissing) as info:
        weights.require("alexnet", clean_env / "given.pth")
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"weights missing: {filename} (sha256 {sha}); looked in: ")
    assert msg.endswith("; get it with python -m _scripts.weights --download --only alexnet")
    for where in (str(clean_env / "given.pth"), "$NOVA3D_WEIGHTS_ALEXNET (unset)",
                  str(clean_env / "nowhere" / filename), str(weights.hub_checkpoints() / filename)):
        assert where in msg
    assert weights.describe_missing("alexnet") == f"n/a (weights missing: {filename}, sha256 {sha})"


def test_download_file_url_verifies_sha256(fake):
    payload, src = fake
    w = weights.get("alexnet")
    path = weights.download("alexnet", url_override=(src / w.filename).as_uri())
    assert path == weights.hub_checkpoints() / w.filename and path.read_bytes() == payload
    assert weights.resolve("alexnet") == path


def test_download_rejects_wrong_hash_and_leaves_nothing(fake):
    _, src = fake
    wrong = _put(src.parent / "mirror", "alexnet-owt-7be5be79.pth", b"tampered bytes")
    with pytest.raises(weights.WeightsError, match="sha256 .* does not match"):
        weights.download("alexnet", url_override=wrong.as_uri())
    hub = weights.hub_checkpoints()
    assert not hub.exists() or not any(hub.iterdir())
    with pytest.raises(weights.WeightsError, match="download of alexnet-owt-7be5be79.pth failed"):
        weights.download("alexnet", url_override=(src / "absent.pth").as_uri())


def test_cli_lists_every_file(clean_env):
    result = CliRunner().invoke(weights_cli.main, [])
    assert result.exit_code == 0, result.output
    for name, (filename, sha) in PUBLISHED.items():
        assert f"{name}: {filename}" in result.output and f"sha256 {sha}" in result.output
    assert "alexnet: alexnet-owt-7be5be79.pth  MISSING" in result.output
    assert "lpips_alex_v0.1: lpips-alex-v0.1.pth  found " in result.output
    assert "torch hub cache " + str(weights.hub_checkpoints() / "alexnet-owt-7be5be79.pth") + " (absent)" \
        in result.output


def test_cli_download_from_file_mirror(fake):
    payload, src = fake
    runner = CliRunner()
    result = runner.invoke(weights_cli.main, ["--only", "alexnet", "--download", "--mirror", src.as_uri()])
    assert result.exit_code == 0, result.output
    dest = weights.hub_checkpoints() / "alexnet-owt-7be5be79.pth"
    assert f"alexnet: downloaded to {dest}" in result.output and dest.read_bytes() == payload
    assert f"alexnet: alexnet-owt-7be5be79.pth  found {dest}" in result.output
    # present now: a second --download fetches nothing
    again = runner.invoke(weights_cli.main, ["--only", "alexnet", "--download", "--mirror", "file:///nonexistent"])
    assert again.exit_code == 0 and "downloaded" not in again.output


def test_cli_download_bad_hash_exits_1(fake):
    _, src = fake
    mirror = src.parent / "mirror"
    _put(mirror, "alexnet-owt-7be5be79.pth", b"tampered bytes")
    result = CliRunner().invoke(weights_cli.main, ["--only", "alexnet", "--download", "--mirror", mirror.as_uri()])
    assert result.exit_code == 1
    assert "does not match" in result.output and "MISSING" in result.output
