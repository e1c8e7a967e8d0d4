"""The study's figures: the distribution of each gradient component over masks, the convergence
of the running means, and the dropout bias against the keep probability.

This module owns the drawing of every figure made from a results folder's CSVs (the network
pictures live in :mod:`network_picture`). Each figure is written as PNG and SVG into
``RESULTS_DIR/figures/``; every function returns the paths it wrote. Matplotlib runs with the Agg
backend, so no display is needed.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import exact  # noqa: E402

#: The weight-gradient quantities, laid out as the figures' 2 x 3 grid (w1 on top, w2 below).
GRADIENTS = [[f"grad_w1_{i}" for i in range(3)], [f"grad_w2_{i}" for i in range(3)]]

EXPECTED_STYLE = dict(color="tab:red", linestyle="-", linewidth=1.6)
NO_DROPOUT_STYLE = dict(color="0.25", linestyle="--", linewidth=1.4)


def describe(quantity: str) -> str:
    """A reader's name for a gradient column: ``grad_w1_2`` -> ``dL/dw1[0,2]``."""
    layer, index = quantity[len("grad_"):].rsplit("_", 1)
    i = int(index)
    return f"dL/d{layer}[0,{i}]" if layer == "w1" else f"dL/d{layer}[{i},0]"


def save(fig, folder: Path, stem: str) -> list[Path]:
    """Writes ``fig`` as ``stem.png`` and ``stem.svg`` in ``folder`` and closes it."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.png", folder / f"{stem}.svg"]
    fig.savefig(paths[0], dpi=110, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def distribution(values, masks_of_trials, mask_counts: pd.DataFrame, summary: pd.DataFrame, net: exact.Network,
                 keep_prob: float, folder: Path) -> list[Path]:
    """Figure (a): for each gradient component, the distribution of its value over the masks.

    Bars: the fraction of trials that gave each value (from trials.csv when present, else from
    masks.csv's counts and this analysis's value of each mask). Black ticks: the exact
    probability of that value (the summed probabilities of the masks that give it). Vertical
    lines: the exact expectation and the value without dropout.
    """
    patterns = exact.all_masks(net.hidden_units)
    probability = exact.mask_probability(patterns, keep_prob)
    per_mask = exact.run_masks(net, keep_prob, patterns)
    texts = exact.mask_text(patterns)
    counts = mask_counts.set_index("mask")["count"].reindex(texts).fillna(0).to_numpy()
    total = counts.sum()
    stats = summary.set_index("quantity")

    fig, axes = plt.subplots(2, 3, figsize=(15, 9.2))
    fig.subplots_adjust(left=0.05, right=0.99, top=0.88, bottom=0.12, hspace=0.35, wspace=0.22)
    for r, row in enumerate(GRADIENTS):
        for c, q in enumerate(row):
            ax = axes[r, c]
            # One group per distinct value; masks whose values agree to 1e-9 are one value.
            key = np.round(per_mask[q], 9)
            groups = {}
            for m, k in enumerate(key):
                groups.setdefault(k, []).append(m)
            xs, observed, exact_p = [], [], []
            for k, members in sorted(groups.items()):
                members = np.array(members)
                if values is not None:
                    chosen = np.isin(masks_of_trials, [texts[m] for m in members])
                    xs.append(float(np.mean(values[q][chosen])) if chosen.any() else float(per_mask[q][members[0]]))
                    observed.append(np.count_nonzero(chosen) / len(chosen))
                else:
                    xs.append(float(per_mask[q][members[0]]))
                    observed.append(counts[members].sum() / total)
                exact_p.append(probability[members].sum())
            xs, observed, exact_p = map(np.array, (xs, observed, exact_p))

            expected = float(stats.loc[q, "expected"]) if "expected" in stats.columns else None
            nd = float(stats.loc[q, "no_dropout"]) if "no_dropout" in stats.columns else None
            span = max(np.ptp(np.append(xs, [v for v in (expected, nd) if v is not None])), 0.2)
            ax.bar(xs, observed, width=0.012 * span, color="tab:blue", alpha=0.75, label="fraction of trials")
            ax.plot(xs, exact_p, linestyle="none", marker="_", markersize=10, markeredgewidth=2.2, color="black",
                    label="exact probability")
            if expected is not None:
                ax.axvline(expected, label="exact expectation", **EXPECTED_STYLE)
            if nd is not None:
                ax.axvline(nd, label="value without dropout", **NO_DROPOUT_STYLE)
            ax.set_xlim(xs.min() - 0.12 * span, xs.max() + 0.12 * span)
            ax.set_ylim(0, 1.25 * max(observed.max(), exact_p.max()))
            ax.set_title(f"{q} = {describe(q)}")
            ax.set_xlabel("gradient value (loss per unit of weight)")
            ax.set_ylabel("fraction of trials / probability")
            if len(xs) == 1:
                ax.text(0.5, 0.95, f"every mask gives {xs[0]:.4g}", transform=ax.transAxes, ha="center", va="top")
            elif expected is not None and nd is not None:
                zoom(ax, xs, observed, expected, nd, stats.loc[q])
    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles.append(plt.Line2D([], [], color="tab:green", marker="o", linestyle="-"))
    labels.append("Monte Carlo mean with its 95% interval (in the zoom)")
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=9, frameon=False)
    n = int(total)
    fig.suptitle(f"Distribution of each weight gradient over dropout masks (keep_prob {keep_prob:g}, {n} trials)\n"
                 "bars: observed fraction of trials; black ticks: exact probability; "
                 "red: exact expectation; dashed: value without dropout")
    return save(fig, folder, "gradient_distribution")


def zoom(ax, xs, observed, expected: float, nd: float, stats_row) -> None:
    """An inset that magnifies the neighbourhood of the exact expectation and the no-dropout value
    (1% apart, indistinguishable at the scale of the whole distribution), with the Monte Carlo mean
    and its 95% interval from summary.csv. It sits on the side whose bars are lower."""
    middle = 0.5 * (xs.min() + xs.max())
    left_height = observed[xs < middle].max(initial=0.0)
    right_height = observed[xs >= middle].max(initial=0.0)
    x0 = 0.06 if left_height <= right_height else 0.58
    inset = ax.inset_axes([x0, 0.58, 0.36, 0.24])
    inset.axvline(expected, **EXPECTED_STYLE)
    inset.axvline(nd, **NO_DROPOUT_STYLE)
    points = [expected, nd]
    if "mean" in stats_row and not pd.isna(stats_row.get("ci95_low", np.nan)):
        mean, low, high = float(stats_row["mean"]), float(stats_row["ci95_low"]), float(stats_row["ci95_high"])
        inset.errorbar([mean], [0.5], xerr=[[mean - low], [high - mean]], fmt="o", color="tab:green",
                       markersize=4, capsize=3)
        points += [low, high]
    pad = 0.15 * (max(points) - min(points)) or 1e-3
    inset.set_xlim(min(points) - pad, max(points) + pad)
    inset.set_ylim(0, 1)
    inset.set_yticks([])
    inset.tick_params(axis="x", labelsize=7)
    inset.xaxis.set_major_locator(MaxNLocator(3))
    inset.set_title(f"zoom: E - no dropout = {expected - nd:+.4f}", fontsize=8, color="tab:red")


def convergence(table: pd.DataFrame, folder: Path) -> list[Path]:
    """Figure (b): the running mean of each gradient component against the number of trials
    (log axis), with its 95% interval, the exact expectation and the value without dropout."""
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.6), constrained_layout=True)
    for r, row in enumerate(GRADIENTS):
        for c, q in enumerate(row):
            ax = axes[r, c]
            part = table[table["quantity"] == q].sort_values("checkpoint_trials")
            ax.set_title(f"{q} = {describe(q)}")
            ax.set_xlabel("trials (log scale)")
            ax.set_ylabel("running mean of the gradient\n(loss per unit of weight)")
            if part.empty:
                ax.text(0.5, 0.5, "not in convergence.csv", transform=ax.transAxes, ha="center")
                continue
            x = part["checkpoint_trials"].to_numpy(dtype=float)
            ax.fill_between(x, part["ci95_low"], part["ci95_high"], color="tab:blue", alpha=0.25,
                            label="95% interval of the mean")
            ax.plot(x, part["mean"], color="tab:blue", marker="o", markersize=3, label="Monte Carlo mean")
            ax.axhline(part["expected"].iloc[-1], label=f"exact expectation {part['expected'].iloc[-1]:.4f}",
                       **EXPECTED_STYLE)
            ax.axhline(part["no_dropout"].iloc[-1], label=f"no dropout {part['no_dropout'].iloc[-1]:.4f}",
                       **NO_DROPOUT_STYLE)
            ax.set_xscale("log")
            ax.legend(fontsize=8, loc="best")
    fig.suptitle("Convergence of the Monte Carlo mean of each weight gradient\n"
                 "the band narrows as 1/sqrt(trials); it must hold the exact expectation (red), which "
                 "differs from the value without dropout (dashed) by the penalty gradient")
    return save(fig, folder, "convergence")


def bias_vs_keep_prob(table: pd.DataFrame, net: exact.Network, folder: Path) -> list[Path]:
    """Figure (c): the dropout bias, expectation minus no-dropout value, of each gradient
    component against the keep probability: this analysis's closed form ``dR/dw`` as a curve,
    the Monte Carlo ``mean - no_dropout`` as points with 1.96 standard-error bars."""
    low = float(table["keep_prob"].min())
    grid = np.linspace(max(min(low, 1.0) * 0.9, 1e-3), 1.0, 600)
    curve = exact.penalty_gradient(net, grid)
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.6), constrained_layout=True)
    for r, row in enumerate(GRADIENTS):
        for c, q in enumerate(row):
            ax = axes[r, c]
            part = table[table["quantity"] == q].sort_values("keep_prob")
            ax.plot(grid, np.broadcast_to(curve[q], grid.shape), color="tab:red",
                    label="exact bias (closed form dR/dw)")
            if not part.empty:
                ax.errorbar(part["keep_prob"], part["mean"] - part["no_dropout"], yerr=1.96 * part["std_error"],
                            fmt="o", color="tab:blue", markersize=4, capsize=3,
                            label="Monte Carlo mean - no dropout, 95% bars")
            ax.axhline(0.0, color="0.5", linewidth=0.8)
            ax.set_title(f"{q} = {describe(q)}")
            ax.set_xlabel("keep probability p")
            ax.set_ylabel("bias: E[gradient] - no-dropout gradient\n(loss per unit of weight)")
            ax.legend(fontsize=8, loc="best")
    fig.suptitle("Dropout bias of each weight gradient against the keep probability\n"
                 "the expected gradient is the no-dropout gradient plus the gradient of the penalty "
                 "R = ((1-p)/p) sum_i (h_i w2_i)^2")
    return save(fig, folder, "bias_vs_keep_prob")
