"""The CPU host-loop tests of the CUDA kernel math skip without a compiler on a developer's machine,
but fail under CI, which has one: a silently skipped kernel check would look like a pass."""
import pathlib

import pytest
from _pytest.outcomes import Failed, Skipped

from host_math import build_host_module

SOURCE = pathlib.Path(__file__).resolve().parent / "host" / "bias_act_host.cpp"


def test_missing_compiler_skips_outside_ci(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-nova3d")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(Skipped, match="no C\\+\\+ compiler"):
        build_host_module("policy_probe", SOURCE)


def test_missing_compiler_fails_under_ci(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-nova3d")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(Failed, match="CI=true but no C\\+\\+ compiler"):
        build_host_module("policy_probe", SOURCE)
