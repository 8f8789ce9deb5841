"""The `memgen` command (also `python -m memgen`): tools around the workflow's artifacts.

Each subcommand is an `_add_<name>(subparsers)` that registers its arguments and sets `run` to a
function taking the parsed args and returning the exit code; add a command by adding one pair.
"""

import argparse
import json
import sys

from memgen.errors import MemgenError

_EPILOG = """examples:
  memgen trace results/table1.csv            the chain of records behind Table 1; exit 1 if a file changed
  memgen trace results/digits/mlp/rate0.7/scores.csv --json > scores.trace.json
  python -m memgen trace results/table3.csv --root /scratch/memgen   (records' paths start at --root)

exit status: 0 all files match their records, 1 a file changed or is missing, 2 an input problem."""


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memgen",
        description="memgen: which training examples does a classifier memorize, and does it need them?",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_trace(sub)
    return parser


def main(argv=None) -> int:
    """Run a subcommand; a MemgenError is one line on stderr and exit status 2, never a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except MemgenError as e:
        print(f"memgen: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `memgen trace … | head` closing the pipe is not an error
        return 0
