"""reconstruct from a user's own images, and the preprocessing that frames them like the training data."""
import json
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from _scripts import reconstruct
from training.data import preprocess as P
from training.data.layout import Renderset

REPO = Path(__file__).resolve().parents[2]
FAST = ["--res", "16", "--samples", "4", "--refine-steps", "2"]
UPSCALE = 4  # the 32 px synthetic views hold a ~27 px character; users' images are larger than the 32 px minimum


def _ortho(body_root, view: str) -> Image.Image:
    rs = Renderset(body_root, "human_rutileE")

    def near_white(char_dir: Path) -> float:  # pale clothes would be keyed out with a white backdrop
        rgba = np.asarray(Image.open(char_dir / "back.png").convert("RGBA"), dtype=np.float32) / 255
        opaque = rgba[..., 3] > 0.5
        return float((rgba[..., :3].min(-1)[opaque] > 0.8).mean())

    char_dir = min(sorted((rs.dir / "ortho").glob("*/*")), key=near_white)
    im = Image.open(char_dir / f"{view}.png").convert("RGBA")
    return im.resize((im.width * UPSCALE, im.height * UPSCALE), Image.NEAREST)


def _on(im: Image.Image, colour) -> Image.Image:
    bg = Image.new("RGBA", im.size, colour + (255,))
    bg.alpha_composite(im)
    return bg.convert("RGB")


@pytest.fixture(scope="module")
def images(body_root, tmp_path_factory):
    """front.png (RGBA), back_white.png and front_green.png (RGB on a plain backdrop, no alpha), bad ones."""
    d = tmp_path_factory.mktemp("user_images")
    _ortho(body_root, "front").save(d / "front.png")
    _on(_ortho(body_root, "back"), (255, 255, 255)).save(d / "back_white.png")
    _on(_ortho(body_root, "front"), (0, 200, 0)).save(d / "front_green.png")
    (d / "unreadable.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    Image.new("RGB", (200, 300), "white").save(d / "empty.png")
    tiny = Image.new("RGB", (200, 300), "white")
    tiny.paste((200, 40, 40), (90, 200, 110, 230))  # a 20 x 30 px character
    tiny.save(d / "tiny.png")
    return d


def _bbox(image: Image.Image) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero((np.asarray(image.convert("RGB"), dtype=int) < 250).any(-1))
    return ys.min(), ys.max() + 1, xs.min(), xs.max() + 1


@pytest.mark.parametrize("name", ["front.png", "back_white.png", "front_green.png"])
def test_body_framing_rule(images, name):
    size = 128
    framed = P.prepare_image(images / name, "body", size)
    assert (np.asarray(framed.convert("RGB"))[[0, 0, -1, -1], [0, -1, 0, -1]] == 255).all()  # background on white
    top, bottom, left, right = _bbox(framed)
    # the A band is the character's silhouette, placed with it: its box is the drawn pixels' box
    sil = P.to_silhouette(framed)[0].numpy()
    ys, xs = np.nonzero(sil > 0.5)
    if name == "front.png":  # (white clothes would leave the colour box smaller than the silhouette's)
        assert abs(ys.min() - top) <= 1 and abs(ys.max() + 1 - bottom) <= 1
        assert abs(xs.min() - left) <= 1 and abs(xs.max() + 1 - right) <= 1
    assert sil[[0, 0, -1, -1], [0, -1, 0, -1]].max() == 0
    assert abs(bottom - 0.96 * size) <= 1  # feet on the box floor
    assert abs((left + right) / 2 - size / 2) <= 1
    height, width = bottom - top, right - left
    assert abs(height - 0.85 * size) <= 1 or abs(width - 0.92 * size) <= 1


def test_head_framing_rule(images):
    size = 64
    top, bottom, left, right = _bbox(P.prepare_image(images / "front.png", "head", size))
    assert abs(max(bottom - top, right - left) - 0.85 * size) <= 1
    assert abs((top + bottom) / 2 - size / 2) <= 1 and abs((left + right) / 2 - size / 2) <= 1


@pytest.mark.parametrize("name", ["back_white.png", "front_green.png"])
def test_plain_background_without_alpha_is_keyed_out(images, body_root, name):
    alpha = np.asarray(_ortho(body_root, "back" if "back" in name else "front"), dtype=float)[..., 3] / 255
    keyed = P.remove_background(P.load_rgba(images / name))[..., 3]
    assert (keyed[alpha > 0.5] == 1).all()  # the whole character is kept ...
    assert (keyed[alpha == 0] == 0).all()  # ... and all the background goes; the anti-aliased fringe may differ


def test_keying_edge_cases(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "busy.png")
    with pytest.raises(P.ImageError, match="busy.png: no transparent or plain background"):
        P.prepare_image(tmp_path / "busy.png", "body", 32)
    wide = Image.new("RGB", (100, 50), (10, 20, 30))
    wide.save(tmp_path / "wide.png")
    framed = P.prepare_image(tmp_path / "wide.png", "body", 32, remove_bg=False)
    padded = np.asarray(framed.convert("RGB"))
    assert (padded[:7] == 255).all() and (padded[9:23, 2:30] == (10, 20, 30)).all()
    sil = P.to_silhouette(framed)[0]
    assert (sil[:7] == 0).all() and (sil[9:23] == 1).all()  # the image opaque, the padding not
    assert (P.to_silhouette(Image.fromarray(padded)) == 1).all()  # no A band: nothing to carve
    cond = P.to_condition(Image.fromarray(padded))
    assert cond.shape == (3, 32, 32) and cond.min() >= -1 and cond.max() == 1


def test_reconstruct_writes_files_for_several_pairs(images, tiny_snapshot, tmp_path, capsys):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"# front back name\n\n{images}/front_green.png {images}/back_white.png bob\n")
    out = tmp_path / "out"
    rc = reconstruct.main(["--front", str(images / "front.png"), "--back", str(images / "back_white.png"),
                           "--pairs", str(pairs), "--ckpt", str(tiny_snapshot), "--out", str(out),
                           "--video", "--frames", "4", "--mesh", "--mesh-res", "8", "--sheet", str(tmp_path / "s" / "sheet.png"),
                           *FAST], standalone_mode=False)
    assert rc == 0
    # the sheet: a row per character, two inputs and six views of 16 px, 4 px apart
    assert iio.imread(tmp_path / "s" / "sheet.png").shape == (2 * 16 + 4, 8 * 16 + 7 * 4, 3)
    first = out / images.name  # a folder per pair: the list's name, else the front's (front.png: its folder's)
    for name in ["ortho_front", "ortho_back", "ortho_left", "ortho_right"] + [f"spin_{i:02d}" for i in range(12)]:
        assert iio.imread(first / f"{name}.png").shape == (16, 16, 3)
    assert iio.imread(first / "input_front.png").shape == (64, 64, 3)
    assert iio.imread(first / "turntable.gif", index=None).shape[0] == 4
    assert iio.imread(first / "turntable.mp4", index=None).shape[0] == 4
    assert (out / "bob" / "spin_11.png").is_file()
    # at the default level (ln 2 * 32 / 2.1 = 10.6) the barely trained field may have no surface: then a
    # warning and no file, else the file and no warning
    assert (first / "mesh.ply").exists() != ("no mesh" in capsys.readouterr().err)
    assert reconstruct.main(["--front", str(images / "front.png"), "--ckpt", str(tiny_snapshot),
                             "--out", str(out)], standalone_mode=False) == 2
    assert "give them in pairs" in capsys.readouterr().err
    assert json.loads((out / "manifest.json").read_text())["characters"] == [images.name, "bob"]
    # the same folder with other settings (no --video, no --mesh): refused before anything is written
    assert reconstruct.main(["--front", str(images / "front.png"), "--back", str(images / "back_white.png"),
                             "--pairs", str(pairs), "--ckpt", str(tiny_snapshot), "--out", str(out), *FAST],
                            standalone_mode=False) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {out}: holds output made with other settings (")
    assert "video True (this run: False)" in err[0]
    assert reconstruct.output_names([(Path("a/x_front.png"), None, None), (Path("b/x-Front.png"), None, None),
                                     (Path("c/front.png"), None, None)]) == ["x", "x-2", "c"]


@pytest.mark.parametrize("bad, message", [("unreadable.png", "unreadable image"), ("empty.png", "no character found"),
                                          ("tiny.png", "character too small"), ("missing.png", "no such file")])
def test_bad_images_give_one_line_errors(images, tiny_snapshot, tmp_path, capsys, bad, message):
    rc = reconstruct.main(["--front", str(images / "front.png"), "--back", str(images / bad),
                           "--ckpt", str(tiny_snapshot), "--out", str(tmp_path / "out"), *FAST], standalone_mode=False)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and len(err) == 1
    assert err[0].startswith(f"error: {images / bad}: ") and message in err[0]
    assert not (tmp_path / "out").exists()  # nothing rendered


def test_exit_code_of_the_command(images, tiny_snapshot, tmp_path):
    result = subprocess.run([sys.executable, "-m", "_scripts.reconstruct", "--front", str(images / "empty.png"),
                             "--back", str(images / "back_white.png"), "--ckpt", str(tiny_snapshot),
                             "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {images / 'empty.png'}: empty: no character found "
                                                  f"(the whole image is background)"]


def test_reconstruct_vrm_writes_the_avatar_and_its_meshes(images, tiny_snapshot, tmp_path, capsys):
    """--vrm alone (no --mesh) gives the textured meshes and avatar.vrm; on the barely trained fog (level
    0.001: the box) the rig and weights still come out whole and the loader reads the humanoid map."""
    from training.data.synth.gltf import load_model

    out = tmp_path / "avatar"
    rc = reconstruct.main(["--front", str(images / "front.png"), "--back", str(images / "back_white.png"),
                           "--ckpt", str(tiny_snapshot), "--out", str(out), "--vrm", "--vrm0", "--license", "cc0",
                           "--mesh-res", "8", "--mesh-level", "0.001", "--faces", "300", "--texture-size", "32",
                           *FAST], standalone_mode=False)
    assert rc == 0, capsys.readouterr().err
    for name in ("mesh.glb", "mesh.obj", "mesh.mtl", "mesh.png", "mesh.ply", "avatar.vrm"):
        assert (out / name).is_file(), name
    model = load_model(out / "avatar.vrm")
    assert model.kind == "vrm0" and model.head is not None
    assert "avatar.vrm (VRM 0)" in capsys.readouterr().out
    assert reconstruct.main(["--front", str(images / "front.png"), "--back", str(images / "back_white.png"),
                             "--ckpt", str(tiny_snapshot), "--out", str(out), "--vrm", "--faces", "0"],
                            standalone_mode=False) == 2
    assert "--vrm needs the textured mesh" in capsys.readouterr().err


def test_without_a_model_flag_the_released_model_is_used(images, tiny_snapshot, tmp_path, monkeypatch):
    """No --ckpt/--inferquery: reconstruct loads RELEASED_MODEL (here a release of the tiny snapshot); a
    missing release file is one line naming it and the flags to give instead."""
    from _scripts import options
    from training.infer.release import write_release

    release = tmp_path / "released.pt"
    write_release(tiny_snapshot, release)
    monkeypatch.setattr(options, "RELEASED_MODEL", release)  # reconstruct and the app read it there
    out = tmp_path / "out"
    args = ["--front", str(images / "front.png"), "--back", str(images / "back_white.png"), "--out", str(out), *FAST]
    assert reconstruct.main(args, standalone_mode=False) in (0, None)
    manifest = json.loads((out / "manifest.json").read_text())
    assert "released.pt" in json.dumps(manifest)
    monkeypatch.setattr(options, "RELEASED_MODEL", tmp_path / "missing.pt")
    assert reconstruct.main(args[:4] + ["--out", str(tmp_path / "out2"), *FAST], standalone_mode=False) == 2


@pytest.mark.parametrize("carve", [True, False])
def test_front_and_back_silhouettes_are_the_drawings_when_carving(images, tiny_snapshot, carve):
    import torch
    import torch.nn.functional as F

    from training.infer.load import load_generator
    from training.infer.reconstruct import image_planes
    from training.infer.refine import RefineSettings
    from training.infer.cameras import ortho_views
    from training.infer.render import InferenceSettings, render_views
    from training.data.layout import PRESETS

    loaded = load_generator(tiny_snapshot, settings=InferenceSettings(sample_scale=1, carve=carve))
    with torch.no_grad():
        loaded.G.decoder.net[-1].bias[0] = 40.0  # an opaque box: what the renders show is the carving alone
    size = loaded.model.cond_resolution
    drawings = (P.prepare_image(images / "front.png", "body", size), P.prepare_image(images / "back_white.png", "body", size))
    planes = image_planes(loaded, "body", drawings, RefineSettings(steps=0))  # the carving alone
    views = ortho_views(PRESETS["body"])
    rendered = next(render_views(loaded.G, planes, views.labels[:2], size=16, surface_size=size))
    front, back = (P.to_silhouette(d)[0] > 0.5 for d in drawings)
    # the hull of the two drawings, as each camera sees it (the back camera sees the body mirrored); the
    # keyed back_white.png keeps its anti-aliased fringe, so here the hull is the front drawing's silhouette
    for k, want in enumerate((front & back.flip(-1), back & front.flip(-1))):
        got = rendered.alpha[k, 0] > 0.5
        iou = (want & got).sum() / (want | got).sum()
        if carve:
            assert iou > 0.95, (k, float(iou))
        else:
            assert got.all()  # the whole box: nothing removed
