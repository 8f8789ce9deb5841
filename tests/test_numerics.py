"""What decides a member's last bits (memgen/numerics.py): the pin, its record, and a shard trained on 1 and
on 2 threads giving the same bytes."""

import importlib.util
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from memgen import numerics

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "numerics.py"


def _bench():
    spec = importlib.util.spec_from_file_location("numerics_bench", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_pin_fills_only_what_the_environment_leaves_unset():
    env = {"MKL_CBWR": "COMPATIBLE"}  # a user's own choice wins
    added = numerics.pin(env)
    assert env["MKL_CBWR"] == "COMPATIBLE" and "MKL_CBWR" not in added
    assert env["ATEN_CPU_CAPABILITY"] == "avx2" and env["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    native = {"MEMGEN_NUMERICS": "native"}
    assert numerics.pin(native) == {} and native == {"MEMGEN_NUMERICS": "native"}


def test_importing_memgen_pins_torch_before_it_loads():
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("the pin names x86-64 code paths")
    code = "import memgen, torch, json; from memgen.numerics import record; print(json.dumps(record()))"
    env = {"PATH": "/usr/bin:/bin"}  # nothing inherited: the pin alone decides
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    rec = __import__("json").loads(out.stdout)
    assert rec["mode"] == "portable" and rec["env"]["MKL_CBWR"] == "AVX2"
    # an x86-64 CPU without AVX2 would report less; every machine this project runs on has it
    assert rec["torch_cpu_capability"] == "AVX2", rec
    assert any("Math Kernel" in s for s in rec["torch_math"])


def test_record_never_imports_torch():
    code = "import sys, memgen.numerics as n; n.record(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow  # two fresh processes that load torch and train
def test_a_shard_on_one_and_on_two_threads_gives_the_same_bytes():
    bench = _bench()
    portable = bench.RUNS["portable (memgen's pin)"]
    _, _, one = bench.shard(portable, members=8, epochs=3, threads=1)
    _, _, two = bench.shard(portable, members=8, epochs=3, threads=2)
    assert one == two


@pytest.mark.slow
def test_the_cpu_code_path_changes_the_bits_the_pin_removes_it():
    """The reason for the pin: on an AVX512 machine, its native kernels and an AVX2 machine's give different
    members (the two-machine difference); the pinned run is the AVX2 machine's on both."""
    bench = _bench()
    cap, _, native = bench.shard(bench.RUNS["native"], members=8, epochs=3, threads=1)
    if cap != "AVX512":
        pytest.skip(f"this CPU dispatches to {cap}: no second code path to compare")
    _, _, avx2 = bench.shard(bench.RUNS["native, AVX2 machine"], members=8, epochs=3, threads=1)
    assert native != avx2
