"""Command line of the analysis: verify a results folder of ``dropout-study`` and draw its figures.

Usage::

    python analysis/analyze.py RESULTS_DIR [--reproduce PATH] [--no-figures]

This file owns the command: it runs every check of :mod:`checks`, prints one line per
disagreement on stderr, draws the figures of :mod:`figures` and :mod:`network_picture` into
``RESULTS_DIR/figures/`` (a figure whose input file is absent is skipped with a line on stderr
saying why), and sets the exit code: 0 when every checked value agrees within rounding, 1 when
any disagrees, 2 when the folder cannot be read at all.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd

#: The binary the pictures come from when ``--reproduce`` is not given.
DEFAULT_BINARY = Path(__file__).resolve().parent.parent / "target" / "release" / "dropout-study"


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(
        description="Verify a dropout-study results folder against an independent recomputation "
                    "and draw its figures into RESULTS_DIR/figures/.")
    parser.add_argument("results_dir", type=Path, metavar="RESULTS_DIR",
                        help="folder with run.json, summary.csv, masks.csv and (unless --no-trials-csv) trials.csv")
    parser.add_argument("--reproduce", type=Path, metavar="PATH", default=None,
                        help="the dropout-study binary, or a saved file of its `reproduce --format json` lines, "
                             f"for the network pictures (default: {DEFAULT_BINARY} when it exists)")
    parser.add_argument("--no-figures", action="store_true", help="check only; draw nothing")
    return parser.parse_args(argv)


def attempt(what: str, draw) -> list[Path]:
    """Draws one figure; if its input cannot be used (a missing column, a binary that fails), says
    on stderr that it was skipped and why, and returns no paths."""
    try:
        return draw()
    except (KeyError, ValueError, OSError, subprocess.SubprocessError) as error:
        print(f"skipped {what}: its input could not be used ({type(error).__name__}: {error})", file=sys.stderr)
        return []


def draw_figures(folder: Path, run: dict, reproduce: Path | None) -> list[Path]:
    """Every figure whose inputs exist; a line on stderr for each one skipped."""
    import checks
    import exact
    import figures
    import network_picture

    out = folder / "figures"
    written = []
    net = exact.Network.notebook(run["precision"])
    keep_prob = float(run["keep_prob_used"])
    summary = checks.read_csv_numbers(folder / "summary.csv")
    masks_table = checks.read_csv_numbers(folder / "masks.csv")
    loaded = checks.read_trials(folder, run["precision"])
    values, masks = (loaded[2], loaded[1].to_numpy()) if loaded is not None else (None, None)
    written += figures.distribution(values, masks, masks_table, summary, net, keep_prob, out)

    convergence = folder / "convergence.csv"
    if convergence.exists():
        written += attempt("the convergence figure", lambda: figures.convergence(pd.read_csv(convergence), out))
    else:
        print(f"skipped the convergence figure: {convergence} does not exist (the study did not write it)",
              file=sys.stderr)

    sweep = folder / "sweep.csv"
    if sweep.exists():
        written += attempt("the bias-against-keep_prob figure",
                           lambda: figures.bias_vs_keep_prob(pd.read_csv(sweep), net, out))
    else:
        print(f"skipped the bias-against-keep_prob figure: {sweep} does not exist (no keep_prob sweep was run)",
              file=sys.stderr)

    source = reproduce if reproduce is not None else DEFAULT_BINARY
    if source.exists():
        written += attempt("the network pictures", lambda: network_picture.draw_both(source, out))
    else:
        print(f"skipped the network pictures: {source} does not exist (build it with `cargo build --release` "
              "or give --reproduce PATH)", file=sys.stderr)
    return written


def main(argv: list[str]) -> int:
    """Runs the checks and the figures; returns the exit code."""
    args = parse_args(argv)
    folder = args.results_dir
    import checks

    # Phase 1: the files must be there to be checked at all.
    for name in ("run.json", "summary.csv"):
        if not (folder / name).exists():
            print(f"error: {folder / name} does not exist; give the folder a dropout-study run wrote (--out)",
                  file=sys.stderr)
            return 2

    # Phase 2: every check.
    try:
        report, run = checks.verify(folder)
    except (KeyError, ValueError, OSError) as error:
        print(f"error: cannot read the results in {folder}: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    for note in report.notes:
        print(note, file=sys.stderr)
    for disagreement in report.disagreements:
        print(f"disagreement: {disagreement}", file=sys.stderr)

    # Phase 3: the figures, drawn even when a check failed (they help to see why).
    if not args.no_figures:
        written = draw_figures(folder, run, args.reproduce)
        print(f"wrote {len(written)} figure files to {folder / 'figures'}")

    # Phase 4: the verdict.
    if report.disagreements:
        print(f"FAILED: {len(report.disagreements)} disagreement(s) among {report.compared} values checked in {folder}",
              file=sys.stderr)
        return 1
    print(f"OK: {report.compared} values checked in {folder}; every one agrees with the recomputation "
          "within its rounding tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
