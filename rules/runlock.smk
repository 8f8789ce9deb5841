# One run at a time per results folder (memgen/runlock.py says why Snakemake's own lock is not enough).
# Every invocation notes a live holder at once (dry runs too); a real run takes the lock in `onstart`, which
# Snakemake calls only for real runs, in the main process (never in SLURM jobs), after planning the jobs.
import sys

from memgen import runlock
from memgen.errors import MemgenError

if workflow.is_main_process:
    _held = runlock.note_if_held()
    if _held:
        print(_held, file=sys.stderr)


onstart:
    try:
        runlock.acquire()
    except MemgenError as e:
        sys.exit(f"memgen: {e}")


onsuccess:
    runlock.release(runlock.lock_path())


onerror:
    runlock.release(runlock.lock_path())
