#!/usr/bin/env python3
"""The dropout study written again in vectorised NumPy, as a yardstick for `dropout-study`.

It runs the notebook network (x=[[1]], y=[[2]], w1=[[0.1,-0.1,0.2]], w2=[[0.2],[0.1],[-0.1]])
over N dropout masks in float32, with TensorFlow 1.x dropout `(h / keep_prob) * mask`, and
computes the same per-trial quantities as the harness (loss, output, hidden_0..2 after dropout,
grad_w1_0..2, grad_w2_0..2), the same summary (mean, std, std_error, 95% Student's t interval,
the no-dropout value and the exact expectation by enumerating all masks) and writes
trials.csv, summary.csv and masks.csv with pandas `to_csv`. Masks come from NumPy's own
generator (PCG64), so the trials differ from the harness's; their distribution does not.

Trials are processed in chunks so memory stays bounded; chunk moments are combined with the
pairwise update of Chan, Golub and LeVeque, in float64.

Run (from the repository root, after bench/compare.sh has made the venv):
    bench/.venv/bin/python bench/numpy_study.py --trials 100000 --out /tmp/np-out [--no-trials-csv]
"""

import argparse
import itertools
import os
import time

import numpy as np
import pandas as pd
from scipy import stats

X = np.array([[1.0]])
Y = np.array([[2.0]])
W1 = np.array([[0.1, -0.1, 0.2]])
W2 = np.array([[0.2], [0.1], [-0.1]])
UNITS = 3
NAMES = (
    ["loss", "output"]
    + [f"hidden_{i}" for i in range(UNITS)]
    + [f"grad_w1_{i}" for i in range(UNITS)]
    + [f"grad_w2_{i}" for i in range(UNITS)]
)
CHUNK = 1 << 20


def trials(masks, keep_prob, dtype):
    """Per-trial quantities for a (trials, UNITS) boolean mask array, in `dtype` arithmetic.

    Matrix-product sums start from +0 and add left to right, each product rounded first (the
    harness's default `plain` arithmetic). Returns a (trials, 12) array in NAMES order.
    """
    kp = dtype(keep_prob)
    x, y = X.astype(dtype)[0, 0], Y.astype(dtype)[0, 0]
    w1, w2 = W1.astype(dtype)[0], W2.astype(dtype)[:, 0]
    zero = dtype(0)
    h = np.maximum(zero + x * w1, zero)  # relu(x w1), the same for every trial
    m = masks.astype(dtype)
    h_drop = (h / kp) * m  # TensorFlow 1.x dropout: divide, then multiply by the 0/1 mask
    output = zero + h_drop[:, 0] * w2[0]
    for i in range(1, UNITS):
        output = output + h_drop[:, i] * w2[i]
    diff = output - y
    loss = (diff * diff) / dtype(1)
    d_output = (dtype(1) / dtype(1)) * (dtype(2) * diff)
    d_h_drop = zero + d_output[:, None] * w2[None, :]
    grad_w2 = zero + h_drop * d_output[:, None]
    d_h = (d_h_drop * m) / kp
    d_a = d_h * (h > 0).astype(dtype)
    grad_w1 = zero + x * d_a
    out = np.empty((masks.shape[0], len(NAMES)), dtype=dtype)
    out[:, 0] = loss
    out[:, 1] = output
    out[:, 2 : 2 + UNITS] = h_drop
    out[:, 2 + UNITS : 2 + 2 * UNITS] = grad_w1
    out[:, 2 + 2 * UNITS :] = grad_w2
    return out


def reference(keep_prob):
    """No-dropout values and the exact expectation over all 2^UNITS masks, in float64 on the
    float32-rounded network."""
    all_masks = np.array(list(itertools.product([1, 0], repeat=UNITS)), dtype=bool)
    values = trials(all_masks, keep_prob, np.float64)
    kept = all_masks.sum(axis=1)
    weights = keep_prob**kept * (1 - keep_prob) ** (UNITS - kept)
    expected = weights @ values
    no_dropout = trials(np.ones((1, UNITS), dtype=bool), 1.0, np.float64)[0]
    return no_dropout, expected


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--keep-prob", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results-numpy")
    parser.add_argument("--no-trials-csv", action="store_true")
    args = parser.parse_args()

    clock = time.perf_counter()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    # Round the network to float32 once, as the harness's f32 run holds it.
    global X, Y, W1, W2
    X, Y, W1, W2 = (a.astype(np.float32).astype(np.float64) for a in (X, Y, W1, W2))
    keep_prob = float(np.float32(args.keep_prob))
    mask_text = np.array(["".join(b) for b in itertools.product("01", repeat=UNITS)])
    powers = 1 << np.arange(UNITS - 1, -1, -1)

    count, mean, m2 = 0, np.zeros(len(NAMES)), np.zeros(len(NAMES))
    mask_counts = np.zeros(1 << UNITS, dtype=np.int64)
    trials_path = os.path.join(args.out, "trials.csv")
    for start in range(0, args.trials, CHUNK):
        n = min(CHUNK, args.trials - start)
        masks = rng.random((n, UNITS), dtype=np.float32) < np.float32(keep_prob)
        values = trials(masks, keep_prob, np.float32)
        index = masks.astype(np.int64) @ powers
        mask_counts += np.bincount(index, minlength=1 << UNITS)

        wide = values.astype(np.float64)
        c_mean = wide.mean(axis=0)
        c_m2 = ((wide - c_mean) ** 2).sum(axis=0)
        delta = c_mean - mean
        total = count + n
        mean = mean + delta * (n / total)
        m2 = m2 + c_m2 + delta * delta * (count * n / total)
        count = total

        if not args.no_trials_csv:
            frame = pd.DataFrame(values, columns=NAMES)
            frame.insert(0, "mask", mask_text[index])
            frame.insert(0, "trial", np.arange(start, start + n))
            frame.to_csv(trials_path, mode="w" if start == 0 else "a", header=start == 0, index=False)

    no_dropout, expected = reference(keep_prob)
    std = np.sqrt(m2 / (count - 1)) if count > 1 else np.full(len(NAMES), np.nan)
    std_error = std / np.sqrt(count)
    half = stats.t.ppf(0.975, count - 1) * std_error if count > 1 else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(std_error > 0, (mean - expected) / std_error, np.nan)
    summary = pd.DataFrame(
        {
            "quantity": NAMES,
            "trials": count,
            "mean": mean,
            "std": std,
            "std_error": std_error,
            "ci95_low": mean - half,
            "ci95_high": mean + half,
            "no_dropout": no_dropout,
            "expected": expected,
            "mean_minus_expected": mean - expected,
            "z_vs_expected": z,
            "expected_minus_no_dropout": expected - no_dropout,
        }
    )
    summary.to_csv(os.path.join(args.out, "summary.csv"), index=False)
    kept = np.array([t.count("1") for t in mask_text])
    pd.DataFrame(
        {
            "mask": mask_text,
            "count": mask_counts,
            "frequency": mask_counts / count,
            "probability": keep_prob**kept * (1 - keep_prob) ** (UNITS - kept),
        }
    ).to_csv(os.path.join(args.out, "masks.csv"), index=False)
    seconds = time.perf_counter() - clock
    print(f"numpy_study: {count} trials in {seconds:.3f} s ({count / seconds:.3g} trials/s)")


if __name__ == "__main__":
    main()
