"""Unit tests of the analysis's own references: the enumeration against the closed form and
against values worked out by hand, and the pieces of the checks that need no binary."""

from __future__ import annotations

import numpy as np
import pytest

import checks
import exact
from exact import U64


@pytest.mark.parametrize("precision", ["f32", "f64"])
@pytest.mark.parametrize("keep_prob", [0.05, 0.3, 0.5, 0.9, 1.0])
def test_enumeration_equals_the_closed_form(precision, keep_prob):
    net = exact.Network.notebook(precision)
    enumerated = exact.enumerate_expectation(net, keep_prob)
    closed = exact.closed_form(net, keep_prob)
    size = exact.expectation_magnitudes(net, keep_prob)
    assert set(enumerated) == set(closed) == set(net.quantity_names())
    for q in enumerated:
        # Both are float64 computations of the same number: 8 masks of at most 16 roundings each.
        tolerance = (checks.PASS_ROUNDINGS + 8) * U64 * size[q]
        assert abs(enumerated[q] - closed[q]) <= tolerance, (q, enumerated[q], closed[q])


def test_the_notebook_expectation_at_one_half():
    net = exact.Network.notebook("f64")
    expected = exact.enumerate_expectation(net, 0.5)
    nd = exact.no_dropout(net)
    by_hand = {"loss": 4.0008, "output": 0.0, "hidden_0": 0.1, "hidden_1": 0.0, "hidden_2": 0.2,
               "grad_w1_0": -0.792, "grad_w1_1": 0.0, "grad_w1_2": 0.404,
               "grad_w2_0": -0.396, "grad_w2_1": 0.0, "grad_w2_2": -0.808, "d_output": -4.0}
    for q, value in by_hand.items():
        # Eight float64 terms of size at most 4.2: a few units in the last place of 4.
        assert abs(expected[q] - value) <= 1e-14, (q, expected[q], value)
    for q, value in {"loss": 4.0, "grad_w1_0": -0.8, "grad_w1_2": 0.4, "grad_w2_0": -0.4,
                     "grad_w2_2": -0.8}.items():
        assert abs(nd[q] - value) <= 1e-15, (q, nd[q], value)
    assert abs(float(exact.penalty(net, 0.5)) - 0.0008) <= 1e-18


def test_float32_weights_give_the_harness_references():
    # The harness's no_dropout for grad_w1_0 in an f32 run: -0.8 on float32(0.1) and so on.
    net = exact.Network.notebook("f32")
    assert exact.no_dropout(net)["grad_w1_0"] == -0.800000011920929
    assert net.w1[0, 0] == float(np.float32(0.1))


def test_single_masks_match_the_float32_runs_of_the_notebook():
    # Float32 values the notebook and TensorFlow print; this float64 pass on the float32 weights
    # agrees to float32 rounding.
    net = exact.Network.notebook("f32")
    cases = {
        (0.5, "100"): {"loss": 3.8416002, "output": 0.040000003, "grad_w1_0": -1.5680001, "grad_w2_0": -0.78400004},
        (0.5, "001"): {"loss": 4.1615996, "output": -0.040000003},
        (0.9, "100"): {"loss": 3.9116046, "hidden_0": 0.11111112, "grad_w1_0": -0.87901235, "grad_w2_0": -0.4395062},
    }
    for (p, mask), values in cases.items():
        p32 = float(np.float32(p))
        got = exact.run_masks(net, p32, np.array([[float(c) for c in mask]]))
        for q, value in values.items():
            assert abs(got[q][0] - value) <= 4 * exact.U32 * abs(value), (p, mask, q, got[q][0], value)


def test_keep_prob_one_is_the_run_without_dropout():
    net = exact.Network.notebook("f32")
    assert exact.enumerate_expectation(net, 1.0) == exact.no_dropout(net)


def test_masks_are_in_pattern_order_with_probabilities_that_sum_to_one():
    masks = exact.all_masks(3)
    assert exact.mask_text(masks) == ["000", "001", "010", "011", "100", "101", "110", "111"]
    p = exact.mask_probability(masks, 0.3)
    assert p[4] == pytest.approx(0.3 * 0.7 * 0.7, rel=1e-15)
    assert abs(p.sum() - 1.0) <= 8 * U64


def test_float32_text_reads_back_exactly():
    assert checks.parse_float32_exact("0.1") == float(np.float32(0.1))
    assert checks.parse_float32_exact("-1.5680001") == float(np.float32(-1.5680001))
    assert checks.parse_float32_exact("0.0") == 0.0
    # Every float32 between 1 and 1 + 2^-13, written in its shortest text, reads back as itself.
    for bits in range(0x3F800000, 0x3F800000 + 1024):
        value = np.array([bits], dtype=np.uint32).view(np.float32)[0]
        assert checks.parse_float32_exact(np.format_float_positional(value, unique=True)) == float(value)


def test_the_mean_tolerance_catches_a_change_in_the_tenth_digit():
    rng = np.random.default_rng(1)
    values = rng.choice([-1.6, -1.568, 0.0], size=20000).astype(np.float32).astype(np.float64)
    mine = checks.recompute(values)
    assert mine.tol_mean < 1e-9 * abs(mine.mean) / 10
    assert mine.tol_mean > 100 * U64 * abs(mine.mean)


def test_holm_adjustment_by_hand():
    # Sorted 0.01, 0.02, 0.04 -> 3 * 0.01, 2 * 0.02, 1 * 0.04, made non-decreasing.
    adjusted = checks.holm(np.array([0.04, 0.01, 0.02]))
    assert adjusted == pytest.approx([0.04, 0.03, 0.04], rel=1e-15)
    assert checks.holm(np.array([0.9, 0.8])) == pytest.approx([1.0, 1.0])
