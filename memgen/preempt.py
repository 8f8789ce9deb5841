"""Stop training cleanly when the job is about to end: SLURM time limit, requeue, scancel, preemption.

SLURM announces the end of a job with a signal: SIGTERM at the time limit, on `scontrol requeue`, on
`scancel` and on preemption (then SIGKILL after the cluster's KillWait, 30 s by default), and, when the
profile asks (`--signal=TERM@300`), a SIGTERM that many seconds before the time limit. While a training
loop runs inside `stop_on_signals()`, such a signal only sets a flag; the loop looks at it after each
epoch, saves its resumable state (memgen.ensemble.resume) and raises Preempted. The workflow
script then exits with EXIT_CODE, Snakemake sees a failed job and retries it (profiles/slurm: `retries`), and
the next attempt resumes from the saved state: results are identical to an uninterrupted run on CPU.

Why SIGTERM and not SIGUSR1 (the usual `--signal=B:USR1@N`): under the SLURM executor plugin the training
runs as a child of a second Snakemake started by `srun`. `B:` signals only the batch shell, which dies and
takes the job with it; without `B:` every process of the step is signalled, and Snakemake has no handler
for SIGUSR1, so it dies at once and its job fails under the training (seen on the CI cluster: "srun:
error: task 0: User defined signal 1"). Snakemake handles SIGTERM by waiting for its running job, so the
training gets to save and report. SIGUSR1 is still caught here, for jobs that run memgen without
Snakemake in between.
"""

import contextlib
import signal
from collections.abc import Iterator

# EX_TEMPFAIL (sysexits.h): "try again later" - the job stopped on purpose and the next attempt resumes.
EXIT_CODE = 75
SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class Preempted(Exception):
    """Training stopped on a signal after saving its resumable state; the next attempt continues it."""


class StopFlag:
    """Set by a signal handler; true once a stop was asked. Holds the signal's name for the log."""

    def __init__(self) -> None:
        self.signal: str | None = None

    def __bool__(self) -> bool:
        return self.signal is not None

    def set(self, signum, frame=None) -> None:
        # Only a flag: a handler runs between two bytecodes of the training loop, where saving a
        # half-updated model or optimizer would store a state no uninterrupted run ever had.
        self.signal = signal.Signals(signum).name


@contextlib.contextmanager
def stop_on_signals(signals=SIGNALS) -> Iterator[StopFlag]:
    """Catch `signals` as a StopFlag while the block runs; the previous handlers come back after it, so
    a signal during prediction or writing outputs ends the process as usual (outputs are written last
    and atomically, and the resume state stays until they are all written)."""
    flag = StopFlag()
    previous = {s: signal.signal(s, flag.set) for s in signals}
    try:
        yield flag
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
