"""The package's layering holds: stages import only earlier stages (module- and function-level imports
alike), base modules import no stage, no import cycle, no private name crosses a module, and planning
(config validation, dataset kinds, params, paths, the planners, the rules' glue) never imports torch.
docs/architecture.md draws it."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "memgen"
# the stage packages, in the order the workflow runs them (rules/*.smk); a stage may import only the stages
# before it; everything else under memgen/ is a base module, or a command (below)
STAGES = ("data", "ensemble", "scores", "loo", "analysis", "utility", "influence", "proxies", "figures")
# what runs stages on the user's behalf (the command line, the report's first page, the planners of
# `memgen plan`): may import any stage, and no stage imports them
COMMANDS = (
    "memgen.cli",
    "memgen.audit",
    "memgen.trace",
    "memgen.verify",
    "memgen.report",
    "memgen.pages",
    "memgen.formats",
    "memgen.proxy_report",
    "memgen.__main__",
)
COMMAND_PACKAGES = ("plan",)


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every memgen import in the file, function-level ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("memgen"):
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.startswith("memgen")]
    return found


MODULES = {module_name(p): p for p in PKG.rglob("*.py")}


def resolve(module: str, names: list[str]) -> list[str]:
    """The memgen modules an import statement loads (`from memgen.x import y` may name module x.y)."""
    out = [module] if module in MODULES else []
    out += [f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES]
    return out


def graph() -> dict[str, set[str]]:
    return {
        m: {t for mod, names in imports(p) for t in resolve(mod, names) if t != m and t != "memgen"}
        for m, p in MODULES.items()
    }


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in STAGES else None


def is_command(module: str) -> bool:
    parts = module.split(".")
    return module in COMMANDS or (len(parts) > 1 and parts[1] in COMMAND_PACKAGES)


def test_every_module_is_a_stage_base_or_command():
    loose = [m for m in MODULES if m.count(".") > 1 and stage_of(m) is None and not is_command(m)]
    assert not loose, f"modules in a folder that is not a stage: {loose}"


def test_base_imports_no_stage():
    bad = [
        f"{m} imports {t}"
        for m, targets in graph().items()
        if stage_of(m) is None and not is_command(m)
        for t in targets
        if stage_of(t) is not None or is_command(t)
    ]
    assert not bad, "base modules must not import a stage or a command:\n" + "\n".join(bad)


def order(module: str) -> int:
    """Where the module's stage runs (-1 for a base module)."""
    return STAGES.index(stage_of(module)) if stage_of(module) else -1


def later_stage_imports(g: dict[str, set[str]]) -> list[str]:
    """Imports of a stage by an earlier stage, or of a command by a stage (module or function level)."""
    return [
        f"{m} ({stage_of(m)}) imports {t} ({stage_of(t) or 'command'})"
        for m, targets in sorted(g.items())
        if stage_of(m) is not None
        for t in sorted(targets)
        if is_command(t) or order(t) > order(m)
    ]


def test_stages_import_only_earlier_stages():
    bad = later_stage_imports(graph())
    assert not bad, f"a stage may import only the stages before it ({' -> '.join(STAGES)}):\n" + "\n".join(
        bad
    )


def test_the_stage_check_sees_function_level_imports(tmp_path):
    """The check reads imports inside functions too: a lazy import of a later stage is still an edge."""
    src = tmp_path / "jobs.py"
    src.write_text("def write():\n    from memgen.figures.style import setup\n    return setup\n")
    edges = {"memgen.scores.jobs": {t for mod, names in imports(src) for t in resolve(mod, names)}}
    found = later_stage_imports(edges)
    assert found == ["memgen.scores.jobs (scores) imports memgen.figures.style (figures)"]


def test_no_import_cycle():
    g = graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(m, path):
        state[m] = 1
        for t in sorted(g.get(m, ())):
            if state.get(t) == 1:
                cycles.append(" -> ".join([*path[path.index(t) :], t]))
            elif t not in state:
                visit(t, [*path, t])
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_private_name_crosses_a_module():
    bad = [
        f"{m} imports {mod}.{n}"
        for m, p in MODULES.items()
        for mod, names in imports(p)
        for n in names
        if n.startswith("_") and not n.startswith("__") and mod != m
    ]
    assert not bad, "private names used outside their module:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    "module",
    [
        "memgen.config",
        "memgen.kinds",
        "memgen.paths",
        "memgen.params",
        "memgen.variants",
        "memgen.plan.study",
        "memgen.plan.loo",
        "memgen.workflow",  # the rules import its wildcards_to when Snakemake parses the workflow
    ],
)
def test_planning_imports_no_torch(module):
    heavy = "('torch', 'timm', 'torchvision')"
    code = f"import sys, {module}; print([m for m in {heavy} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"importing {module} loads {out.strip()}"
