"""docs/api.md's notebook example runs as written on the tiny study: what the docs show is what works."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 1, "docs/api.md holds one python example"
    return blocks[0]


def test_the_example_reads_only_the_api():
    code = example()
    assert 'memgen.open("results")' in code and "read_csv" not in code and "keep_default_na" not in code


@pytest.mark.workflow
def test_the_docs_example_runs_on_a_study(study, tmp_path):
    script = tmp_path / "example.py"
    script.write_text(example())
    done = subprocess.run(
        [sys.executable, str(script)], cwd=study, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "Study('results': digits/mlp)" in done.stdout and "memorized at tau" in done.stdout
    assert (study / "scores.png").stat().st_size > 0
    (study / "scores.png").unlink()  # the shared study stays as the other tests expect it
