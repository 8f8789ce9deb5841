"""No function in memgen/ is longer than MAX_LINES lines, so each reads top to bottom. Ruff's PLR0915
(pyproject.toml) counts statements; this counts lines, docstring and comments included."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "memgen"
MAX_LINES = 60


def long_functions(root: Path = PKG, limit: int = MAX_LINES) -> list[str]:
    """'path:line name (n lines)' of every function or method (nested ones too) over `limit` lines, from
    its `def` line to its last line (decorators excluded)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    where = path.relative_to(root.parent)
                    found.append(f"{where}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_in_memgen_is_over_the_line_limit():
    found = long_functions()
    assert not found, f"functions over {MAX_LINES} lines, split them into named helpers:\n" + "\n".join(found)


def test_the_count_runs_from_def_to_the_last_line(tmp_path):  # a decorated 60-line function passes
    pkg = tmp_path / "memgen"
    pkg.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES - 1))
    (pkg / "m.py").write_text(f"@staticmethod\ndef fits():\n{body}\n\n\ndef over():\n{body}\n    return x0\n")
    assert long_functions(pkg) == [f"memgen/m.py:{MAX_LINES + 4} over ({MAX_LINES + 1} lines)"]
