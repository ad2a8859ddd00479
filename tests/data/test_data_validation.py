"""Bad data is found before any work: each corruption is one line naming its file, from the check command's
checks (check_dataset) and from the pass training runs first (validate_splits over train and val, val
optional), which is remembered per data root until a file changes."""
import json
import shutil

import pytest
from PIL import Image

from training.data.checks import DatasetError, DatasetProblems, check_dataset, load_meta
from training.data.layout import Renderset, read_split, split_path
from training.data.validate import CACHE_NAME, validate_characters, validate_splits

SUBSET = "human_rutileEB"


def _training_pass(root, full=False):
    """The pass the trainer runs (training/train/loop.py's validate_training_data)."""
    validate_splits(root, "body", ("train", "val"), optional=("val",), full=full)


@pytest.fixture
def copy(body_root, tmp_path):
    """A copy of the body data; the character corrupted is the last of the train split (deep in it)."""
    root = tmp_path / "data"
    shutil.copytree(body_root, root)
    rs = Renderset(root, "human_rutileE")
    return root, rs, read_split(split_path(root, SUBSET, "train"))[-1]


def _edit_meta(rs, edit):
    meta = json.loads(rs.meta_path.read_text())
    edit(meta)
    rs.meta_path.write_text(json.dumps(meta))  # json writes NaN and Infinity as such


def _rgb_without_alpha(root, rs, cid):
    path = rs.path("rgb", cid, "0002")
    Image.open(path).convert("RGB").save(path)
    return path, "RGB PNG, expected RGBA"


def _xyza_without_alpha(root, rs, cid):
    path = rs.path("ortho_xyza", cid, "back")
    Image.open(path).convert("RGB").save(path)
    return path, "RGB PNG, expected RGBA"


def _jpeg_named_png(root, rs, cid):
    path = rs.path("ortho", cid, "front")
    Image.open(path).convert("RGB").save(path, format="JPEG")
    return path, "not a PNG (JPEG data under a .png name)"


def _nan_camera(root, rs, cid):
    _edit_meta(rs, lambda m: m[rs.meta_key("rgb", cid, "0001")]["render_params"].update(elev=float("nan")))
    return rs.meta_path, "non-finite value: elev=nan"


def _infinite_camera(root, rs, cid):
    _edit_meta(rs, lambda m: m[rs.meta_key("ortho", cid, "left")]["render_params"].update(dist=float("inf")))
    return rs.meta_path, "non-finite value: dist=inf"


def _empty_train(root, rs, cid):
    path = split_path(root, SUBSET, "train")
    path.write_text("")
    return path, "split list is empty"


def _wrong_size(root, rs, cid):
    path = rs.path("rgb_mask", cid, "0000")
    Image.new("L", (20, 20)).save(path)
    return path, "wrong size 20x20, expected 32x32"


def _missing_front_entry(root, rs, cid):  # the dataset's KeyError: 'front'
    _edit_meta(rs, lambda m: m.pop(rs.meta_key("ortho", cid, "front")))
    return rs.meta_path, f"character {cid} has no meta entry for ortho view 'front'"


CASES = [_rgb_without_alpha, _xyza_without_alpha, _jpeg_named_png, _nan_camera, _infinite_camera, _empty_train,
         _wrong_size, _missing_front_entry]


def _problems(exc: DatasetError) -> list[str]:
    return getattr(exc, "problems", [str(exc)])


@pytest.mark.parametrize("corrupt", CASES, ids=lambda f: f.__name__.strip("_"))
def test_check_reports_and_training_refuses_each_corruption(copy, corrupt):
    root, rs, cid = copy
    path, message = corrupt(root, rs, cid)
    problems, _ = check_dataset(root, "body", progress=False)
    assert [p for p in problems if p.startswith(str(path)) and message in p], "\n".join(problems)
    with pytest.raises(DatasetError) as refused:
        _training_pass(root)
    lines = _problems(refused.value)
    assert [p for p in lines if p.startswith(str(path)) and message in p], "\n".join(lines)
    assert all("\n" not in p for p in lines)


def test_an_empty_val_split_is_noted_not_refused(copy):
    """The sample grids then show train characters (and a few rendered characters need --splits 1,0,0)."""
    root, rs, cid = copy
    split_path(root, SUBSET, "val").write_text("")
    problems, summary = check_dataset(root, "body", progress=False)
    assert problems == [] and summary.endswith("; empty split lists: val")
    _training_pass(root)
    split_path(root, SUBSET, "val").unlink()
    _training_pass(root)
    with pytest.raises(DatasetProblems, match="human_rutileEB_val.csv: split list not found"):
        validate_splits(root, "body", ("train", "val"))  # where val is not optional


def test_a_pass_is_remembered_until_a_file_changes(copy, monkeypatch):
    root, rs, cid = copy
    (root / CACHE_NAME).unlink(missing_ok=True)
    _training_pass(root)
    assert (root / CACHE_NAME).is_file()
    calls = []
    monkeypatch.setattr("training.data.validate.characters_problems", lambda *a, **k: calls.append(a) or [])
    _training_pass(root)
    assert not calls  # remembered: no file is opened again
    _rgb_without_alpha(root, rs, cid)
    monkeypatch.undo()
    with pytest.raises(DatasetProblems, match="RGB PNG"):
        _training_pass(root)


def test_the_header_pass_leaves_decoding_to_the_full_pass(copy):
    root, rs, cid = copy
    path = rs.path("xyza", cid, "0001")
    path.write_bytes(path.read_bytes()[:60])  # the header is whole, the pixel data cut off
    _training_pass(root)
    with pytest.raises(DatasetProblems) as refused:
        _training_pass(root, full=True)  # a remembered header pass does not count
    assert refused.value.problems[0].startswith(f"{path}: unreadable or truncated PNG")


def test_the_characters_generate_and_measure_read_are_checked(copy):
    root, rs, cid = copy
    _missing_front_entry(root, rs, cid)
    chars = load_meta(rs)
    validate_characters(rs, [c for i, c in chars.items() if i != cid])
    with pytest.raises(DatasetProblems, match="no meta entry for ortho view 'front'"):
        validate_characters(rs, [chars[cid]])
