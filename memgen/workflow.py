"""The glue between Snakemake and memgen, and the only module that knows Snakemake's objects: the rules'
wildcards and workflow (rules/common.smk) and the `snakemake` object of a workflow script (memgen.provenance
reads the same attributes of the object `run` hands it). Torch-free: the rules import it when Snakemake
parses the workflow (tests/test_layering.py).

The rules' side: `wildcards_to` turns a planning function of memgen.params or memgen.paths into the named
function of a job's wildcards a rule's input or params take; `share_profile_resources` gives a profile's
settings of one rule to the rules that stand for it.

The scripts' side: what every workflow script shares (log to the rule's log, one-line errors, provenance,
no half files). A script under workflow_scripts/ is:

    from memgen.workflow import run
    from memgen.<stage>.jobs import write_x
    run(snakemake, lambda smk: write_x(...from smk...), config=..., seeds=...)
"""

import inspect
import logging
import sys
import time
from pathlib import Path

from memgen.errors import MemgenError, fail
from memgen.preempt import EXIT_CODE, Preempted


# ---- the rules' side ----
def wildcards_to(fn, *names, **fixed):
    """The named function of a job's wildcards `w` that a rule's input or params take (a rule needs a named
    function, not a lambda): it returns fn(**fixed, name=w.name for each of `names`). Every argument goes
    by keyword, so `names` are fn's parameters that share their wildcard's name (dataset, arch, ens, ...);
    a pair ("group", int) converts that wildcard, which Snakemake gives as a string. Checked against fn's
    signature when the rule file is read, not when the first job asks, e.g.
    member_params = wildcards_to(mp.member, "dataset", "arch", "ens", config=config)."""
    spec = [(n, str) if isinstance(n, str) else n for n in names]
    try:
        inspect.signature(fn).bind(**fixed, **{n: None for n, _ in spec})
    except TypeError as e:
        raise TypeError(f"wildcards_to({fn.__qualname__}, {names}, {sorted(fixed)}): {e}") from None

    def of_wildcards(wildcards):
        return fn(**fixed, **{n: convert(getattr(wildcards, n)) for n, convert in spec})

    # no functools.wraps: Snakemake reads the returned function's own signature (which arguments it takes)
    of_wildcards.__name__ = fn.__name__
    of_wildcards.__qualname__ = f"wildcards_to({fn.__module__}.{fn.__qualname__})"
    of_wildcards.__doc__ = f"{fn.__module__}.{fn.__qualname__} of the wildcards {[n for n, _ in spec]}"
    return of_wildcards


def share_profile_resources(workflow, rule: str, aliases: list[str]) -> None:
    """The profile's `set-resources`/`set-threads` entry for `rule` also for the rules `aliases` (the member
    rules members_<first>: a profile names rules, and their names follow shard_size, rules/ensemble.smk).

    Snakemake has no public way to do this: it reads its parsed tables as each rule is defined, so they are
    extended here, before the member rules are. Where they are missing or shaped otherwise (another
    Snakemake), planning stops rather than run member jobs without their GPU, memory and time limit."""
    settings = getattr(workflow, "resource_settings", None)
    for attr, option in (
        ("_parsed_overwrite_resources", "set-resources"),
        ("_parsed_overwrite_threads", "set-threads"),
    ):
        table = getattr(settings, attr, None)
        if not isinstance(table, dict):
            raise fail(
                f"this Snakemake has no dict workflow.resource_settings.{attr}, through which memgen gives "
                f"the profile's `{option}` of `{rule}` to the rules {', '.join(aliases)}",
                "use the Snakemake of requirements.lock (snakemake==9.27.1), or adapt "
                "memgen.workflow.share_profile_resources to this version",
            )
        if rule in table:
            for name in aliases:
                table.setdefault(name, table[rule])


# ---- the scripts' side ----


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
