"""docs/results pages from templates (memgen page): fields filled from a run's files, an unknown field or a
bad front matter named in one line, --check finding a page that no longer matches its run."""

import re
import shutil
import subprocess
import sys

import pytest

from memgen import pages
from memgen.errors import MemgenError

FACTS = {"dataset": "digits", "memorized.n": "20", "table3": "| a |\n|---|\n| 1 |"}


@pytest.fixture
def fake_facts(monkeypatch):
    seen = []

    def facts(root, which=None):
        seen.append((root, which))
        return dict(FACTS)

    monkeypatch.setattr(pages, "source_facts", facts)
    return seen


def write_template(tmp_path, body, head="source run: /somewhere\n"):
    t = tmp_path / "templates" / "page.md"
    t.parent.mkdir(parents=True, exist_ok=True)
    t.write_text(head + "---\n" + body)
    return t


def test_fields_are_filled_from_their_source(tmp_path, fake_facts):
    t = write_template(tmp_path, "On {{ run.dataset }}, {{run.memorized.n}} points.\n\n{{ run.table3 }}\n")
    page = pages.render(t)
    assert "On digits, 20 points." in page
    assert "| a |\n|---|\n| 1 |" in page
    assert page.startswith("<!-- written by `memgen page")
    assert fake_facts == [("/somewhere", None)]


def test_a_source_may_name_its_dataset_and_arch_and_be_overridden(tmp_path, fake_facts):
    t = write_template(
        tmp_path, "{{ run.dataset }}\n", head="source run: /a digits/mlp  # the default study\n"
    )
    pages.render(t, {"run": "/b"})
    assert fake_facts[-1] == ("/b", "digits/mlp")
    with pytest.raises(MemgenError, match="no source other"):
        pages.render(t, {"other": "/c"})


def test_an_unknown_field_is_named_with_the_fix(tmp_path, fake_facts):
    t = write_template(tmp_path, "{{ run.memorized.size }}\n")
    with pytest.raises(
        MemgenError, match=r"field \{\{ run.memorized.size \}\} is not a fact.*--list.*memorized.n"
    ):
        pages.render(t)


def test_a_template_without_front_matter_is_refused(tmp_path):
    t = tmp_path / "page.md"
    t.write_text("no front matter {{ run.x }}\n")
    with pytest.raises(MemgenError, match="front matter"):
        pages.render(t)
    t.write_text("sources are: /x\n---\n")
    with pytest.raises(MemgenError, match="not 'source NAME: DIR'"):
        pages.render(t)


def test_check_finds_an_edited_number(tmp_path, fake_facts):
    t = write_template(tmp_path, "{{ run.memorized.n }} memorized\n")
    page = tmp_path / "page.md"
    page.write_text(pages.render(t))
    assert pages.check(t, page) == []
    page.write_text(page.read_text().replace("20 memorized", "21 memorized"))
    diff = pages.check(t, page)
    assert "-21 memorized" in diff and "+20 memorized" in diff


@pytest.mark.workflow
def test_a_page_from_the_tiny_study(study, tmp_path, request):
    """Every family of facts from a real run's files, and the command's exit codes."""
    t = write_template(
        tmp_path,
        "fit {{ run.fit.rate0.95.train_acc }}, canaries {{ run.fit.rate0.95.canary_acc_in }}\n"
        "memorized {{ run.memorized.n }} of {{ run.natural_points }} ({{ run.memorized.share }})\n"
        "test rule {{ run.rate0.95.test.n }}, power {{ run.rate0.95.test.power }}\n"
        "Table 3: {{ run.table3.r1.random.diff }} {{ run.table3.r1.random.ci }}\n"
        "influence bar {{ run.influence.min_flaggable_infl }}\n"
        "span {{ run.span_min }} min, peak {{ run.peak_rss_gib }} GiB\n\n"
        "{{ run.memorized.classes }}\n\n{{ run.table1 }}\n\n{{ run.table3.classes }}\n\n"
        "{{ run.table3.split }}\n\n"
        "{{ run.influence.strongest }}\n\n{{ run.scale }}\n\n"
        "replicates: {{ run.replicates.jobs }} jobs, {{ run.replicates.job_min }} min, "
        "{{ run.replicates.peak_rss_gib }} GiB\n"
        "planned: {{ run.plan.replicates.further_members }} members, "
        "{{ run.plan.replicates.further_min }} min each, {{ run.plan.replicates.all_min }} min in all, "
        "{{ run.plan.replicates.from_logs_min }} min by logs\n",
        head=f"source run: {study}\n",
    )
    # what `memgen plan` printed before further replicates ran, kept beside the logs as a user keeps it
    plan = [sys.executable, "-m", "memgen", "plan", "--replicates", "2", "--scope", "answer"]
    printed = subprocess.run(plan, cwd=study, capture_output=True, text=True, check=True).stdout
    (study / "logs" / "plan_replicates.txt").write_text(printed)
    request.addfinalizer((study / "logs" / "plan_replicates.txt").unlink)
    # a further replicate's job, as a stopped and resumed run leaves it: its benchmark file
    bench = study / "logs" / "digits.rep2" / "mlp" / "members" / "0.benchmark.tsv"
    bench.parent.mkdir(parents=True)
    request.addfinalizer(lambda: shutil.rmtree(study / "logs" / "digits.rep2"))  # the shared study, restored
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    bench.write_text(header + "600.0\t0:10:00\t2048.0\t1\t1\t1\t0\t0\t100\t600\n")
    cmd = [sys.executable, "-m", "memgen", "page", str(t)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "page.md").read_text()
    first = page.splitlines()[2]
    assert "n/a" not in first and first.startswith("fit ") and "%" in first
    for table in ("| class | memorized |", "| replicate | setup |", "| test set | part |", "| job | jobs |"):
        assert table in page
    assert "| dataset index | 1 |" in page and "| summary | 1 |" in page  # every rule has a benchmark file
    assert subprocess.run([*cmd, "--check"], capture_output=True).returncode == 0
    (tmp_path / "page.md").write_text(page.replace("memorized ", "memorized 1", 1))
    stale = subprocess.run([*cmd, "--check"], capture_output=True, text=True)
    assert stale.returncode == 1 and "+memorized" in stale.stdout
    assert "replicates: 1 jobs, 10 min, 2.00 GiB" in page
    planned = re.search(r"planned: \d+ members, (\d+) min each, (\d+) min in all, (\d+) min by logs", page)
    assert planned, page.splitlines()[-1]
