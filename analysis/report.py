"""Writes ``REPORT.md``: the findings of a results folder in words, with their numbers and figures.

Usage::

    python analysis/report.py RESULTS_DIR [--reproduce PATH] [--check]

It reads ``run.json``, ``summary.csv``, ``masks.csv``, ``sweep.csv`` (when present) and the
notebook's two runs from ``dropout-study reproduce --format json`` (the binary or a saved file of
its JSON lines, as for ``analyze.py``), and writes ``RESULTS_DIR/REPORT.md``, which embeds the
figures ``analyze.py`` draws into ``RESULTS_DIR/figures/``. Every number in the report comes from
those files, so the report never drifts from the results. ``--check`` writes nothing and exits 1
when the existing ``REPORT.md`` differs from what would be written.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def g(value: float, digits: int = 6) -> str:
    """A number with ``digits`` significant digits, plain for moderate sizes."""
    return f"{value:.{digits}g}"


def signed(value: float, digits: int = 4) -> str:
    return f"{value:+.{digits}g}"


def reproduce_lines(source: Path) -> list[dict]:
    """The notebook's two runs: from the binary, or from a saved JSON-lines file."""
    if source.suffix in (".jsonl", ".json") or not source.exists() or source.is_dir():
        text = source.read_text()
    else:
        text = subprocess.run([str(source), "reproduce", "--format", "json"], capture_output=True, text=True,
                              check=True).stdout
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def report(folder: Path, runs: list[dict]) -> str:
    """The text of REPORT.md for the results in ``folder``."""
    run = json.loads((folder / "run.json").read_text())
    summary = pd.read_csv(folder / "summary.csv").set_index("quantity")
    masks = pd.read_csv(folder / "masks.csv", dtype={"mask": str})
    n, p = run["trials"], run["keep_prob"]
    out: list[str] = []

    # Setup.
    out.append("# The canonical study: findings\n")
    out.append(
        f"{n} trials of the notebook's network (\"Dropout in a minute\": `x = [[1]]`, `y = [[2]]`, "
        f"`w1 = [[0.1, -0.1, 0.2]]`, `w2 = [[0.2], [0.1], [-0.1]]`) under TensorFlow 1.x inverted dropout "
        f"(`{run['scheme']}`) at keep probability {p}, seed {run['seed']}, every trial in "
        f"{'float32' if run['precision'] == 'f32' else 'float64'} with `{run['arithmetic']}` rounding, "
        f"as `cargo run --release -- --trials {n}` writes them. The exact expectation enumerates all "
        f"{len(masks)} masks in float64. This file is written by `analysis/report.py` from the CSVs beside "
        "it; `results/README.md` documents every column.\n")

    # The notebook.
    out.append("## 1. The notebook's single runs, reproduced exactly\n")
    rows = []
    for r in runs:
        label = "no dropout" if r["keep_prob"] == 1 else f"keep_prob {r['keep_prob']}, mask `{r['mask']}`"
        rows.append([label, repr(r["loss"]), repr(r["output"][0]), str(r["hidden"]), str(r["grad_w1"]),
                     str(r["grad_w2"])])
    out.append(table(["run", "loss", "output", "hidden", "grad_w1", "grad_w2"], rows) + "\n")
    out.append(
        "These are float32 values, equal bit for bit to the notebook's printed cells (`dropout-study reproduce` "
        "prints them in the notebook's own format) and, with `--arithmetic fma`, to 585 runs of TensorFlow 2.21 "
        "(`tests/reference/`). Gradients flow back only through kept units whose relu is active: unit 2 "
        "is inactive (`relu(-0.1) = 0`), and the mask `100` drops unit 3.\n")
    out.append("![The network without dropout](figures/network_no_dropout.png)\n")
    out.append("![The network with mask 100](figures/network_dropout.png)\n")

    # Equal.
    def row_of(q: str, *columns: str) -> list[str]:
        s = summary.loc[q]
        return [f"`{q}`"] + [g(s[c]) if not pd.isna(s[c]) else "" for c in columns]

    equal = [q for q in summary.index if summary.loc[q, "relation"] == "equal"]
    out.append("## 2. Where the expectation equals the no-dropout value\n")
    out.append(
        "Inverted dropout keeps the expected forward pass: for the quantities linear in the mask the exact "
        "expectation equals the no-dropout value (to float64 rounding; the column below is the exact "
        "difference the enumeration gives), and the Monte Carlo means agree with it.\n")
    out.append(table(["quantity", "no dropout", "exact expectation", "expected - no dropout", "mean", "95% interval",
                      "z vs exact"],
                     [[f"`{q}`", g(summary.loc[q, "no_dropout"]), g(summary.loc[q, "expected"]),
                       g(summary.loc[q, "expected_minus_no_dropout"]), g(summary.loc[q, "mean"]),
                       f"[{g(summary.loc[q, 'ci95_low'])}, {g(summary.loc[q, 'ci95_high'])}]",
                       f"{summary.loc[q, 'z_vs_expected']:+.2f}"] for q in equal]) + "\n")

    # Not equal.
    penalised = [q for q in summary.index if summary.loc[q, "relation"] == "penalised"]
    out.append("## 3. Where it does not: the dropout penalty\n")
    out.append(
        f"The expected loss is the no-dropout loss plus the penalty `R = ((1-p)/p) sum_i (h_i w2_i)^2 = "
        f"{g(run['penalty'])}`, and because the mask does not depend on the weights the expected weight gradient "
        "is the no-dropout gradient plus the gradient of `R` (Srivastava et al. 2014, section 9.1): "
        "`expected = no_dropout + penalty_gradient`, exactly. The gap is 1% of the gradient, not zero.\n")
    rows = []
    for q in penalised:
        s = summary.loc[q]
        gap = s["expected"] - s["no_dropout"]
        rel = f"{100 * gap / abs(s['no_dropout']):+.3f}%" if s["no_dropout"] != 0 else ""
        rows.append([f"`{q}`", g(s["no_dropout"]), g(s["expected"]), signed(gap), rel, g(s["mean"]),
                     f"{s['z_vs_expected']:+.2f}", f"{s['z_vs_no_dropout']:+.2f}", g(s["p_vs_no_dropout"], 3),
                     str(int(s["trials_to_detect"]))])
    out.append(table(["quantity", "no dropout", "exact expectation", "gap", "gap / no dropout", "mean", "z vs exact",
                      "z vs no dropout", "p vs no dropout", "trials to detect"], rows) + "\n")
    se = summary.loc["grad_w1_0", "std_error"]
    gap = summary.loc["grad_w1_0", "expected"] - summary.loc["grad_w1_0", "no_dropout"]
    gradients = [q for q in penalised if q.startswith("grad_")]
    raw = [q for q in gradients if summary.loc[q, "p_vs_no_dropout"] < 0.05]
    adjusted = [q for q in gradients if summary.loc[q, "p_vs_no_dropout_holm"] < 0.05]
    names = lambda qs: ", ".join(f"`{q}`" for q in qs) if qs else "none"
    out.append(
        f"At {n} trials the standard error of `grad_w1_0` is {g(se, 3)}, so its gap of {g(gap, 3)} is "
        f"{abs(gap) / se:.1f} standard errors, and a two-sided test at level 0.05 needs about "
        f"{int(summary.loc['grad_w1_0', 'trials_to_detect'])} trials for power 0.8: a run of this size sees the gap "
        f"only most of the time. In this run the gradient components whose mean rejects the no-dropout value at level "
        f"0.05 are {names(raw)} on their own, and {names(adjusted)} after Holm's adjustment over all quantities. The "
        "exact expectation, not the Monte Carlo mean, is what establishes the gap; every mean agrees with it "
        "(section 4).\n")

    # Monte Carlo agreement.
    tested = summary[summary["z_vs_expected"].notna()]
    inside = ((tested["ci95_low"] <= tested["expected"]) & (tested["expected"] <= tested["ci95_high"])).sum()
    worst = tested["z_vs_expected"].abs().idxmax()
    chi = run["mask_chi_square"]
    constant = [q for q in summary.index if summary.loc[q, "relation"] == "constant"]
    out.append("## 4. The Monte Carlo means agree with the exact expectation\n")
    out.append(
        f"{inside} of {len(tested)} 95% intervals contain the exact expectation; the largest |z| is "
        f"{abs(tested.loc[worst, 'z_vs_expected']):.2f} (`{worst}`), and the smallest Holm-adjusted p-value against "
        f"the exact expectation is {g(tested['p_vs_expected_holm'].min(), 3)}. The mask counts fit their "
        f"probabilities: chi-square {g(chi['statistic'], 4)} on {chi['degrees_of_freedom']} degrees of freedom, "
        f"p = {g(chi['p_value'], 3)}. {', '.join(f'`{q}`' for q in constant)} are 0 in every trial (unit 2 is "
        "inactive) and have no test.\n")
    out.append("![The distribution of each gradient component over masks](figures/gradient_distribution.png)\n")
    out.append("![Running means and their 95% bands](figures/convergence.png)\n")

    # The sweep.
    if (folder / "sweep.csv").exists():
        sweep = pd.read_csv(folder / "sweep.csv")
        out.append("## 5. The penalty against the keep probability\n")
        rows = []
        for kp, rows_kp in sweep.groupby("keep_prob"):
            s = rows_kp.set_index("quantity")
            z_max = s["z_vs_expected"].abs().max()
            rows.append([g(kp, 3), g(s.loc["loss", "penalty"], 4), g(s.loc["grad_w1_0", "expected"], 6),
                         signed(s.loc["grad_w1_0", "penalty_gradient"]),
                         "" if pd.isna(z_max) else f"{z_max:.2f}"])
        out.append(
            f"`cargo run --release -- sweep`: {int(sweep['trials'].iloc[0])} trials at each keep probability, each on "
            "its own random stream. The penalty grows as `(1-p)/p`; at keep probability 1 there is no dropout and "
            "no gap.\n")
        out.append(table(["keep_prob", "R", "E[grad_w1_0]", "penalty gradient of grad_w1_0", "largest abs(z) vs exact"],
                         rows) + "\n")
        out.append("![The bias of each gradient component against the keep probability](figures/bias_vs_keep_prob.png)\n")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--reproduce", type=Path, default=ROOT / "target" / "release" / "dropout-study")
    parser.add_argument("--check", action="store_true", help="exit 1 if REPORT.md is not up to date")
    args = parser.parse_args(argv)
    text = report(args.results, reproduce_lines(args.reproduce))
    path = args.results / "REPORT.md"
    if args.check:
        if not path.exists() or path.read_text() != text:
            print(f"{path} is not what analysis/report.py writes from the results beside it; run "
                  f"`python analysis/report.py {args.results}`", file=sys.stderr)
            return 1
        print(f"{path} is up to date")
        return 0
    path.write_text(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
