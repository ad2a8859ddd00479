import json
import shutil

import pytest
from click.testing import CliRunner
from PIL import Image

from _scripts.data.check import main as check_main
from training.data.layout import Renderset, read_split, split_path


def _run(root, *args):
    result = CliRunner().invoke(check_main, [str(root), *args])
    return result.exit_code, result.output.strip().splitlines()


@pytest.fixture
def copy(body_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(body_root, root)
    rs = Renderset(root, "human_rutileE")
    return root, rs, read_split(split_path(root, "human_rutileEB", "train"))[0]


def test_good_dataset_passes_with_one_line(body_root, head_root):
    code, lines = _run(body_root)
    assert code == 0 and len(lines) == 1 and "OK, 6 characters" in lines[0]
    code, lines = _run(head_root, "--preset", "head", "--fast")
    assert code == 0 and "OK, 5 characters" in lines[0]


def _corrupt_missing(root, rs, cid):
    path = rs.path("rgb_mask", cid, "0001")
    path.unlink()
    return path, "missing file"


def _corrupt_truncated(root, rs, cid):
    path = rs.path("xyza", cid, "0000")
    path.write_bytes(path.read_bytes()[:100])
    return path, "unreadable or truncated"


def _corrupt_size(root, rs, cid):
    path = rs.path("ortho", cid, "left")
    Image.new("RGBA", (20, 20)).save(path)
    return path, "wrong size 20x20"


def _corrupt_json(root, rs, cid):
    rs.meta_path.write_text("{not json")
    return rs.meta_path, "unreadable meta json"


def _corrupt_meta_without_files(root, rs, cid):
    meta = json.loads(rs.meta_path.read_text())
    meta[rs.meta_key("rgb", cid, "0099")] = meta[rs.meta_key("rgb", cid, "0000")]
    rs.meta_path.write_text(json.dumps(meta))
    return rs.path("rgb", cid, "0099"), "missing file"


def _corrupt_file_without_meta(root, rs, cid):
    path = rs.path("rgb", cid, "0042")
    shutil.copy(rs.path("rgb", cid, "0000"), path)
    return path, "file without a meta entry"


def _corrupt_split(root, rs, cid):
    path = split_path(root, "human_rutileEB", "val")
    path.write_text(path.read_text() + "4242424242\n")
    return path, "id 4242424242 is not in the meta json"


@pytest.mark.parametrize("corrupt", [_corrupt_missing, _corrupt_truncated, _corrupt_size, _corrupt_json,
                                     _corrupt_meta_without_files, _corrupt_file_without_meta, _corrupt_split])
def test_each_check_fires_and_names_the_file(copy, corrupt):
    root, rs, cid = copy
    path, message = corrupt(root, rs, cid)
    code, lines = _run(root)
    assert code == 2  # bad input
    hits = [line for line in lines if line.startswith(str(path)) and message in line]
    assert hits, f"no line naming {path} with '{message}' in:\n" + "\n".join(lines)


def test_unknown_root_is_one_line_error(tmp_path):
    code, lines = _run(tmp_path)
    assert code == 2 and len(lines) == 1 and "no renderset" in lines[0]
