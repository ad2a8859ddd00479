"""The benchmark CLI runs end to end at its smallest size and prints the JSON it promises."""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ops_bench_tiny_prints_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, "-m", "_scripts.bench", "ops", "--size", "tiny", "--repeats", "1", "--device", "cpu",
           "--out", str(out)]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed == json.loads(out.read_text())
    env = printed["env"]
    for key in ("torch", "device", "device_name", "cpu_threads", "size", "repeats"):
        assert key in env
    assert env["device"] == "cpu" and env["size"] == "tiny"
    sampler = printed["ops"]["triplane_sampler"]
    assert sampler["sizes"]["plane_sets"] == 2 and sampler["sizes"]["points_per_set"] == 8 * 8 * 8
    for phase in ("forward", "forward_backward"):
        timing = sampler[phase]
        assert timing["ref_ms"] > 0
        assert timing["cuda_ms"] is None and timing["ref_over_cuda"] is None and "not run" in timing["cuda"]
    for name in ("bias_act", "upsample2d", "downsample2d"):  # timed, or reported as not available yet
        entry = printed["ops"][name]
        assert entry.get("status") == "not available" or entry["forward"]["ref_ms"] > 0


def test_pipeline_sections_report_speed_and_sizes():
    from click.testing import CliRunner

    from _scripts.bench import main

    result = CliRunner().invoke(main, ["data", "--device", "cpu", "--size", "tiny"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{"):])["data"]
    assert data["characters_per_s"] > 0 and data["sizes"]["views"] == 21
    result = CliRunner().invoke(main, ["infer", "--device", "cpu", "--size", "tiny"])
    assert result.exit_code == 0, result.output
    infer = json.loads(result.output[result.output.index("{"):])["infer"]["tiny"]
    assert infer["frames"] == 2 and infer["frames_per_s"] > 0 and infer["seconds_per_mesh"] > 0


def test_synth_section_reports_characters_per_minute_per_resolution():
    from click.testing import CliRunner

    from _scripts.bench import main

    result = CliRunner().invoke(main, ["synth", "--device", "cpu", "--size", "tiny"])
    assert result.exit_code == 0, result.output
    synth = json.loads(result.output[result.output.index("{"):])["synth"]
    assert synth["sizes"]["res"] == [32] and synth["mesh_build_ms_per_character"] > 0
    assert synth["res32"]["characters_per_min"] > 0 and 0 < synth["res32"]["mesh_build_share"] < 1
