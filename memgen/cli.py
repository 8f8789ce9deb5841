"""The `memgen` command (also `python -m memgen`): tools around the workflow's artifacts.

Each subcommand is an `_add_<name>(subparsers)` that registers its arguments and sets `run` to a
function taking the parsed args and returning the exit code; add a command by adding one pair.
"""

import argparse
import json
import sys
from pathlib import Path

from memgen.errors import MemgenError
from memgen.proxies import NAMES as PROXY_NAMES

_EPILOG = """examples:
  memgen trace results/table1.csv            the chain of records behind Table 1; exit 1 if a file changed
  memgen trace results/digits/mlp/rate0.7/scores.csv --json > scores.trace.json
  python -m memgen trace results/table3.csv --root /scratch/memgen   (records' paths start at --root)

exit status: 0 all files match their records, 1 a file changed or is missing, 2 an input problem.
Package versions of this Python that differ from those recorded are listed at the end (not an error)."""


def _add_trace(sub) -> None:
    p = sub.add_parser(
        "trace",
        help="print what produced an artifact, back to its raw inputs, and flag files changed since",
        description=(
            "Follow the provenance sidecars (<file>.prov.json) from PATH back through every input:\n"
            "rule, wildcards, params, config values, seeds, code version, package versions, and the\n"
            "sha256 each file had when it was written and used, compared with the file now on disk."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", metavar="PATH", help="an artifact, e.g. results/table1.csv (relative to --root)")
    p.add_argument("--json", action="store_true", help="print the nodes as a JSON list instead of a tree")
    p.add_argument(
        "--root",
        default=".",
        help="the workflow's working directory, where records' paths and PATH start (default: .)",
    )
    p.set_defaults(run=_run_trace)


def _run_trace(args) -> int:
    from memgen.trace import exit_code, format_trace, trace

    nodes = trace(args.path, root=args.root)
    if args.json:
        print(json.dumps(nodes, indent=2))
    else:
        print(format_trace(nodes))
    return exit_code(nodes)


_VERIFY_EPILOG = """examples:
  memgen verify                         check results/ against its records; exit 1 if a file differs
  memgen verify -n                      also list the jobs a repair would rerun (runs nothing)
  memgen verify --repair --cores 8      rerun those jobs and what depends on them, then check again
  memgen verify --repair --configfile configs/paper.yaml -- --profile profiles/slurm
  memgen verify --records-only          records only, without asking Snakemake what `all` needs

each line: CHANGED (bytes differ from the record: truncated, edited, half-written), MISSING (record
without file), STALE (made from an input that has been remade or edited since), NOT BUILT (`all` needs it,
no file and no record), NO RECORD (`all` needs it, the file has no record), BAD RECORD (unreadable
sidecar); then the file, the rule that makes it, and why.
A repair reruns the job of each listed file through Snakemake (--forcerun FILE; a member's outputs.npz
reruns its members_<first> shard job) and every job downstream of it; options after -- go to Snakemake.
exit status: 0 all files match their records (after a repair: all repaired), 1 some differ, 2 an input
problem."""


def _add_verify(sub) -> None:
    p = sub.add_parser(
        "verify",
        help="check every artifact of a results folder against its provenance record; repair what differs",
        description=(
            "Check every file under the results folder that has a provenance sidecar (<file>.prov.json):\n"
            "its sha256 against the record, the recorded versions of its inputs against their own records,\n"
            "and that it exists; then ask Snakemake which files `all` needs that were never built.\n"
            "Snakemake itself misses a damaged file whose modification time is unchanged. With --repair,\n"
            "print the dry run of the jobs that make the listed files and what depends on them, run them,\n"
            "and check again. Run it in the workflow directory, with the config you run snakemake with."
        ),
        epilog=_VERIFY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--repair", action="store_true", help="rerun the jobs of the listed files, then verify again"
    )
    p.add_argument(
        "-n", "--dry-run", action="store_true", help="list the jobs a repair would rerun; run nothing"
    )
    p.add_argument(
        "--results", default="results", metavar="DIR", help="the results folder (default: results)"
    )
    p.add_argument(
        "--cores", type=int, default=2, help="local CPU cores for the repair's Snakemake (default 2)"
    )
    p.add_argument("--configfile", nargs="+", default=[], metavar="FILE", help="as for snakemake")
    p.add_argument(
        "--records-only",
        action="store_true",
        help="check the records only: do not ask Snakemake which files `all` needs (no NOT BUILT lines)",
    )
    p.add_argument(
        "--root",
        default=".",
        help="the workflow's working directory, where records' paths start (default: .)",
    )
    p.set_defaults(run=_run_verify)


def _run_verify(args) -> int:
    from memgen.verify import verify

    return verify(
        args.root,
        args.results,
        repair=args.repair,
        dry_run=args.dry_run,
        cores=args.cores,
        configfiles=args.configfile,
        records_only=args.records_only,
        extra=args.passthrough,
    )


_AUDIT_EPILOG = """examples:
  memgen audit photos/                        photos/train/<class>/*.jpg (test/<class>/ optional)
  memgen audit photos/ --no-utility               the memorized set and gallery only (no retraining)
  memgen audit photos/ --full                     the paper's whole study on the folder
  memgen audit photos/ --proxy                    a few trainings: a memorization proxy, not the ensemble
  memgen audit photos/ --arch cnn --image-size 32 --out audit-photos
  memgen audit photos/ --profile profiles/slurm           on a SLURM cluster
  memgen audit photos/ -- --forcerun members_0            extra Snakemake options after --

outputs (under --out): config.yaml, results/<name>/<arch>/memorized.csv (the flagged files, what held-out
models predict instead), results/report.html (summary first, then every table and figure), logs/.
Rerun the same command to continue after a stop: only what is missing or stale is recomputed."""


def _add_audit(sub) -> None:
    p = sub.add_parser(
        "audit",
        help="list the images of your own folder that models memorize, and whether they help",
        description=(
            "Audit an image folder: write a config for it (the default study's settings, one dataset)\n"
            "and run only what the answer needs: the high-rate ensemble (rate 0.95), canaries and the\n"
            "null threshold, the fit check, the memorized set named by file, duplicates between train and\n"
            "test, and Table 3 (accuracy without the memorized points vs without as many random ones).\n"
            "It prints the plan (images, members, estimated time) before training and a line per finished\n"
            "stage. A folder with only train/ is accepted: a stratified test split is made and recorded."
        ),
        epilog=_AUDIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "folder", metavar="DIR", help="image folder: DIR/train/<class>/*, optionally DIR/test/<class>/*"
    )
    p.add_argument("--out", help="output folder (default: ./audit-<name>)")
    p.add_argument("--name", help="dataset name used in paths (default: the folder's name)")
    p.add_argument(
        "--arch", default="mlp", help="mlp, cnn, resnet18, resnet50, vgg19_bn, mobilenetv2_100 (default mlp)"
    )
    p.add_argument(
        "--image-size",
        type=int,
        help="side in pixels images are resized to (default: the images' typical side, at most 32)",
    )
    p.add_argument(
        "--test-fraction",
        type=float,
        default=0.2,
        help="test share per class when DIR has no test/ (default 0.2)",
    )
    _add_audit_scope(p)
    p.add_argument(
        "--members",
        type=int,
        help="members of the rate-0.95 ensemble (default 256, a multiple of 64): fewer is quicker, coarser",
    )
    p.add_argument("--epochs", type=int, help="training epochs of every model (default: the recipe's)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--cores", type=int, default=2, help="local CPU cores for Snakemake (default 2)")
    where.add_argument("--profile", help="a Snakemake profile instead, e.g. profiles/slurm")
    p.add_argument(
        "-n", "--dry-run", action="store_true", help="write the config and list the jobs; train nothing"
    )
    p.set_defaults(run=_run_audit)


def _add_audit_scope(p) -> None:
    """What the audit runs: the answer (default), --full, --no-utility or --proxy."""
    scope = p.add_mutually_exclusive_group()
    scope.add_argument(
        "--full",
        action="store_true",
        help="run the paper's whole study (every ensemble, leave-one-out, Table 1)",
    )
    scope.add_argument(
        "--no-utility",
        action="store_true",
        help="skip Table 3's retraining: the memorized set and gallery only",
    )
    scope.add_argument(
        "--proxy",
        nargs="?",
        const="learning_speed",
        choices=list(PROXY_NAMES),
        metavar="PROXY",
        help="no ensemble: train a few models, flag images by a memorization proxy against the canaries "
        f"(memorized_proxy.csv), and say how well it agreed with the ensemble: {', '.join(PROXY_NAMES)} "
        "(default learning_speed)",
    )


def _run_audit(args) -> int:
    from memgen.audit import run_audit

    return run_audit(
        args.folder,
        out=args.out,
        name=args.name,
        arch=args.arch,
        image_size=args.image_size,
        test_fraction=args.test_fraction,
        cores=args.cores,
        profile=args.profile,
        dry_run=args.dry_run,
        extra=args.passthrough,
        scope="full"
        if args.full
        else "memorized"
        if args.no_utility
        else "proxy"
        if args.proxy
        else "answer",
        members=args.members,
        epochs=args.epochs,
        proxy=args.proxy,
    )


_PLAN_EPILOG = """examples:
  memgen plan --n 50000 --rate 0.5 --width 0.3                 worst case for frac (the p widest for it)
  memgen plan --n 50000 --rate 0.5 --width 0.3 --definition fz worst case for fz (p = 0.5)
  memgen plan --from results/digits/mlp/rate0.95 --width 0.6   the run's own accuracies, N and rate
  memgen plan --from results/digits/mlp/rate0.95 --n 1281167 --stability 0.9 --minutes-per-member 90
  memgen plan --from results/digits/mlp/rate0.5 --members 128  what K = 128 would give
  memgen plan --from results/digits/mlp/rate0.95 --loo-se 0.01 --loo-members 8   a leave-one-out truth
  memgen plan --replicates 5                                   what 5 replicates of config.yaml cost
  memgen plan --proxy --config configs/paper.yaml              a proxy audit's cost beside the ensemble's

The width is hi - lo of a score's interval in scores.csv (memgen/scores/intervals.py: Wilson intervals for
acc_in and acc_out, jointly at --level; fz and frac bounds from them). Stability is Spearman's rho between
the scores of two independent ensembles of K members (stability.csv measures it between disjoint
sub-ensembles).
Without --from, every point is the worst case of the definition planned: p_in = p_out = p, the p in
0.05-0.95 whose interval is widest (fz: 0.5; frac: the smallest, 0.05), named in the output. With --from,
the run's accuracies are measurements of n_in / n_out members: the planner removes their binomial noise
(empirical Bayes) before it simulates, so a noisy run does not overstate stability.
K is a multiple of --block-size, up to --max-members rounded down to one.
Device-hours are K x minutes per member / 60; --from reads the minutes from the run's member benchmark files
(logs/<dataset>/<arch>/<ens>/members/*/*.benchmark.tsv) and scales them by N x rate (points each member
trains on) when --n or --rate differ from the run's.
Leave-one-out (--loo-se SE): M seed pairs (--loo-members) train 1 model on all N points and 1 without each of
P random points: (1 + P) x M models, each ~1 / rate member-minutes. P makes the standard error of each
rate's mean |score - LOO score|, sd(|error|) / sqrt(P), at most SE; sd(|error|) is read from the study's
sampling_bias.csv next to --from (its loo rows, random points), else 0.12 (digits measured 0.06-0.12). The
output also gives each LOO score's own se over the M pairs (t-based 95 % interval)."""


def _add_plan(sub) -> None:
    p = sub.add_parser(
        "plan",
        help="how many members an ensemble needs for a target interval width or stability, and its cost",
        description=(
            "Plan an ensemble: for N training points and a sampling rate, the smallest number of members K\n"
            "(a multiple of the mask block) whose per-point intervals are as narrow as asked (--width), or\n"
            "whose scores rank points as stably as asked (--stability), or what a given K gives; or the\n"
            "points and models of a leave-one-out truth (--loo-se); or a study's (--replicates) or a proxy\n"
            "audit's (--proxy) cost. Simulated from a finished run's accuracies (--from), else worst case."
        ),
        epilog=_PLAN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--from", dest="from_run", metavar="DIR", help="a finished ensemble (results/d/a/rate0.95)"
    )
    p.add_argument("--n", type=int, help="training points N (default: the --from run's)")
    p.add_argument(
        "--rate", type=float, help="sampling rate r in (0, 1) of the members (default: the --from run's)"
    )
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--width", type=float, help="target interval width hi - lo, in score units (0, 2)")
    target.add_argument("--half-width", type=float, help="target half-width (width / 2)")
    target.add_argument(
        "--stability", type=float, help="target Spearman rho between two ensembles, in (0, 1); needs --from"
    )
    target.add_argument("--members", type=int, help="evaluate this K instead of searching")
    target.add_argument(
        "--loo-se",
        type=float,
        metavar="SE",
        help="plan a leave-one-out truth: random points P for a standard error SE of each rate's mean "
        "|score - LOO score|",
    )
    _add_plan_settings(p)
    _add_replicate_args(p, target)
    _add_proxy_plan_args(p, target)
    p.set_defaults(run=_run_plan)


def _add_plan_settings(p) -> None:
    """The planner's settings: definition, statistic, level, mask, time and search limits."""
    p.add_argument(
        "--definition", default="frac", choices=["frac", "fz"], help="score planned for (default frac)"
    )
    p.add_argument(
        "--statistic",
        default="median",
        choices=["median", "mean"],
        help="width at the typical point (median)",
    )
    p.add_argument("--level", type=float, default=0.95, help="joint interval level (scores.csv uses 0.95)")
    p.add_argument("--block-size", type=int, default=64, help="masks.block_size: K is a multiple of it (64)")
    p.add_argument(
        "--min-out", type=int, default=10, help="scores.min_out: K holds each point out this often (10)"
    )
    p.add_argument(
        "--minutes-per-member", type=float, help="time of one member (default: measured by --from)"
    )
    p.add_argument(
        "--max-members", type=int, default=65536, help="largest K searched, rounded down to a block (65536)"
    )
    p.add_argument(
        "--loo-members", type=int, default=8, metavar="M", help="seed pairs of the leave-one-out truth (8)"
    )


def _add_proxy_plan_args(p, target) -> None:
    target.add_argument(
        "--proxy",
        action="store_true",
        help="what a proxy audit (memgen audit --proxy) costs beside the ensemble's estimate, per dataset x "
        "arch of --config, e.g. configs/paper.yaml",
    )
    p.add_argument(
        "--minutes-per-epoch",
        type=float,
        help="--proxy: minutes of one epoch over all N points on your device (default: assumed A100 figures)",
    )


def _add_page(sub) -> None:
    p = sub.add_parser(
        "page",
        help="write a docs/results page from its template and the runs it names; --check: is it stale",
        description=(
            "Fill a page template's {{ source.fact }} fields from the finished runs its front matter\n"
            "names ('source NAME: DIR [dataset/arch]' lines, then '---'), so every number on the page\n"
            "is read from those runs' results and logs, never typed. --check compares the page on disk\n"
            "with what the runs give now and exits 1 with the lines that differ."
        ),
        epilog=(
            "examples:\n"
            "  memgen page docs/results/templates/fashion-mnist-60k.md  writes the page one folder up\n"
            "  memgen page docs/results/templates/fashion-mnist-60k.md --check    exit 1 when it is stale\n"
            "  memgen page docs/results/templates/fashion-mnist-60k.md --source n60k=/scratch/run --list\n"
            "\nexit status: 0 written or matching, 1 the page differs from its runs, 2 an input problem."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("template", help="the page's template (docs/results/templates/<page>.md)")
    p.add_argument("--out", help="the page written (default: the template's name one folder up)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when the page differs")
    p.add_argument("--list", action="store_true", help="print every fact the sources offer, and its value")
    p.add_argument(
        "--source", action="append", default=[], metavar="NAME=DIR", help="read source NAME from DIR instead"
    )
    p.set_defaults(run=_run_page)


def _run_page(args) -> int:
    from memgen import pages
    from memgen.errors import fail

    overrides = {}
    for item in args.source:
        name, sep, root = item.partition("=")
        if not sep:
            raise fail(f"--source {item}", "write it as NAME=DIR")
        overrides[name] = root
    template = Path(args.template)
    if not template.exists():
        raise fail(
            f"{template} does not exist", "give a page template, e.g. docs/results/templates/<page>.md"
        )
    out = Path(args.out) if args.out else template.parent.parent / template.name
    if args.list:
        for key, value in pages.all_facts(template, overrides).items():
            print(f"{key}: {value if chr(10) not in value else '(a table)'}")
        return 0
    if args.check:
        diff = pages.check(template, out, overrides)
        print("\n".join(diff) if diff else f"{out} matches its runs")
        return 1 if diff else 0
    out.write_text(pages.render(template, overrides))
    print(f"wrote {out}")
    return 0


def _add_export(sub) -> None:
    p = sub.add_parser(
        "export",
        help="write a study's estimates in Feldman & Zhang's and the C-score releases' npz layouts",
        description=(
            "Write three npz files in the layouts the field reuses (docs/artifacts.md): the high-influence\n"
            "pairs (tr_idx, tt_idx, infl, mem; infl >= 0.15, mem >= 0.25), the full estimates (tr_mem,\n"
            "tr_labels, tt_labels and per class infl_matrix_class<K>, tr_classidx_<K>, tt_classidx_<K>) and\n"
            "the C-scores (labels, scores = held-out accuracy), in the dataset index's order (canaries NaN)."
        ),
        epilog="example:\n  memgen export --ensemble rate0.95 --definition fz --out export/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_study_args(p)
    p.add_argument("--out", default="export", help="folder the npz files go to (export/)")
    p.set_defaults(run=_run_export)


def _add_compare(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="hold a released npz (Feldman & Zhang, C-scores) against a study's estimates",
        description=(
            "Read an npz in one of the released layouts, check its labels against the study's (one line\n"
            "naming the first mismatch), then print Spearman's rho of the estimates with a 95 % interval,\n"
            "the overlap of the mem >= 0.25 sets (and at memgen's tau), and of the high-influence pairs."
        ),
        epilog=(
            "examples:\n"
            "  memgen compare cifar100_infl_matrix.npz --ensemble rate0.95 --figure compare.png\n"
            "  memgen compare cifar10-cscores-orig-order.npz --csv compare.csv"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", help="the released npz")
    _add_study_args(p)
    p.add_argument("--figure", help="also draw their estimate against memgen's (png)")
    p.add_argument("--csv", help="also write the comparison table")
    p.set_defaults(run=_run_compare)


def _add_study_args(p) -> None:
    p.add_argument("--results", default="results", help="the study's results folder (results/)")
    p.add_argument("--dataset", help="the dataset, when the folder holds several")
    p.add_argument("--arch", help="the architecture, when the folder holds several")
    p.add_argument(
        "--ensemble", default="rate0.95", help="the ensemble whose scores are memorization (rate0.95)"
    )
    p.add_argument(
        "--definition", default="fz", choices=["fz", "frac"], help="fz (Feldman & Zhang's) or frac"
    )


def _run_export(args) -> int:
    from memgen import formats
    from memgen.results import Study

    study = Study(args.results)
    for path in formats.export(study, args.out, args.ensemble, args.definition, args.dataset, args.arch):
        print(f"wrote {path}")
    return 0


def _run_compare(args) -> int:
    from memgen import formats
    from memgen.results import Study

    study = Study(args.results)
    table = formats.compare(args.file, study, args.ensemble, args.definition, args.dataset, args.arch)
    print(formats.format_comparison(table, args.file, study))
    if args.csv:
        table.to_csv(args.csv, index=False)
    if args.figure:
        formats.comparison_figure(
            args.file, study, args.ensemble, args.definition, args.figure, args.dataset, args.arch
        )
        print(f"wrote {args.figure}")
    return 0


def _add_replicate_args(p, target) -> None:
    p.add_argument("--seed", type=int, default=0, help="seed of the simulation (0)")
    target.add_argument(
        "--replicates",
        type=int,
        metavar="R",
        help="what R replicates of the study in --config cost: members and utility runs per replicate, timed "
        "from a finished study's logs (--logs)",
    )
    p.add_argument("--config", default="config.yaml", help="the study --replicates plans (config.yaml)")
    p.add_argument("--logs", default="logs", help="a finished study's logs, timing --replicates (logs)")
    p.add_argument("--cores", type=int, default=2, help="cores the --replicates ETA assumes (2)")
    p.add_argument(
        "--scope",
        choices=["full", "answer", "memorized"],
        help="plan the config with this scope instead of its own",
    )
    p.add_argument(
        "--no-timing",
        action="store_true",
        help="--replicates without the ETA (which loads the data and times one epoch here, seconds)",
    )


def _run_proxy_plan(args) -> int:
    import yaml

    import memgen.config as mc
    from memgen.plan import proxy

    config = mc.validate(yaml.safe_load(Path(args.config).read_text()))
    print(proxy.format_plan(proxy.plan(config, args.minutes_per_epoch), args.config))
    return 0


def _run_replicate_plan(args) -> int:
    import yaml

    import memgen.config as mc
    from memgen.errors import fail
    from memgen.plan.replicates import cost, format_cost

    if args.replicates < 1:
        raise fail(f"--replicates {args.replicates}", "give R >= 1")
    path = Path(args.config)
    if not path.exists():
        raise fail(f"{path} does not exist", "give the study's config with --config")
    raw = yaml.safe_load(path.read_text())
    if args.scope:
        raw["scope"] = args.scope  # as `snakemake --config scope=...` runs it
    config = mc.validate(raw)
    rows = cost(config, args.replicates, args.logs)
    print(format_cost(rows, str(path)), flush=True)
    if args.no_timing:
        return 0
    from memgen.audit_progress import job_overhead
    from memgen.data.loaders import load_dataset
    from memgen.ensemble.timing import seconds_per_point_epoch
    from memgen.plan.eta import format_eta

    overhead = job_overhead()
    for row in rows:
        d, a = row["dataset"], row["arch"]
        ds = load_dataset(d, config["datasets"][d], config.get("data_root", "data"))
        n = len(ds.y_train)
        spe = seconds_per_point_epoch(
            mc.training(config, d, a), a, n, ds.x_train.shape[1:], ds.num_classes, config["shard_size"]
        )
        print(f"{d}/{a}: ETA on this machine", flush=True)
        print(format_eta(config, row, n, spe, overhead, args.cores))
    return 0


def _plan_minutes(args, run, n, rate) -> tuple[float | None, str]:
    """Minutes per member: given, or the --from run's measured ones scaled to N x rate."""
    minutes, timing = args.minutes_per_member, "given"
    if minutes is None and run and run["minutes_per_member"]:
        # a member trains on N * r points for the recipe's epochs: time scales with them (same recipe)
        minutes = run["minutes_per_member"] * (n * rate) / (run["n"] * run["rate"])
        timing = f"measured: {run['timing']}" + (
            ", scaled by N x rate" if (n, rate) != (run["n"], run["rate"]) else ""
        )
    return minutes, timing


def _run_loo_plan(args, run, n, rate, minutes) -> int:
    from memgen.plan import loo as planner

    # the study's own sd of |score - LOO score| and LOO noise, next to the --from ensemble
    measured = planner.loo_measured(run["ensemble_dir"], args.definition) if run else None
    result = planner.loo_plan(
        args.loo_se,
        n,
        rate,
        definition=args.definition,
        loo_members=args.loo_members,
        minutes_per_member=minutes,
        measured=measured,
    )
    print(planner.format_loo_plan(result))
    return 0


def _run_plan(args) -> int:
    from memgen.errors import fail
    from memgen.plan import study as planner

    if args.replicates is not None:
        return _run_replicate_plan(args)
    if args.proxy:
        return _run_proxy_plan(args)
    run = planner.load_run(args.from_run) if args.from_run else None
    if run is None and (args.n is None or args.rate is None):
        raise fail(
            "without --from, both --n and --rate are needed", "give --n N --rate R, or --from a finished run"
        )
    n = args.n if args.n is not None else run["n"]
    rate = args.rate if args.rate is not None else run["rate"]
    minutes, timing = _plan_minutes(args, run, n, rate)
    if args.loo_se is not None:
        return _run_loo_plan(args, run, n, rate, minutes)
    if run and abs(rate - run["rate"]) > 1e-9:
        print(
            f"note: the accuracies come from a run at rate {run['rate']:g}, the plan is for {rate:g}; "
            "accuracies change with the rate, so plan from a run at the rate asked for",
            file=sys.stderr,
        )
    width = args.half_width * 2 if args.half_width is not None else args.width
    # the run's accuracies with the members they were measured on, so the planner removes their noise
    keys = {"p_in": "p_in", "p_out": "p_out", "run_n_in": "n_in", "run_n_out": "n_out"}
    points = {k: run[v] for k, v in keys.items()} if run else {}
    result = planner.plan(
        n,
        rate,
        width=width,
        stability_target=args.stability,
        members=args.members,
        definition=args.definition,
        statistic=args.statistic,
        level=args.level,
        block_size=args.block_size,
        min_out=args.min_out,
        minutes_per_member=minutes,
        max_members=args.max_members,
        seed=args.seed,
        **points,
    )
    print(planner.format_plan(result, run["source"] if run else None, timing if minutes else None))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memgen",
        description="memgen: which training examples does a classifier memorize, and does it need them?",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_trace(sub)
    _add_verify(sub)
    _add_audit(sub)
    _add_plan(sub)
    _add_page(sub)
    _add_export(sub)
    _add_compare(sub)
    return parser


def main(argv=None) -> int:
    """Run a subcommand; a MemgenError is one line on stderr and exit status 2, never a traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # everything after a bare -- goes to Snakemake as it is (memgen audit DIR -- --forcerun members_0)
    cut = argv.index("--") if "--" in argv else len(argv)
    args = build_parser().parse_args(argv[:cut])
    args.passthrough = argv[cut + 1 :]
    try:
        return args.run(args)
    except MemgenError as e:
        print(f"memgen: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `memgen trace … | head` closing the pipe is not an error
        return 0
