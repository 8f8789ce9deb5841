"""What decides a CPU run's last bits, and the pin that makes them the same on every x86-64 machine.

A digits shard's trained weights differ between ATen's AVX512 and AVX2 kernels and between MKL's code paths,
and not between 1 and 2 threads (benchmarks/numerics.py; docs/decisions.md: Portable numerics). Two machines
with different instruction sets therefore trained different members, and a removal set whose points sit one
held-out member from τ moved. memgen pins every library that dispatches on the CPU to its AVX2 path, which
every x86-64 CPU since 2013 has and which costs about nothing on an AVX512 machine, unless the environment
already names a path or MEMGEN_NUMERICS=native asks for each machine's fastest (and machine-dependent) one.
A variable only acts when set before torch loads, so `memgen` sets it on import (the Snakefile imports memgen,
and every job inherits the environment, SLURM's included); `record` says what each job actually ran with.
"""

import os
import platform
import sys

PINNED = {
    "ATEN_CPU_CAPABILITY": "avx2",  # ATen's vectorised kernels (elementwise, reductions, softmax)
    "MKL_CBWR": "AVX2",  # MKL's conditional numerical reproducibility: one code path for matmuls
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN (convolutions): no AVX512 / AMX kernels
}
SWITCH = "MEMGEN_NUMERICS"  # "portable" (default) or "native"


def pin(environ=os.environ) -> dict:
    """Set the PINNED variables the environment does not set already; returns those it set."""
    if environ.get(SWITCH, "portable") == "native":
        return {}
    added = {k: v for k, v in PINNED.items() if k not in environ}
    environ.update(added)
    return added


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), None)
    except OSError:
        return None


def record() -> dict:
    """What decided this process's numerics: the variables, the CPU, and (when torch is loaded) the kernel
    path it dispatches to and the math libraries it was built with. Never imports torch itself."""
    out = {
        "mode": os.environ.get(SWITCH, "portable"),
        "env": {k: os.environ.get(k) for k in PINNED},
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        out["torch_threads"] = torch.get_num_threads()
        built = torch.__config__.show().splitlines()
        out["torch_math"] = [s.strip(" -") for s in built if "Math Kernel" in s or "MKL-DNN" in s]
    return out
