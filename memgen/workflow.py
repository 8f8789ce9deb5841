"""What every workflow script shares: log to the rule's log, one-line errors, provenance, no half files.

A script under workflow_scripts/ is:

    from memgen.workflow import run
    from memgen.<stage>.jobs import write_x
    run(snakemake, lambda smk: write_x(...from smk...), config=..., seeds=...)
"""

import logging
import sys
import time
from pathlib import Path

from memgen.errors import MemgenError
from memgen.preempt import EXIT_CODE, Preempted


def setup_logging(log_path: str | None) -> None:
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", handlers=handlers, force=True
    )


def _outputs(smk) -> list[str]:
    return [str(p) for p in smk.output]


def run(smk, work, *, config: dict | None = None, seeds: dict | None = None, device: str = "cpu") -> None:
    """Run `work(smk)`; on a MemgenError print one line, remove partial outputs and exit 1.

    `work` may return a dict of extra provenance (e.g. {"device": "cuda"}).
    """
    log_path = smk.log[0] if len(smk.log) else None
    setup_logging(log_path)
    log = logging.getLogger(f"memgen.{smk.rule}")
    if (
        "torch" in sys.modules
    ):  # one BLAS/OpenMP thread pool per granted core: oversubscribing 2 cores is ~10x slower
        sys.modules["torch"].set_num_threads(max(1, int(smk.threads)))
    started = time.time()
    try:
        extra = work(smk)
        extra = extra if isinstance(extra, dict) else {}  # stage functions may return their table
    except MemgenError as e:
        for path in _outputs(smk):  # nothing half-written may be taken as done by a later rule
            Path(path).unlink(missing_ok=True)
        log.error("memgen: error in rule %s: %s", smk.rule, e)
        sys.exit(1)
    except Preempted as e:  # SLURM is ending the job: the state is saved; a retry of this job resumes
        for path in _outputs(smk):
            Path(path).unlink(missing_ok=True)
        log.warning("memgen: rule %s stopped early (exit %d, a retry resumes): %s", smk.rule, EXIT_CODE, e)
        sys.exit(EXIT_CODE)
    except Exception:  # a bug, not bad input: keep the traceback, and in the rule's log too
        log.exception("memgen: unexpected error in rule %s (please report it)", smk.rule)
        raise
    missing = [p for p in _outputs(smk) if not Path(p).exists()]
    if missing:
        log.error("memgen: rule %s did not write %s", smk.rule, missing)
        sys.exit(1)
    from memgen.provenance import write_job_records

    params = {k: v for k, v in smk.params.items()}
    write_job_records(
        smk,
        config=config if config is not None else params,
        seeds=seeds or extra.get("seeds", {}),
        device=extra.get("device", device),
        started=started,
        ended=time.time(),
    )
    log.info("rule %s done in %.1f s", smk.rule, time.time() - started)
