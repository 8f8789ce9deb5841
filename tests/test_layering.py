"""The package's layering holds: base modules import no stage, no import cycle, no private name crosses a
module, and planning (config validation, params, paths) never imports torch. docs/architecture.md draws it."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "memgen"
# the stage packages, in workflow order (rules/*.smk); everything else under memgen/ is a base module
STAGES = ("data", "ensemble", "scores", "loo", "analysis", "utility", "influence", "figures")
# base modules that run whole stages on the user's behalf (the command line), so may import them
COMMANDS = ("memgen.cli", "memgen.audit", "memgen.trace", "memgen.report", "memgen.__main__")


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


def test_every_module_is_a_stage_or_base():
    loose = [m for m in MODULES if m.count(".") > 1 and stage_of(m) is None]
    assert not loose, f"modules in a folder that is not a stage: {loose}"


def test_base_imports_no_stage():
    bad = [
        f"{m} imports {t}"
        for m, targets in graph().items()
        if stage_of(m) is None and m not in COMMANDS
        for t in targets
        if stage_of(t) is not None
    ]
    assert not bad, "base modules must not import a stage:\n" + "\n".join(bad)


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
    ["memgen.config", "memgen.paths", "memgen.params", "memgen.utility.variants", "memgen.analysis.planner"],
)
def test_planning_imports_no_torch(module):
    heavy = "('torch', 'timm', 'torchvision')"
    code = f"import sys, {module}; print([m for m in {heavy} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"importing {module} loads {out.strip()}"
