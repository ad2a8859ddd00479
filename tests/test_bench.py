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


def test_compare_section_times_two_checkouts_side_by_side():
    """The compare section's whole path at the tiny preset, this checkout against itself (body takes minutes)."""
    from _scripts.bench_compare import bench_compare

    result = bench_compare(REPO, rounds=1, timed=1, configs=("preset",), preset="tiny")
    for step in ("G", "D"):
        entry = result[f"preset_{step}_step"]
        assert entry["against"]["median_s"] > 0 and entry["ours"]["peak_rss_gb"] > 0 and entry["speedup"] > 0


def test_compare_needs_the_other_checkout():
    from click.testing import CliRunner

    from _scripts.bench import main

    result = CliRunner().invoke(main, ["compare"])
    assert result.exit_code == 2 and "--against" in result.output


def test_compare_original_refuses_a_path_that_is_not_the_original(tmp_path):
    """--original on a folder without the original's run config: one Error line, exit status 2, nothing timed."""
    from click.testing import CliRunner

    from _scripts.bench import main

    result = CliRunner().invoke(main, ["compare", "--original", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: {tmp_path} is not a checkout of the original NOVA-3D: "
        "_configs/nova_human/human_multi_view_panic3d_mask_encoder_attention_train_4gpu.sh is missing"]


def test_compare_original_names_the_module_that_does_not_import(tmp_path):
    """A checkout whose modules need something the interpreter lacks: the error names the module."""
    from click.testing import CliRunner

    from _scripts.bench import main
    from _scripts.bench_original_step import RUN_CONFIG, TRAINER

    for rel in (RUN_CONFIG, TRAINER):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    (tmp_path / "_databacks").mkdir()
    (tmp_path / "_databacks" / "lustrous_renders_v1.py").write_text("import no_such_module_for_the_bench_test\n")
    result = CliRunner().invoke(main, ["compare", "--original", str(tmp_path), "--python", sys.executable])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: the original's modules do not import")
    assert "missing module 'no_such_module_for_the_bench_test'" in lines[0]


def test_compare_original_usage_errors(tmp_path):
    from click.testing import CliRunner

    from _scripts.bench import main

    both = CliRunner().invoke(main, ["compare", "--original", str(tmp_path), "--against", str(tmp_path)])
    assert both.exit_code == 2 and "either --against" in both.output
    preset = CliRunner().invoke(main, ["compare", "--original", str(tmp_path), "--config", "preset"])
    assert preset.exit_code == 2 and "paper config only" in preset.output


def test_original_run_flags_skip_comments(tmp_path):
    """The run config's flags are read from its command, not from its commented-out alternatives."""
    from _scripts.bench_original_step import RUN_CONFIG, run_flags

    config = tmp_path / RUN_CONFIG
    config.parent.mkdir(parents=True)
    config.write_text("python3 -m trainer \\\n    --cond_mode=a.b_4 \\\n    --cbase_g=32768 --cmax_g=512 \\\n\n"
                      "    # --cond_mode=ortho_front.add_shuffle2 \\\n")
    assert run_flags(tmp_path) == {"cond_mode": "a.b_4", "cbase_g": "32768", "cmax_g": "512"}
