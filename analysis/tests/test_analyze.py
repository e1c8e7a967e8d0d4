"""End-to-end tests of `analysis/analyze.py` on studies the release binary writes: a clean study
passes and draws every figure; each kind of tampering is caught with a line naming the file."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
from scipy import stats

from conftest import TRIALS, analyse, analyse_as_a_user, rehash, run_binary

FIGURES = ["gradient_distribution", "convergence", "bias_vs_keep_prob", "network_no_dropout", "network_dropout"]


def write_sweep(folder):
    """A real sweep of the binary at five keep probabilities into the study's folder (sweep.csv and
    sweep.json beside run.json, as `dropout-study sweep --out` writes them)."""
    run_binary("sweep", "--keep-probs", "0.2,0.35,0.5,0.7,0.9", "--trials", "4000", "--out", str(folder), "--quiet")


def line_of(folder, name, quantity):
    """The file line (header = 1) of a quantity's or mask's row."""
    table = pd.read_csv(folder / name, dtype=str)
    return int(table.index[table.iloc[:, 0] == quantity][0]) + 2


def set_field(folder, name, row_key, column, text):
    """Replaces one field of a CSV, by its row's first field and its column name, as text."""
    path = folder / name
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    for i, line in enumerate(lines[1:], start=1):
        fields = line.split(",")
        if fields[0] == row_key:
            fields[header.index(column)] = text
            lines[i] = ",".join(fields)
            break
    else:
        raise AssertionError(f"no row {row_key} in {name}")
    path.write_text("\n".join(lines) + "\n")


def test_a_clean_study_passes_and_every_figure_is_written(results, tmp_path):
    write_sweep(results)
    reproduce = tmp_path / "reproduce.jsonl"
    reproduce.write_text(run_binary("reproduce", "--format", "json").stdout)

    done = analyse_as_a_user(results, "--reproduce", str(reproduce))

    assert done.returncode == 0, done.stderr
    assert "OK:" in done.stdout
    assert "disagreement" not in done.stderr and "skipped" not in done.stderr, done.stderr
    for stem in FIGURES:
        for suffix in ("png", "svg"):
            path = results / "figures" / f"{stem}.{suffix}"
            assert path.exists() and path.stat().st_size > 1000, path


def test_absent_inputs_skip_their_figures_and_say_why(results, tmp_path):
    done = analyse(results, "--reproduce", str(tmp_path / "no-such-binary"))

    assert done.returncode == 0, done.stderr
    assert "skipped the bias-against-keep_prob figure" in done.stderr and "sweep.csv does not exist" in done.stderr
    assert "skipped the network pictures" in done.stderr
    assert (results / "figures" / "gradient_distribution.png").stat().st_size > 1000
    assert (results / "figures" / "convergence.png").stat().st_size > 1000
    assert not (results / "figures" / "bias_vs_keep_prob.png").exists()


def test_a_running_mean_changed_in_convergence_csv_is_caught(results):
    # The running mean of grad_w1_0 after 1000 trials, moved by 1e-9 relative.
    table = pd.read_csv(results / "convergence.csv")
    row = table.index[(table["checkpoint_trials"] == 1000) & (table["quantity"] == "grad_w1_0")][0]
    lines = (results / "convergence.csv").read_text().splitlines()
    fields = lines[row + 1].split(",")
    fields[2] = repr(float(table.loc[row, "mean"]) * (1 + 1e-9))
    lines[row + 1] = ",".join(fields)
    (results / "convergence.csv").write_text("\n".join(lines) + "\n")
    rehash(results, "convergence.csv")

    done = analyse(results, "--no-figures")

    assert done.returncode == 1
    assert f"convergence.csv line {row + 2} (grad_w1_0) column mean" in done.stderr, done.stderr


def test_a_relation_and_a_sweep_expectation_changed_are_caught(results):
    set_field(results, "summary.csv", "grad_w1_0", "relation", "equal")
    rehash(results, "summary.csv")
    write_sweep(results)
    sweep = results / "sweep.csv"
    lines = sweep.read_text().splitlines()
    header = lines[0].split(",")
    fields = lines[1].split(",")
    fields[header.index("expected")] = "4.0"  # loss at keep_prob 0.2: its no-dropout value
    lines[1] = ",".join(fields)
    sweep.write_text("\n".join(lines) + "\n")
    record = json.loads((results / "sweep.json").read_text())
    record["sha256"]["sweep.csv"] = hashlib.sha256(sweep.read_bytes()).hexdigest()
    (results / "sweep.json").write_text(json.dumps(record))

    done = analyse(results, "--no-figures")

    assert done.returncode == 1
    assert "(grad_w1_0) column relation: file has equal, recomputed penalised" in done.stderr, done.stderr
    assert "sweep.csv line 2 (loss) column expected" in done.stderr, done.stderr


def test_a_mean_changed_in_its_last_digits_is_caught(results):
    summary = pd.read_csv(results / "summary.csv").set_index("quantity")
    mean = summary.loc["grad_w1_0", "mean"]
    # A relative change of 1e-9 (the tenth significant digit): far below any standard error, but
    # 40 times the rounding tolerance of a 20000-trial mean.
    set_field(results, "summary.csv", "grad_w1_0", "mean", repr(float(mean * (1 + 1e-9))))
    rehash(results, "summary.csv")

    done = analyse(results, "--no-figures")

    assert done.returncode == 1
    line = line_of(results, "summary.csv", "grad_w1_0")
    assert f"summary.csv line {line} (grad_w1_0) column mean: file has {float(mean * (1 + 1e-9))!r}" in done.stderr, done.stderr


def test_a_mean_changed_by_one_rounding_step_still_passes(results):
    summary = pd.read_csv(results / "summary.csv").set_index("quantity")
    mean = summary.loc["grad_w1_0", "mean"]
    set_field(results, "summary.csv", "grad_w1_0", "mean", repr(float(np.nextafter(mean, 0.0))))
    rehash(results, "summary.csv")

    done = analyse(results, "--no-figures")

    assert done.returncode == 0, done.stderr


def test_an_expected_value_on_the_wrong_weights_is_caught(results):
    # 4.0008 is E[loss] for the float64 weights; an f32 run's exact expectation is on the
    # float32-rounded weights, 4.000800000047683: a difference of 5e-11.
    set_field(results, "summary.csv", "loss", "expected", "4.0008")
    rehash(results, "summary.csv")

    done = analyse(results, "--no-figures")

    assert done.returncode == 1
    line = line_of(results, "summary.csv", "loss")
    assert f"summary.csv line {line} (loss) column expected: file has 4.0008" in done.stderr, done.stderr


def test_a_mask_count_moved_between_masks_is_caught(results):
    masks = pd.read_csv(results / "masks.csv", dtype={"mask": str}).set_index("mask")
    set_field(results, "masks.csv", "100", "count", str(masks.loc["100", "count"] + 1))
    set_field(results, "masks.csv", "001", "count", str(masks.loc["001", "count"] - 1))
    rehash(results, "masks.csv")

    done = analyse(results, "--no-figures")

    assert done.returncode == 1
    assert f"masks.csv line {line_of(results, 'masks.csv', '100')} (100) column count" in done.stderr, done.stderr
    assert f"masks.csv line {line_of(results, 'masks.csv', '001')} (001) column count" in done.stderr


def test_a_changed_trial_value_is_caught(results):
    path = results / "trials.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    row = next(i for i, line in enumerate(lines[1:], start=1) if line.split(",")[1] == "100")
    fields = lines[row].split(",")
    column = header.index("grad_w1_0")
    fields[column] = "-1.56801"  # the harness wrote -1.5680001
    lines[row] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    rehash(results, "trials.csv")

    done = analyse(results, "--no-figures")

    assert done.returncode == 1
    assert f"trials.csv line {row + 1} (trial {row - 1}, mask 100) column grad_w1_0: file has -1.5680099" in done.stderr, \
        done.stderr


def test_a_changed_trial_mask_is_caught(results):
    path = results / "trials.csv"
    lines = path.read_text().splitlines()
    row = next(i for i, line in enumerate(lines[1:], start=1) if line.split(",")[1] == "100")
    fields = lines[row].split(",")
    fields[1] = "101"
    lines[row] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    rehash(results, "trials.csv")

    done = analyse(results, "--no-figures")

    assert done.returncode == 1
    assert f"trials.csv line {row + 1} (trial {row - 1}, mask 101)" in done.stderr, done.stderr
    assert "masks.csv line" in done.stderr and "column count" in done.stderr


def test_a_file_that_no_longer_matches_its_sha256_is_caught(results):
    with open(results / "trials.csv", "a") as f:
        f.write("\n")

    done = analyse(results, "--no-figures")

    assert done.returncode == 1
    assert "trials.csv column (SHA-256)" in done.stderr, done.stderr


def test_unknown_summary_columns_are_listed_not_failed(results):
    summary = pd.read_csv(results / "summary.csv", dtype=str, keep_default_na=False)
    summary["bootstrap_note"] = "x"
    summary.to_csv(results / "summary.csv", index=False)
    rehash(results, "summary.csv")

    done = analyse(results, "--no-figures")

    assert done.returncode == 0, done.stderr
    assert "not checked (unknown to this analysis): bootstrap_note" in done.stderr


def test_known_extra_columns_are_verified(results):
    summary = pd.read_csv(results / "summary.csv")
    z = (summary["mean"] - summary["no_dropout"]) / summary["std_error"]
    summary["z_vs_no_dropout"] = z.where(summary["std_error"] > 0)
    summary["p_vs_expected"] = 2 * stats.norm.sf(summary["z_vs_expected"].abs())
    summary.loc[summary["quantity"] == "grad_w1_2", "z_vs_no_dropout"] += 0.01
    summary.to_csv(results / "summary.csv", index=False)
    rehash(results, "summary.csv")

    done = analyse(results, "--no-figures")

    assert done.returncode == 1
    bad = [line for line in done.stderr.splitlines() if line.startswith("disagreement:")]
    assert len(bad) == 1 and "(grad_w1_2) column z_vs_no_dropout" in bad[0], done.stderr


def test_a_study_without_trials_csv_is_checked_for_consistency(tmp_path):
    out = tmp_path / "results"
    run_binary("--trials", "3000", "--keep-prob", "0.3", "--precision", "f64", "--no-trials-csv", "--out", str(out),
               "--quiet")

    done = analyse(out, "--no-figures")

    assert done.returncode == 0, done.stderr
    assert "trials.csv is absent" in done.stderr
    run = json.loads((out / "run.json").read_text())
    assert "trials.csv" not in run["sha256"]


def test_a_folder_without_results_exits_2(tmp_path):
    done = analyse_as_a_user(tmp_path / "nothing-here", "--no-figures")

    assert done.returncode == 2
    assert "run.json does not exist" in done.stderr


def test_a_float32_run_is_checked_on_its_rounded_keep_prob(tmp_path):
    # float32(0.3) = 0.30000001192092896: the trials divide by it, masks.csv's probabilities and
    # the exact expectation use it, and so does the analysis (from run.json's keep_prob_used).
    out = tmp_path / "results"
    run_binary("--trials", "5000", "--keep-prob", "0.3", "--arithmetic", "fma", "--seed", "11", "--out", str(out),
               "--quiet")
    assert analyse(out, "--no-figures").returncode == 0

    # The unrounded keep probability gives another expectation, beyond the rounding tolerance.
    run = json.loads((out / "run.json").read_text())
    assert run["keep_prob_used"] == float(np.float32(0.3))
    run["keep_prob_used"] = 0.3
    (out / "run.json").write_text(json.dumps(run))
    done = analyse(out, "--no-figures")
    assert done.returncode == 1
    assert "run.json column keep_prob_used: file has 0.3, recomputed 0.30000001192092896" in done.stderr, done.stderr
    assert "(loss) column expected" in done.stderr


def test_a_float64_run_with_trials_passes(tmp_path):
    out = tmp_path / "results"
    run_binary("--trials", "5000", "--keep-prob", "0.7", "--precision", "f64", "--seed", "5", "--out", str(out),
               "--quiet")

    done = analyse(out, "--no-figures")

    assert done.returncode == 0, done.stderr
