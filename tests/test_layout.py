"""The layout's import rules (docs/ARCHITECTURE.md): stages import only earlier stages, library code
never imports the scripts, scripts never import each other. Read from the source with ast, so a lazy
import inside a function counts too."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STAGES = ("geometry", "data", "model", "metrics", "train", "infer", "eval")
ALLOWED = {
    "geometry": set(),
    "data": {"geometry"},
    "model": {"geometry"},
    "metrics": {"geometry", "data"},
    "train": {"geometry", "data", "model", "metrics", "infer.render", "infer.cameras"},
    "infer": {"geometry", "data", "model", "train"},
    "eval": {"geometry", "data", "model", "metrics", "train", "infer"},
}
# the one render path and its cameras sit below train (train's sample grids use them)
ALLOWED_MODULE = {"infer.render": {"geometry", "data", "model", "infer.cameras"},
                  "infer.cameras": {"geometry", "data", "model"}}


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name a file imports (``from a.b import c`` gives a.b and a.b.c)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage_of(module: str) -> str | None:
    """'training.infer.render.x' -> 'infer.render' when that key has its own rule, else 'infer'."""
    parts = module.split(".")
    if parts[0] != "training" or len(parts) < 2 or parts[1] not in STAGES:
        return None
    two = ".".join(parts[1:3])
    return two if two in ALLOWED_MODULE else parts[1]


def top_stage(key: str) -> str:
    return key.split(".")[0]


def library_files() -> list[Path]:
    return sorted((REPO / "training").rglob("*.py"))


def script_files() -> list[Path]:
    return sorted(p for d in ("_scripts", "_train") for p in (REPO / d).rglob("*.py"))


def test_every_library_module_is_in_a_stage():
    loose = [str(p.relative_to(REPO)) for p in library_files()
             if p.parent != REPO / "training" and stage_of(module_name(p)) is None]
    top = [p.name for p in (REPO / "training").glob("*.py") if p.name != "__init__.py"]
    assert not loose and not top, f"modules outside the stages: {loose + top}"


@pytest.mark.parametrize("path", library_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_library_imports_follow_the_stages(path):
    own = stage_of(module_name(path))
    if own is None:
        return
    allowed = ALLOWED_MODULE.get(own, ALLOWED[top_stage(own)])
    bad = []
    for name in imported_modules(path):
        if name.split(".")[0] in ("_scripts", "_train"):
            bad.append(name)
            continue
        target = stage_of(name)
        if target is None or top_stage(target) == top_stage(own) and own not in ALLOWED_MODULE:
            continue
        if target == own or target in allowed or top_stage(target) in allowed:
            continue
        bad.append(name)
    assert not bad, f"{module_name(path)} ({own}) may import {sorted(allowed) or 'no other stage'}, imports {sorted(bad)}"


@pytest.mark.parametrize("path", script_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_scripts_never_import_scripts(path):
    me = module_name(path)
    def is_other_script(name: str) -> bool:
        """A command module (one with a __main__ block) other than this one; helper modules such as
        _scripts/options.py hold shared definitions and may be imported."""
        if name.split(".")[0] not in ("_scripts", "_train") or name == me or name.startswith(me + "."):
            return False
        parts = name.split(".")
        for k in range(len(parts), 0, -1):  # 'a.b.c' may be module a.b's attribute c
            file = REPO.joinpath(*parts[:k]).with_suffix(".py")
            if file.is_file():
                return '__name__ == "__main__"' in file.read_text()
        return False

    bad = sorted(n for n in imported_modules(path) if is_other_script(n))
    assert not bad, f"{me} imports other scripts: {bad}"


def test_the_rule_catches_a_model_importing_data(tmp_path):
    """The checker itself: a model module importing the data stage is flagged."""
    src = tmp_path / "m.py"
    src.write_text("from training.data.layout import PRESETS\nimport torch\n")
    names = imported_modules(src)
    assert "training.data.layout" in names
    assert top_stage(stage_of("training.data.layout")) not in ALLOWED["model"]
