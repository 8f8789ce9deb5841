#!/usr/bin/env bash
# One device check on one GPU, about 5 min on an H200 and at most 8:
#   1. the tests marked cuda (tests/test_cuda.py): none may skip;
#   2. the tiny workflow (tests/configs/tiny.yaml) through Snakemake on CUDA with resnet18 on synthetic
#      CIFAR-shaped data written in CIFAR-10's on-disk format: 16 members (shards of 8, 4 concurrent
#      members), their scores, and one utility run;
#   3. benchmarks/gpu_members.py: bare loop vs memgen one member at a time vs concurrent members;
#   4. benchmarks/loader_throughput.py: the streaming loader's CPU decode vs nvJPEG decode (about 1 min);
#   5. if time is left, the same benchmark as 3 with torch.compile (informative: it cannot fail the check).
# Ends with a summary (what passed, images/s); exits non-zero when a step failed or no GPU is visible.
# Logs and summary.txt go to $OUT when it is set, else to a new temporary folder (printed).
#
#   bash benchmarks/device_check.sh
#
# Knobs (environment): PYTHON (default .venv/bin/python, else python3); DEVICE_CHECK_ALLOW_CPU=1 with
# DEVICE_CHECK_ARCH=cnn runs steps 2-3 on CPU to check the script itself (figures mean nothing then).
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
LOGS="${OUT:-$(mktemp -d -t device_check.XXXXXX)}"
mkdir -p "$LOGS"
SUMMARY="$LOGS/summary.txt"
: >"$SUMMARY"
PY="${PYTHON:-}"
[ -n "$PY" ] || { [ -x .venv/bin/python ] && PY=.venv/bin/python || PY=python3; }
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" # memgen from this checkout, also in Snakemake's jobs
ARCH="${DEVICE_CHECK_ARCH:-resnet18}"
BUDGET=480 # seconds: the whole check
T0=$(date +%s)
FAILED=0

say() { echo "$*" | tee -a "$SUMMARY"; }
elapsed() { echo $(($(date +%s) - T0)); }

# step NAME LIMIT_S CMD...: runs CMD with a time limit, its output in $LOGS/NAME.log; records PASS/FAIL
step() {
    local name=$1 limit=$2 start rc
    shift 2
    start=$(date +%s)
    echo "== $name (limit ${limit} s) ..."
    # timeout signals the whole process group (Snakemake and its jobs too); KILL if TERM is not enough
    timeout -k 15 "$limit" "$@" >"$LOGS/$name.log" 2>&1
    rc=$?
    STEP_S=$(($(date +%s) - start))
    if [ $rc -eq 0 ]; then
        STEP_OK=1
    else
        STEP_OK=0
        [ $rc -eq 124 ] || [ $rc -eq 137 ] && echo "timed out after ${limit} s" >>"$LOGS/$name.log"
        echo "--- last lines of $LOGS/$name.log:"
        tail -n 30 "$LOGS/$name.log"
    fi
    return $rc
}

echo "device check: logs in $LOGS"

# ---- 0. a GPU is visible (otherwise the cuda tests would all skip and read as passed)
if ! GPU=$("$PY" -c "import torch; assert torch.cuda.is_available(); print(torch.cuda.get_device_name(0))" 2>&1); then
    if [ "${DEVICE_CHECK_ALLOW_CPU:-0}" != 1 ]; then
        say "FAIL  no GPU visible to $PY (torch.cuda.is_available() is False): nothing checked"
        say "device check: FAILED"
        exit 2
    fi
    GPU=cpu
fi
say "device: $GPU ($("$PY" -c 'import torch; print("torch", torch.__version__)'))"

# ---- 1. the tests marked cuda
if [ "$GPU" != cpu ]; then
    step pytest_cuda 110 "$PY" -m pytest -q -m cuda -rs -p no:cacheprovider tests
    tally=$(tail -n 1 "$LOGS/pytest_cuda.log")
    if [ "$STEP_OK" = 1 ] && ! grep -q "skipped" <<<"$tally"; then
        say "PASS  pytest -m cuda: $tally"
    else
        say "FAIL  pytest -m cuda: $tally (a skip on a GPU is a failure; see pytest_cuda.log)"
        FAILED=1
    fi
fi

# ---- 2. the tiny workflow on the device: members, scores, one utility run
WORK=$(mktemp -d -t device_check_wf.XXXXXX) # checkpoints are large: not under $LOGS
step workflow 200 "$PY" - "$WORK" "$LOGS" "$ARCH" "$GPU" <<'EOF'
import json, os, pickle, subprocess, sys, time
from pathlib import Path

import numpy as np

sys.path.insert(0, "tests")
from workflow_helpers import copy_workflow, tiny_config  # noqa: E402

from memgen.provenance import read_record  # noqa: E402
from memgen.variants import removal_id  # noqa: E402

work, logs, arch, gpu = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
# Synthetic CIFAR-shaped data in CIFAR-10's on-disk format (memgen's cifar10 loader reads it as it is):
# 10 classes, each a smooth random pattern plus noise, so members learn and canaries can be fit.
rng = np.random.default_rng(0)
protos = rng.normal(size=(10, 3, 8, 8)).repeat(4, axis=2).repeat(4, axis=3)


def draw(n):
    y = rng.integers(0, 10, size=n)
    x = np.clip(128 + 40 * (protos[y] + 0.8 * rng.normal(size=(n, 3, 32, 32))), 0, 255).astype(np.uint8)
    return {"data": x.reshape(n, 3072), "labels": y.tolist()}


data = work / "data" / "synth" / "cifar-10-batches-py"
data.mkdir(parents=True)
for name, n in [*((f"data_batch_{b}", 200) for b in range(1, 6)), ("test_batch", 250)]:
    (data / name).write_bytes(pickle.dumps(draw(n), protocol=2))
(data / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{j}" for j in range(10)]}, protocol=2))

cfg = tiny_config()
cfg["datasets"] = {"synth": {"kind": "cifar10", "root": str(data.parent), "archs": {arch: {}}}}
cfg["training"].update(
    epochs=1 if gpu == "cpu" else 6, batch_size=64, lr_peak=0.1, weight_decay=5e-4, crop_padding=4, flip=True,
    checkpoint_every=2, batched=False, concurrent_members=4,
)
cfg.update(
    masks={"block_size": 16}, shard_size=8, ensembles={"rate0.5": {"rate": 0.5, "members": 16}},
    scores={"min_out": 2}, analysis={"reference": "rate0.5", "stability_sizes": [2, 4, 8]},
    utility={"seeds": 2, "shard_size": 2, "duplicate_threshold": 0.99},
    ablation={"baseline": "rate0.5", "high_rate": "rate0.5", "table3": "baseline"},
)
wd = copy_workflow(work / "wf", cfg)
base = f"results/synth/{arch}"
run = f"{base}/utility/{removal_id(cfg, 'baseline')}/memorized/0/0/checkpoint.pt"  # one utility run's job
targets = [f"{base}/rate0.5/scores.csv", run]
t = time.time()
cores = str(min(8, os.cpu_count() or 1))  # two member jobs (2 threads each) and the rest share one GPU
cmd = [sys.executable, "-m", "snakemake", "--cores", cores, "--directory", str(wd), "--snakefile", str(wd / "Snakefile")]
with open(logs / "snakemake.log", "w") as f:
    rc = subprocess.run(cmd + targets, cwd=wd, stdout=f, stderr=subprocess.STDOUT).returncode
seconds = time.time() - t
subprocess.run(["cp", "-r", str(wd / "logs"), str(logs / "workflow_logs")])  # the rules' logs (text)
if rc != 0:
    sys.exit(f"snakemake failed ({rc}): see snakemake.log and workflow_logs/")
members = sorted((wd / base / "rate0.5" / "members").rglob("checkpoint.pt"))
# A member's provenance record sits on its outputs.npz (the checkpoint is its resume state).
records = [read_record(p.with_name("outputs.npz")) for p in members] + [read_record(wd / run)]
devices = {(r or {}).get("device") for r in records}
rows = sum(1 for _ in open(wd / base / "rate0.5" / "scores.csv")) - 1
problems = []
if len(members) != 16:
    problems.append(f"{len(members)} member checkpoints, not 16")
if rows != 1000:
    problems.append(f"scores.csv has {rows} rows, not 1000")
if devices != {"cpu" if gpu == "cpu" else "cuda"}:
    problems.append(f"trained on {devices}")
print(json.dumps({"seconds": round(seconds), "members": len(members), "score_rows": rows, "devices": sorted(devices)}))
sys.exit("; ".join(problems) or 0)
EOF
if [ "$STEP_OK" = 1 ]; then
    say "PASS  workflow on $GPU ($ARCH, synthetic CIFAR-shaped data): $(tail -n 1 "$LOGS/workflow.log") in ${STEP_S} s"
else
    say "FAIL  workflow: $(tail -n 1 "$LOGS/workflow.log") (see workflow.log, snakemake.log, workflow_logs/)"
    FAILED=1
fi
rm -rf "$WORK"

# ---- 3. the benchmark (5. with torch.compile if the budget allows, informative only, below)
DEV=cuda
BENCH_ARGS=()
[ "$GPU" = cpu ] && DEV=cpu && BENCH_ARGS=(--n 512 --epochs 1)
summarise() { # the benchmark's JSON in two lines: images/s per mode, the ratios
    "$PY" - "$1" <<'EOF'
import json, sys

d = json.load(open(sys.argv[1]))
print("; ".join(f"{r['mode']}: " + (f"{r['images_s']:,.0f} img/s" if "images_s" in r else "FAILED") for r in d["rows"]))
print("ratios: " + (", ".join(f"{k} = {v:.2f}" for k, v in d["ratios"].items()) or "none"))
EOF
}
step benchmark 150 "$PY" benchmarks/gpu_members.py --device $DEV ${BENCH_ARGS[@]+"${BENCH_ARGS[@]}"} --json "$LOGS/benchmark.json"
if [ "$STEP_OK" = 1 ]; then
    say "PASS  benchmark (${STEP_S} s):"
else
    say "FAIL  benchmark (see benchmark.log):"
    FAILED=1
fi
# the benchmark's table (images/s, members per GPU-hour, ratios and goals), without torch's warnings
grep -vE '^[WI][0-9]{4} |[Ww]arning' "$LOGS/benchmark.log" | sed 's/^/        /' | tee -a "$SUMMARY"

# ---- 4. the streaming loader: images/s of CPU decode + crop vs the GPU (nvJPEG) path; a failed path fails
if [ "$GPU" != cpu ]; then
    step loader 150 "$PY" benchmarks/loader_throughput.py --images 2048 --batch-size 64 --workers 1,4,16
    if [ "$STEP_OK" = 1 ]; then say "PASS  loader throughput (${STEP_S} s):"; else say "FAIL  loader throughput (see loader.log):" && FAILED=1; fi
    grep -vE '^[WI][0-9]{4} |[Ww]arning' "$LOGS/loader.log" | sed 's/^/        /' | tee -a "$SUMMARY"
fi

if [ $(($(elapsed) + 100)) -le $BUDGET ]; then
    if step benchmark_compile 90 "$PY" benchmarks/gpu_members.py --device $DEV --epochs 2 \
        ${BENCH_ARGS[@]+"${BENCH_ARGS[@]}"} --modes b --compile --json "$LOGS/benchmark_compile.json"; then
        say "INFO  compile: $(summarise "$LOGS/benchmark_compile.json" | tr '\n' ' ')"
    else
        say "INFO  compile: did not finish in 90 s or failed (benchmark_compile.log); not a failure of the check"
    fi
else
    say "INFO  compile: skipped, $(elapsed) s of the ${BUDGET} s budget used"
fi

say "took $(elapsed) s"
if [ $FAILED = 0 ]; then say "device check: PASSED"; else say "device check: FAILED"; fi
echo "summary: $SUMMARY"
exit $FAILED
