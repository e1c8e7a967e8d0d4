"""The committed study in results/ passes the analysis as a fresh clone has it (no trials.csv,
which is git-ignored), its REPORT.md is what analysis/report.py writes from it, and every figure
the report embeds is there."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

from conftest import ANALYSIS, BINARY

RESULTS = ANALYSIS.parent / "results"


def test_committed_results_pass_the_analysis_without_trials_csv(tmp_path):
    copy = tmp_path / "results"
    shutil.copytree(RESULTS, copy, ignore=shutil.ignore_patterns("trials.csv", "figures"))

    done = subprocess.run([sys.executable, str(ANALYSIS / "analyze.py"), str(copy), "--no-figures"],
                          capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr
    assert "trials.csv is listed in run.json but absent" in done.stderr


def test_the_report_is_up_to_date_and_its_figures_exist():
    done = subprocess.run([sys.executable, str(ANALYSIS / "report.py"), str(RESULTS), "--check",
                           "--reproduce", str(BINARY)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr

    text = (RESULTS / "REPORT.md").read_text()
    figures = re.findall(r"\]\((figures/[^)]+)\)", text)
    assert len(figures) == 5, figures
    for figure in figures:
        assert (RESULTS / figure).stat().st_size > 1000, figure
