"""Independent verification of a results folder written by ``dropout-study``.

This module owns every check the analysis makes of the harness's files and the tolerance of
each, derived from rounding (never from what happened to pass):

- ``run.json``: the SHA-256 of every file it lists, the trial count, the keep probability the
  trials divided by, and the count of non-finite trials;
- ``trials.csv``: every trial's values against this analysis's own float64 pass of the same mask;
- ``masks.csv``: counts against ``trials.csv``, frequencies and probabilities;
- ``summary.csv``: every statistic recomputed from ``trials.csv`` (mean, standard deviation,
  standard error, Student's t interval, z-scores) and the exact expectation and no-dropout value
  recomputed by :mod:`exact`; known extra columns (``z_vs_no_dropout``, ``penalty_gradient``,
  two-sided p-values, Holm-adjusted p-values) are verified too, and unknown ones are listed once
  as not checked.

A disagreement is one line naming the file, the line, the quantity, the column and both values.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

import exact
from exact import U32, U64

#: Rounding steps along the longest path of one forward and backward pass (product, sum,
#: division by keep_prob, mask product, difference, square, doubling, backward product, ...):
#: at most 8; twice that is the constant in front of the unit roundoff for one trial's value.
PASS_ROUNDINGS = 16

#: The harness's 95% t quantile is held by its own tests within 1e-12 (relative) of SciPy's
#: ``scipy.stats.t.ppf(0.975, n - 1)`` (statrs below 1000 degrees of freedom, a fourth-order
#: Cornish-Fisher expansion above): that, not float64 rounding, bounds their difference.
T_QUANTILE_REL = 1e-12

#: Tail probabilities of the normal and t distributions (erfc and the regularised incomplete beta
#: function, in statrs and in SciPy) are accurate to about 1e-12 relative; 1e-9 leaves room for
#: either library's series in the far tail. Added to the part propagated from the z-score.
P_VALUE_REL = 1e-9

#: At most this many disagreeing trial rows are printed per column; the rest are counted.
MAX_ROWS_SHOWN = 5

#: The columns of summary.csv this module verifies; any other column is listed as not checked.
KNOWN_SUMMARY_COLUMNS = {
    "quantity", "trials", "mean", "std", "std_error", "ci95_low", "ci95_high", "no_dropout",
    "expected", "mean_minus_expected", "z_vs_expected", "expected_minus_no_dropout",
    "z_vs_no_dropout", "p_vs_expected", "p_vs_no_dropout", "penalty_gradient",
    "relation", "trials_to_detect", "scheme",
}

# Two float64 reference values that differ by no more than this fraction of their magnitude (or
# of 1) differ by rounding alone: the 2^3 terms of the enumeration are each exact to a few ulps,
# and a dropout penalty is many orders larger. The harness classifies `relation` by the same rule.
EQUAL_RELATIVE = 1e-12


@dataclass
class Disagreement:
    """One value in a file that differs from its recomputation by more than its tolerance."""

    file: str
    line: int | None
    quantity: str | None
    column: str | None
    found: object
    recomputed: object
    tolerance: float | None = None
    note: str = ""
    #: When set, the whole description after the location (for a disagreement that is not a
    #: file value against a recomputed one).
    text: str = ""

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f" line {self.line}"
        if self.quantity is not None:
            where += f" ({self.quantity})"
        if self.column is not None:
            where += f" column {self.column}"
        if self.text:
            return f"{where}: {self.text}"
        text = f"{where}: file has {_show(self.found)}, recomputed {_show(self.recomputed)}"
        if self.tolerance is not None and _is_number(self.found) and _is_number(self.recomputed):
            text += f" (difference {abs(self.found - self.recomputed):.3g}, tolerance {self.tolerance:.3g})"
        if self.note:
            text += f"; {self.note}"
        return text


def _is_number(v) -> bool:
    """Whether ``v`` is a finite real number."""
    return isinstance(v, (int, float, np.floating, np.integer)) and math.isfinite(float(v))


def _show(v) -> str:
    """A value as a reader should see it: floats in full precision, missing values as 'empty'."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "empty"
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return str(v)


@dataclass
class Report:
    """What the checks found: disagreements, notes for stderr, and how many values were compared."""

    disagreements: list[Disagreement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    compared: int = 0

    def compare(self, file, line, quantity, column, found, recomputed, tolerance, note=""):
        """Compares one value; ``None`` or NaN on both sides (an undefined value) agree."""
        self.compared += 1
        found_missing = found is None or (isinstance(found, float) and math.isnan(found))
        mine_missing = recomputed is None or (isinstance(recomputed, float) and math.isnan(recomputed))
        if found_missing and mine_missing:
            return
        if found_missing or mine_missing or abs(float(found) - float(recomputed)) > tolerance:
            self.disagreements.append(
                Disagreement(file, line, quantity, column, found, recomputed, tolerance, note)
            )

    def fail(self, file, line, quantity, column, found, recomputed, note=""):
        """Records a disagreement that is not a numeric comparison (a missing row, a wrong text)."""
        self.compared += 1
        self.disagreements.append(Disagreement(file, line, quantity, column, found, recomputed, None, note))


# ---------------------------------------------------------------------------------------------
# Reading the files


def parse_float32_exact(text: str) -> float:
    """The float32 value nearest to the decimal ``text``, widened exactly to float64.

    Parsing to float64 and then rounding to float32 can round twice; this picks, among the
    float32 neighbours of that result, the one nearest to the exact decimal (ties to even), so a
    trial value reads back exactly as the harness held it.
    """
    try:
        target = Fraction(text)
    except (ValueError, ZeroDivisionError):
        return float(np.float32(float(text)))  # NaN and infinities
    guess = np.float32(float(text))
    candidates = [np.nextafter(guess, np.float32(-np.inf)), guess, np.nextafter(guess, np.float32(np.inf))]
    candidates = [c for c in candidates if np.isfinite(c)]
    best = min(
        candidates,
        key=lambda c: (abs(Fraction(float(c)) - target), int(np.float32(c).view(np.uint32)) & 1),
    )
    return float(best)


def parse_column(texts: pd.Series, precision: str) -> np.ndarray:
    """A trials.csv column of shortest-text floats as float64 values of the run's precision.

    Each distinct text is converted once (a column of a study over a few hidden units has few
    distinct values).
    """
    convert = parse_float32_exact if precision == "f32" else float
    table = {t: convert(t) for t in pd.unique(texts)}
    return texts.map(table).to_numpy(dtype=np.float64)


def read_run(folder: Path) -> dict:
    """run.json as a dict."""
    with open(folder / "run.json", encoding="utf-8") as f:
        return json.load(f)


def read_trials(folder: Path, precision: str):
    """trials.csv as ``(masks, {quantity: values})``, or ``None`` when the file is absent."""
    path = folder / "trials.csv"
    if not path.exists():
        return None
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    masks = table["mask"]
    values = {
        name: parse_column(table[name], precision) for name in table.columns if name not in ("trial", "mask")
    }
    return table["trial"], masks, values


def read_csv_numbers(path: Path) -> pd.DataFrame:
    """A CSV with every column of numbers parsed by Python's correctly rounded ``float`` (so each
    reads back exactly as written), empty fields as NaN, and other columns kept as text."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in table.columns:
        if column in ("mask", "quantity"):
            continue
        try:
            table[column] = [float(v) if v != "" else np.nan for v in table[column]]
        except ValueError:
            pass  # a text column
    return table


# ---------------------------------------------------------------------------------------------
# The checks


def check_hashes(folder: Path, run: dict, report: Report) -> None:
    """Every file run.json lists must exist and hash to the SHA-256 it records; trials.csv alone
    may be absent (it is large, and the run's own command regenerates it byte for byte)."""
    for name, recorded in sorted(run.get("sha256", {}).items()):
        path = folder / name
        if name == "trials.csv" and not path.exists():
            report.notes.append(
                "trials.csv is listed in run.json but absent: not checked (the study's command with the same "
                "seed and trials regenerates it, and run.json's SHA-256 confirms the regenerated file)")
            continue
        if not path.exists():
            report.fail("run.json", None, None, f"sha256.{name}", recorded, "no such file", "the file it hashes is absent")
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        report.compared += 1
        if digest != recorded:
            report.disagreements.append(Disagreement(
                name, None, None, "(SHA-256)", digest, recorded,
                text=f"the file hashes to {digest}, but run.json records {recorded}: it changed after the run"))
    for name in ("trials.csv", "summary.csv", "masks.csv"):
        if (folder / name).exists() and name not in run.get("sha256", {}):
            report.fail("run.json", None, None, f"sha256.{name}", "missing", "a SHA-256", f"{name} is present but not hashed")


def check_run_record(run: dict, n_trials: int | None, nonfinite: int | None, report: Report) -> None:
    """run.json's trial count, keep probabilities and non-finite count against trials.csv."""
    if run["precision"] == "f32":
        widened = float(np.float32(run["keep_prob"]))
    else:
        widened = float(run["keep_prob"])
    # keep_prob_used is keep_prob rounded once to the run's precision: equal bit for bit.
    report.compare("run.json", None, None, "keep_prob_used", run["keep_prob_used"], widened, 0.0)
    if n_trials is not None:
        report.compare("run.json", None, None, "trials", run["trials"], n_trials, 0)
    if nonfinite is not None:
        report.compare("run.json", None, None, "nonfinite_trials", run.get("nonfinite_trials", 0), nonfinite, 0)


def check_trials(trial_index, masks, values, net, keep_prob, precision, report: Report) -> None:
    """Every trial's values against this analysis's own pass of the same mask.

    A trial's value differs from the float64 pass on the same (already rounded) weights only by
    rounding inside the trial: at most ``PASS_ROUNDINGS`` unit roundoffs of the run's precision
    times the magnitude of the terms (:func:`exact.magnitudes`), plus the same in float64 for this
    side. A changed value or a changed mask shows as a disagreement.
    """
    n = net.hidden_units
    patterns = exact.all_masks(n)
    index_of = {text: i for i, text in enumerate(exact.mask_text(patterns))}
    codes = masks.map(index_of)
    bad_masks = codes.isna()
    for row in np.flatnonzero(bad_masks.to_numpy())[:MAX_ROWS_SHOWN]:
        report.fail("trials.csv", int(row) + 2, f"trial {trial_index.iloc[row]}", "mask", masks.iloc[row], f"{n} characters 0/1")
    if bad_masks.any():
        return
    codes = codes.to_numpy(dtype=np.int64)

    # The trial index runs 0, 1, 2, ... in order.
    expected_index = np.arange(len(trial_index))
    found_index = pd.to_numeric(trial_index, errors="coerce").to_numpy()
    wrong = np.flatnonzero(found_index != expected_index)
    for row in wrong[:MAX_ROWS_SHOWN]:
        report.fail("trials.csv", int(row) + 2, None, "trial", trial_index.iloc[row], int(row))
    report.compared += len(trial_index)

    per_mask = exact.run_masks(net, keep_prob, patterns)
    size = exact.magnitudes(net, keep_prob, patterns)
    u = U32 if precision == "f32" else U64
    for name, column in values.items():
        if name not in per_mask:
            report.notes.append(f"trials.csv column {name}: not checked (no pass of this analysis computes it)")
            continue
        mine = per_mask[name][codes]
        tolerance = PASS_ROUNDINGS * (u + U64) * size[name][codes]
        off = ~(np.abs(column - mine) <= tolerance)
        report.compared += len(column)
        rows = np.flatnonzero(off)
        for row in rows[:MAX_ROWS_SHOWN]:
            report.disagreements.append(
                Disagreement(
                    "trials.csv", int(row) + 2, f"trial {row}, mask {masks.iloc[row]}", name,
                    float(column[row]), float(mine[row]), float(tolerance[row]),
                )
            )
        if len(rows) > MAX_ROWS_SHOWN:
            report.disagreements.append(
                Disagreement("trials.csv", None, None, name, f"{len(rows)} rows off", "0 rows off",
                             note=f"{len(rows) - MAX_ROWS_SHOWN} more rows like those above not shown")
            )


def check_masks(folder: Path, masks_of_trials, n_trials: int, units: int, keep_prob: float, report: Report) -> None:
    """masks.csv: every pattern once, in order; counts as trials.csv draws them; frequency and
    probability recomputed."""
    path = folder / "masks.csv"
    if not path.exists():
        report.fail("masks.csv", None, None, None, "absent", "present", "the study always writes it")
        return
    table = read_csv_numbers(path)
    patterns = exact.all_masks(units)
    texts = exact.mask_text(patterns)
    probability = exact.mask_probability(patterns, keep_prob)
    counts = masks_of_trials.value_counts() if masks_of_trials is not None else None
    if list(table["mask"]) != texts:
        report.fail("masks.csv", None, None, "mask", ",".join(map(str, table["mask"])), ",".join(texts),
                    "every pattern must appear once, in pattern order")
        return
    report.compare("masks.csv", None, None, "count (sum)", int(table["count"].sum()), n_trials, 0)
    for i, row in table.iterrows():
        line = i + 2
        if counts is not None:
            report.compare("masks.csv", line, row["mask"], "count", int(row["count"]), int(counts.get(texts[i], 0)), 0,
                           "trials.csv draws this mask another number of times")
        # count / trials is one correctly rounded division on both sides: equal bit for bit.
        report.compare("masks.csv", line, row["mask"], "frequency", row["frequency"], int(row["count"]) / n_trials, 0.0)
        # p^kept (1-p)^dropped takes at most 2n + 1 roundings on either side.
        tol = (2 * units + 2) * U64 * probability[i]
        report.compare("masks.csv", line, row["mask"], "probability", row["probability"], float(probability[i]), tol)


@dataclass
class Recomputed:
    """One quantity's statistics as this analysis computes them, with the tolerance of each."""

    n: int
    mean: float
    std: float | None
    std_error: float | None
    tol_mean: float
    tol_std: float
    tol_std_error: float


def recompute(values: np.ndarray) -> Recomputed:
    """Mean (an exactly rounded sum, then one division), sample standard deviation (two passes,
    n - 1) and standard error of one quantity, with tolerances against the harness's streaming
    computation.

    Tolerances. The harness updates a running mean per trial (Welford), ``mean += (v - mean)/k``:
    three roundings per trial, each at most ``U64`` times a term no larger than ``max|v|``, and the
    errors of ``n`` updates (and of the block merges, fewer) can add up: ``|error| <= 5 n U64
    max|v|``, a relative error of order ``n eps``. The running sum of squared deviations takes
    ``n`` terms up to ``4 max|v|^2`` each, rounded, and inherits the running mean's error to first
    order: its variance is off by at most ``16 n U64 max|v|^2``, so the standard deviation by that
    over ``2 std``. A quantity with a single repeated value has mean and zero spread exactly on
    both sides.
    """
    n = len(values)
    biggest = float(np.max(np.abs(values))) if n else 0.0
    mean = math.fsum(values) / n
    if n >= 2:
        deviation = values - mean
        var = math.fsum(deviation * deviation) / (n - 1)
        std = math.sqrt(var)
        std_error = std / math.sqrt(n)
    else:
        var = std = std_error = None
    constant = n >= 1 and bool(np.all(values == values[0]))
    if constant:
        return Recomputed(n, mean, std, std_error, U64 * abs(mean), 0.0, 0.0)
    tol_mean = 5 * n * U64 * biggest + U64 * abs(mean)
    if std is None:
        return Recomputed(n, mean, None, None, tol_mean, 0.0, 0.0)
    tol_var = 16 * n * U64 * biggest**2
    tol_std = tol_var / (2 * std) + U64 * std
    tol_std_error = tol_std / math.sqrt(n) + 2 * U64 * std_error
    return Recomputed(n, mean, std, std_error, tol_mean, tol_std, tol_std_error)


def from_summary_row(row, n: int) -> Recomputed:
    """The statistics as summary.csv states them, used as the base of the derived columns when
    trials.csv is absent (only their internal consistency can then be checked)."""
    std = None if pd.isna(row["std"]) else float(row["std"])
    se = None if std is None else std / math.sqrt(n)
    return Recomputed(n, float(row["mean"]), std, se, 0.0, 0.0, 0.0 if se is None else 2 * U64 * se)


def two_sided_p(z: float, n: int) -> tuple[float, float]:
    """The two-sided p-value of ``z`` under the standard normal and under Student's t with
    ``n - 1`` degrees of freedom; a harness column may use either."""
    return 2.0 * stats.norm.sf(abs(z)), 2.0 * stats.t.sf(abs(z), n - 1)


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (Holm 1979, Scand. J. Statist. 6):
    sorted ascending, the j-th (from 0) is multiplied by ``m - j``, made non-decreasing and
    capped at 1."""
    m = len(p)
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    adjusted = np.empty(m)
    adjusted[order] = scaled
    return adjusted


def check_summary(folder: Path, values, net, keep_prob: float, run: dict, report: Report) -> None:
    """summary.csv: every known column recomputed; unknown columns listed once as not checked."""
    path = folder / "summary.csv"
    table = read_csv_numbers(path)
    unknown = [c for c in table.columns if c not in KNOWN_SUMMARY_COLUMNS and "holm" not in c.lower()]
    if unknown:
        report.notes.append("summary.csv columns not checked (unknown to this analysis): " + ", ".join(unknown))
    missing = [c for c in ("quantity", "trials", "mean", "std", "std_error") if c not in table.columns]
    if missing:
        report.fail("summary.csv", 1, None, ",".join(missing), "absent", "present", "the header lacks these columns")
        return

    # The references of this analysis.
    expected = exact.enumerate_expectation(net, keep_prob)
    expected_size = exact.expectation_magnitudes(net, keep_prob)
    nd = exact.no_dropout(net)
    nd_size = {k: float(v[0]) for k, v in exact.magnitudes(net, 1.0, np.ones((1, net.hidden_units))).items()}
    penalty_grad = {k: float(v) for k, v in exact.penalty_gradient(net, keep_prob).items()}
    t = float(stats.t.ppf(0.975, run["trials"] - 1)) if run["trials"] >= 2 else None

    # Rows: one per trials.csv quantity, in the same order.
    quantities = list(table["quantity"])
    if values is not None and quantities != list(values):
        report.fail("summary.csv", None, None, "quantity", ",".join(quantities), ",".join(values),
                    "the rows must be the trials.csv quantity columns, in order")
    unchecked_expectation = [q for q in quantities if q not in expected]
    if unchecked_expectation:
        report.notes.append("summary.csv rows whose expectation is not checked (no pass of this analysis computes it): "
                            + ", ".join(unchecked_expectation))

    for i, row in table.iterrows():
        line, q = i + 2, row["quantity"]
        n = run["trials"]
        report.compare("summary.csv", line, q, "trials", int(row["trials"]), n, 0)
        if values is not None and q in values:
            mine = recompute(values[q])
        elif values is None:
            mine = from_summary_row(row, n)
        else:
            report.fail("summary.csv", line, q, "quantity", q, "a trials.csv column", "no such column in trials.csv")
            continue

        # Statistics from the trials.
        if values is not None:
            report.compare("summary.csv", line, q, "mean", row["mean"], mine.mean, mine.tol_mean)
            report.compare("summary.csv", line, q, "std", row["std"], mine.std, mine.tol_std)
        se = mine.std_error
        report.compare("summary.csv", line, q, "std_error", row["std_error"], se, mine.tol_std_error)
        if {"ci95_low", "ci95_high"} <= set(table.columns):
            if se is None or t is None:
                low = high = None
                tol_ci = 0.0
            else:
                low, high = mine.mean - t * se, mine.mean + t * se
                tol_ci = (mine.tol_mean + t * mine.tol_std_error + t * se * T_QUANTILE_REL
                          + 2 * U64 * (abs(mine.mean) + t * se))
            report.compare("summary.csv", line, q, "ci95_low", row["ci95_low"], low, tol_ci)
            report.compare("summary.csv", line, q, "ci95_high", row["ci95_high"], high, tol_ci)

        # References: the exact expectation summed over 2^n masks (each term a pass of at most
        # PASS_ROUNDINGS roundings, then 2^n additions) and the no-dropout pass.
        references = {}
        if q in expected:
            tol_exp = (PASS_ROUNDINGS + 2**net.hidden_units) * U64 * expected_size[q]
            tol_nd = PASS_ROUNDINGS * U64 * nd_size[q]
            references = {"expected": (expected[q], tol_exp), "no_dropout": (nd[q], tol_nd)}
            for column, (value, tol) in references.items():
                if column in table.columns:
                    report.compare("summary.csv", line, q, column, row[column], value, tol)
            if "expected_minus_no_dropout" in table.columns:
                diff = expected[q] - nd[q]
                report.compare("summary.csv", line, q, "expected_minus_no_dropout", row["expected_minus_no_dropout"],
                               diff, tol_exp + tol_nd + U64 * abs(diff))
            if "penalty_gradient" in table.columns and q in penalty_grad:
                # Either the closed form or expected - no_dropout: both within these roundings.
                g = penalty_grad[q]
                report.compare("summary.csv", line, q, "penalty_gradient", row["penalty_gradient"], g,
                               tol_exp + tol_nd + PASS_ROUNDINGS * U64 * abs(g))

        # relation and trials_to_detect, from this analysis's own expectation and exact spread.
        if q in expected:
            _check_relation_and_detection(report, table, row, line, q, net, keep_prob, expected[q], nd[q], values)

        # Columns measured against a reference: the difference, the z-score and its p-value.
        for ref, z_column, p_column in (("expected", "z_vs_expected", "p_vs_expected"),
                                        ("no_dropout", "z_vs_no_dropout", "p_vs_no_dropout")):
            if ref in references:
                ref_value, tol_ref = references[ref]
            elif ref in table.columns and not pd.isna(row[ref]):
                ref_value, tol_ref = float(row[ref]), 0.0  # unknown quantity: the file's own reference
            else:
                continue
            if ref == "expected" and "mean_minus_expected" in table.columns:
                d = mine.mean - ref_value
                report.compare("summary.csv", line, q, "mean_minus_expected", row["mean_minus_expected"], d,
                               mine.tol_mean + tol_ref + U64 * abs(d))
            if se is None or se == 0.0:
                z, tol_z = None, 0.0
            else:
                z = (mine.mean - ref_value) / se
                tol_z = (mine.tol_mean + tol_ref) / se + abs(z) * mine.tol_std_error / se + 2 * U64 * abs(z)
            if z_column in table.columns:
                report.compare("summary.csv", line, q, z_column, row[z_column], z, tol_z)
            if p_column in table.columns:
                _check_p(report, line, q, p_column, row[p_column], z, tol_z, n)

    # Holm-adjusted p-values: the family is the rows that carry an adjusted value.
    for column in table.columns:
        if "holm" not in column.lower():
            continue
        base = next((b for b in ("p_vs_expected", "p_vs_no_dropout") if b in column and b in table.columns), None)
        if base is None:
            report.notes.append(f"summary.csv column {column}: not checked (no p-value column it adjusts)")
            continue
        rows = table.index[table[column].notna()]
        p = table.loc[rows, base].to_numpy(dtype=float)
        if np.isnan(p).any():
            report.fail("summary.csv", None, None, column, "a value", "empty", f"a row has {column} but no {base}")
            continue
        adjusted = holm(p)
        for r, value in zip(rows, adjusted):
            # m products and a running maximum of the file's own p-values: a few roundings.
            report.compare("summary.csv", r + 2, table.loc[r, "quantity"], column, table.loc[r, column], float(value),
                           4 * len(p) * U64 * max(value, 1e-300))


def _check_relation_and_detection(report, table, row, line, q, net, keep_prob, expected, no_dropout, values):
    """``relation``: ``constant`` when the quantity takes one value over every mask of positive
    probability, ``equal`` when the exact expectation equals the no-dropout value up to
    :data:`EQUAL_RELATIVE`, ``penalised`` otherwise (the ``tf1`` scheme keeps the mean).
    ``trials_to_detect``: ``ceil(((z_0.975 + z_0.8) sigma / |expected - no_dropout|)^2)`` with the
    exact standard deviation over masks; a quantity within a rounding of an integer boundary may
    land on either side, so one trial either way is accepted."""
    masks = exact.all_masks(net.hidden_units)
    weights = exact.mask_probability(masks, keep_prob)
    per_mask = exact.run_masks(net, keep_prob, masks)[q]
    support = per_mask[weights > 0]
    gap = expected - no_dropout
    if np.all(support == support[0]):
        relation = "constant"
    elif abs(gap) <= EQUAL_RELATIVE * max(abs(expected), abs(no_dropout), 1.0):
        relation = "equal"
    else:
        relation = "penalised"
    if "relation" in table.columns and row["relation"] != relation:
        report.fail("summary.csv", line, q, "relation", row["relation"], relation)
    if "trials_to_detect" not in table.columns:
        return
    found = row["trials_to_detect"]
    if relation == "equal" or gap == 0.0:
        if not pd.isna(found):
            report.fail("summary.csv", line, q, "trials_to_detect", found, "empty", "there is no gap to detect")
        return
    sigma = math.sqrt(max(float(np.sum(weights * per_mask**2)) - expected**2, 0.0))
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    want = max(1, math.ceil((z * sigma / abs(gap)) ** 2))
    if pd.isna(found) or abs(int(found) - want) > 1:
        report.fail("summary.csv", line, q, "trials_to_detect", found, want)


def check_convergence(folder: Path, values, summary: pd.DataFrame, report: Report) -> None:
    """convergence.csv: at each checkpoint ``c``, the running mean, standard error and 95% interval
    of the first ``c`` trials recomputed from trials.csv (tolerances as :func:`recompute`), and the
    references equal to summary.csv's; the last checkpoint is the trial count."""
    path = folder / "convergence.csv"
    if not path.exists():
        return
    table = read_csv_numbers(path)
    references = summary.set_index("quantity")
    checkpoints = sorted(set(int(c) for c in table["checkpoint_trials"]))
    if values is not None and checkpoints[-1] != len(next(iter(values.values()))):
        report.fail("convergence.csv", None, None, "checkpoint_trials", checkpoints[-1],
                    len(next(iter(values.values()))), "the last checkpoint must be the trial count")
    for i, row in table.iterrows():
        line, q, c = i + 2, row["quantity"], int(row["checkpoint_trials"])
        for column in ("expected", "no_dropout"):
            report.compare("convergence.csv", line, q, column, row[column], float(references.loc[q, column]), 0.0)
        if values is None:
            continue
        mine = recompute(values[q][:c])
        report.compare("convergence.csv", line, q, "mean", row["mean"], mine.mean, mine.tol_mean)
        report.compare("convergence.csv", line, q, "std_error", row["std_error"], mine.std_error, mine.tol_std_error)
        if mine.std_error is not None:
            t = float(stats.t.ppf(0.975, c - 1))
            tol_ci = (mine.tol_mean + t * mine.tol_std_error + t * mine.std_error * T_QUANTILE_REL
                      + 2 * U64 * (abs(mine.mean) + t * mine.std_error))
            report.compare("convergence.csv", line, q, "ci95_low", row["ci95_low"], mine.mean - t * mine.std_error, tol_ci)
            report.compare("convergence.csv", line, q, "ci95_high", row["ci95_high"], mine.mean + t * mine.std_error, tol_ci)


def check_sweep(folder: Path, report: Report) -> None:
    """sweep.csv (when the folder holds a sweep): its SHA-256 against sweep.json, and at every keep
    probability the exact expectation, the no-dropout value, the penalty R and its gradient from
    this analysis's own enumeration, and z consistent with the row's mean and standard error."""
    path, record_path = folder / "sweep.csv", folder / "sweep.json"
    if not path.exists():
        return
    if not record_path.exists():
        report.fail("sweep.csv", None, None, "sweep.json", "absent", "present", "sweep.json holds its hash and parameters")
        return
    record = json.loads(record_path.read_text())
    recorded = record.get("sha256", {}).get("sweep.csv")
    found = hashlib.sha256(path.read_bytes()).hexdigest()
    if found != recorded:
        report.fail("sweep.csv", None, None, "SHA-256", found, recorded, "it changed after the sweep")
    if record.get("scheme", "tf1") != "tf1" or record.get("network", "notebook") != "notebook":
        report.notes.append("sweep.csv: not recomputed (this analysis knows the notebook's network under tf1 only)")
        return
    net = exact.Network.notebook(record["precision"])
    table = read_csv_numbers(path)
    for keep_prob_text, rows in table.groupby("keep_prob", sort=False):
        p = float(np.float32(keep_prob_text)) if record["precision"] == "f32" else float(keep_prob_text)
        expected = exact.enumerate_expectation(net, p)
        size = exact.expectation_magnitudes(net, p)
        nd = exact.no_dropout(net)
        r = float(exact.penalty(net, p))
        gradient = {k: float(v) for k, v in exact.penalty_gradient(net, p).items()}
        for i, row in rows.iterrows():
            line, q = i + 2, row["quantity"]
            tol = (PASS_ROUNDINGS + 2**net.hidden_units) * U64 * size[q]
            report.compare("sweep.csv", line, q, "expected", row["expected"], expected[q], tol)
            report.compare("sweep.csv", line, q, "no_dropout", row["no_dropout"], nd[q], PASS_ROUNDINGS * U64 * abs(nd[q]))
            # R: a sum of 3 squares times (1-p)/p, a few roundings of its own size.
            report.compare("sweep.csv", line, q, "penalty", row["penalty"], r, PASS_ROUNDINGS * U64 * abs(r))
            if q in gradient:
                report.compare("sweep.csv", line, q, "penalty_gradient", row["penalty_gradient"], gradient[q], tol)
            se = row["std_error"]
            if not pd.isna(se) and se > 0:
                z = (row["mean"] - row["expected"]) / se
                report.compare("sweep.csv", line, q, "z_vs_expected", row["z_vs_expected"], z, 4 * U64 * (abs(z) + 1))


def _check_p(report: Report, line, q, column, found, z, tol_z, n) -> None:
    """A two-sided p-value: it must match the normal or the t(n-1) tail of the recomputed z,
    within the z's tolerance times the density and the tail functions' own accuracy."""
    if z is None:
        report.compare("summary.csv", line, q, column, found, None, 0.0)
        return
    p_normal, p_t = two_sided_p(z, n)
    tol_normal = 2 * stats.norm.pdf(z) * tol_z + P_VALUE_REL * p_normal + 4 * U64
    tol_t = 2 * stats.t.pdf(z, n - 1) * tol_z + P_VALUE_REL * p_t + 4 * U64
    if pd.isna(found):
        report.compare("summary.csv", line, q, column, found, p_t, tol_t)
    elif abs(found - p_normal) <= tol_normal:
        report.compared += 1
    else:
        report.compare("summary.csv", line, q, column, found, p_t, tol_t,
                       note=f"nor the normal tail {p_normal!r}")


def verify(folder: Path) -> tuple[Report, dict]:
    """Runs every check of a results folder; returns the report and run.json."""
    report = Report()
    run = read_run(folder)
    if run.get("scheme", "tf1") != "tf1" or run.get("network", "notebook") != "notebook":
        raise SystemExit(
            f"analysis: {folder} holds a run of scheme {run.get('scheme')} on network {run.get('network')}; "
            "this analysis recomputes the notebook's network under the tf1 scheme only "
            "(use `dropout-study verify` for any run)")
    precision = run["precision"]
    keep_prob = float(run["keep_prob_used"])
    net = exact.Network.notebook(precision)

    check_hashes(folder, run, report)
    loaded = read_trials(folder, precision)
    if loaded is None:
        report.notes.append("trials.csv is absent (a run with --no-trials-csv): the mean, std and mask counts "
                            "are not recomputed; the other columns are checked against summary.csv's own mean and std")
        trial_index = masks = values = None
        n_trials = nonfinite = None
    else:
        trial_index, masks, values = loaded
        n_trials = len(masks)
        finite = np.all([np.isfinite(v) for v in values.values()], axis=0) if values else np.ones(n_trials, bool)
        nonfinite = int(np.count_nonzero(~finite))
        lengths = {len(m) for m in pd.unique(masks)}
        if lengths != {net.hidden_units}:
            report.fail("trials.csv", None, None, "mask", f"masks of length {sorted(lengths)}",
                        f"length {net.hidden_units}", "this analysis knows the notebook's network of 3 hidden units")
            return report, run
    check_run_record(run, n_trials, nonfinite, report)
    if values is not None:
        check_trials(trial_index, masks, values, net, keep_prob, precision, report)
    check_masks(folder, masks, run["trials"], net.hidden_units, keep_prob, report)
    check_summary(folder, values, net, keep_prob, run, report)
    check_convergence(folder, values, pd.read_csv(folder / "summary.csv"), report)
    check_sweep(folder, report)
    return report, run
