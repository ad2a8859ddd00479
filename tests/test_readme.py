"""Every command in README.md runs as written: modules exist and accept the flags the README uses,
shell run configs parse and launch the trainer (dry run), make targets exist."""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def _commands() -> list[str]:
    blocks = re.findall(r"```(?:bash)?\n(.*?)```", README, flags=re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [line.split(" #")[0].strip() for line in lines if line and not line.startswith(("#", "|", "`"))]


def _argv(command: str) -> list[str]:
    command = re.sub(r"\s*>>?\s*\S+\s*&?$", "", command).rstrip("&").strip()
    argv = shlex.split(command)
    return argv[1:] if argv and argv[0] == "nohup" else argv


PY_MODULES = sorted({c for c in _commands() if " -m " in c and (c.startswith(("python", "nohup python")))})
SHELL_CONFIGS = sorted({c for c in _commands() if c.startswith("nohup sh ")})


def test_readme_has_the_commands_users_know():
    assert "make demo" in README and "make test" in README
    assert len(PY_MODULES) >= 10 and len(SHELL_CONFIGS) == 2


@pytest.mark.parametrize("command", PY_MODULES)
def test_python_commands_accept_their_flags(command):
    argv = _argv(command)
    module = argv[argv.index("-m") + 1]
    args = argv[argv.index("-m") + 2:]
    if module == "torch.distributed.run":  # torchrun spelled out: check the trainer it launches
        module, args = args[args.index("-m") + 1], []
    sub = [a for a in args[:1] if not a.startswith("-")]  # e.g. `synth merge`
    result = subprocess.run([sys.executable, "-m", module, *sub, "--help"], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    for flag in (a.split("=")[0] for a in args if a.startswith("--")):
        assert flag in result.stdout, f"{module} --help does not mention {flag}"


@pytest.mark.parametrize("command", SHELL_CONFIGS)
def test_shell_run_configs_launch_the_trainer(command, tmp_path):
    script = REPO / _argv(command)[1]
    assert script.is_file()
    env = dict(os.environ, NGPUS="1", PYTHON=sys.executable, PROJECT_DN=str(REPO), DATA=str(tmp_path))
    result = subprocess.run(["sh", str(script), "--dry-run", "--device", "cpu"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "TrainConfig(" in result.stdout and f"data='{tmp_path}'" in result.stdout


def test_torchrun_and_make_lines():
    for command in _commands():
        if command.startswith("torchrun"):
            assert "-m _train.train" in command
        if command.startswith("make "):
            target = command.split()[1]
            assert re.search(rf"^{target}:", (REPO / "Makefile").read_text(), flags=re.M), target
