"""kill -9 during member training loses nothing but the time since the last resumable state.

A real Snakemake run is killed (SIGKILL to its whole process group) while a shard trains; the documented
rerun (docs/cluster.md; `snakemake --unlock`, then the same command) resumes from `resume-0.pt` and must
give byte-identical outputs and weights to an uninterrupted run (CPU, same seeds).
"""

import signal
import time

import numpy as np
import pytest
import torch
from workflow_helpers import copy_workflow, kill_group, snakemake, start, tiny_config

pytestmark = pytest.mark.workflow

SHARD = "results/digits/cnn/rate0.5/members/0"  # mask block 0; the job trains its slots 0-7


def _config():
    cfg = tiny_config()
    cfg["datasets"]["digits"]["archs"] = {"cnn": {}}
    # one model after another, saving every 4 epochs: the kill lands in model 0 (after its first save), so
    # 20 epochs leave 7+ models to resume through; 60 cost CI ~2 min more for the same proof
    cfg["training"].update(epochs=20, checkpoint_every=4, batched=False)
    return cfg


def _target(wd):
    return f"{SHARD}/7/outputs.npz"


def test_kill_9_then_rerun_gives_identical_outputs(tmp_path):
    killed = copy_workflow(tmp_path / "killed", _config())
    clean = copy_workflow(tmp_path / "clean", _config())
    proc = start(killed, _target(killed))  # as `snakemake` runs the rerun and the clean run
    resume = killed / SHARD / "resume-0.pt"
    deadline = time.time() + 240
    while not resume.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert resume.exists(), "training never saved a resumable state"
    time.sleep(0.3)  # let it get a little further into the shard
    kill_group(proc)
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / f"{SHARD}/7/outputs.npz").exists()

    snakemake(killed, "--unlock")
    snakemake(killed, _target(killed))
    log = (killed / "logs/digits/cnn/rate0.5/members/0/0.log").read_text()
    # killed mid-member: "model k: resumed at epoch e"; killed between members: "resumed: k of 8 ... trained"
    assert "resumed" in log, log[-2000:]
    assert not resume.exists(), "the resumable state should be removed once the shard is done"

    snakemake(clean, _target(clean))
    for slot in range(8):
        a = np.load(killed / f"{SHARD}/{slot}/outputs.npz")
        b = np.load(clean / f"{SHARD}/{slot}/outputs.npz")
        for key in b.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"slot {slot} {key}")
        wa = torch.load(killed / f"{SHARD}/{slot}/checkpoint.pt", weights_only=True)["state_dict"]
        wb = torch.load(clean / f"{SHARD}/{slot}/checkpoint.pt", weights_only=True)["state_dict"]
        for name in wb:
            assert torch.equal(wa[name], wb[name]), f"slot {slot} {name}"
