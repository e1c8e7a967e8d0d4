"""Shared fixtures of the analysis tests: the release binary, one small study, and helpers to
copy, tamper with and analyse a results folder.

The tests build nothing: `make test-python` builds `target/release/dropout-study` first.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ANALYSIS = Path(__file__).resolve().parent.parent
REPO = ANALYSIS.parent
BINARY = REPO / "target" / "release" / "dropout-study"
sys.path.insert(0, str(ANALYSIS))

#: Trials of the shared study: enough for every mask to appear thousands of times, small enough
#: to run in a fraction of a second.
TRIALS = 20000


def run_binary(*args: str) -> subprocess.CompletedProcess:
    """Runs the release binary; fails the test with its stderr when it fails."""
    if not BINARY.exists():
        pytest.fail(f"{BINARY} does not exist: run `make test-python`, which builds it first")
    done = subprocess.run([str(BINARY), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def analyse_as_a_user(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """Runs `python analysis/analyze.py FOLDER ARGS` in a new process, as a user would."""
    return subprocess.run([sys.executable, str(ANALYSIS / "analyze.py"), str(folder), *args],
                          capture_output=True, text=True, timeout=300)


def analyse(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """The same command run in this process (the imports are paid once per session): its exit
    code, stdout and stderr."""
    import analyze

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = analyze.main([str(folder), *args])
    return subprocess.CompletedProcess(["analyze.py", str(folder), *args], code, out.getvalue(), err.getvalue())


def rehash(folder: Path, name: str) -> None:
    """Records `name`'s current SHA-256 in run.json, so that only the value checks can see a
    change to it (a tampering that also fixed the hash)."""
    run_path = folder / "run.json"
    run = json.loads(run_path.read_text())
    run["sha256"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    run_path.write_text(json.dumps(run, indent=2))


@pytest.fixture(scope="session")
def study(tmp_path_factory) -> Path:
    """One study of TRIALS trials at keep_prob 0.5 (f32, seed 3), written once per session."""
    out = tmp_path_factory.mktemp("study") / "results"
    run_binary("--trials", str(TRIALS), "--seed", "3", "--out", str(out), "--quiet")
    return out


@pytest.fixture
def results(study, tmp_path) -> Path:
    """A private copy of the shared study, free to tamper with."""
    copy = tmp_path / "results"
    shutil.copytree(study, copy)
    return copy
