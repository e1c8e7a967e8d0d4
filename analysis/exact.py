"""The notebook's network in NumPy float64, and the exact expectation over dropout masks.

This module owns the analysis's own reference values, computed independently of the Rust
harness:

- :class:`Network`: the weights and data (``x = [[1]]``, ``y = [[2]]``,
  ``w1 = [[0.1, -0.1, 0.2]]``, ``w2 = [[0.2], [0.1], [-0.1]]``), optionally rounded to float32
  first, as a float32 run holds them;
- :func:`run_masks`: one forward and backward pass per mask, all masks at once;
- :func:`enumerate_expectation`: every one of the ``2^n`` masks weighted by its probability
  ``p^kept (1-p)^dropped``;
- :func:`closed_form`: the same expectation from the algebra of inverted dropout,
  ``E[loss] = loss_0 + R`` with ``R = ((1-p)/p) (1/k) sum_ij (h_i w2_ij)^2`` and
  ``E[grad] = grad loss_0 + grad R`` (the mask does not depend on the weights, so the expected
  gradient is the gradient of the expected loss);
- :func:`magnitudes`: the same passes run on absolute values, which bound the rounding error of
  every value (the error of a sum of products is at most a small multiple of the unit roundoff
  times the sum of the absolute products; Higham, "Accuracy and Stability of Numerical
  Algorithms", 2nd ed., section 3.1).

Quantities are named as the harness names its ``trials.csv`` columns: ``loss``, ``output``,
``hidden_i``, ``grad_w1_i``, ``grad_w2_i``, and ``d_output`` (d loss / d output).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The unit roundoff of float64 and float32: half the distance from 1 to the next float.
U64 = 2.0**-53
U32 = 2.0**-24

#: The notebook's weights and data, as its TensorFlow graph writes them.
NOTEBOOK_X = [[1.0]]
NOTEBOOK_Y = [[2.0]]
NOTEBOOK_W1 = [[0.1, -0.1, 0.2]]
NOTEBOOK_W2 = [[0.2], [0.1], [-0.1]]


@dataclass(frozen=True)
class Network:
    """A one-hidden-layer network with a squared loss: ``x`` 1xd, ``w1`` dxn, ``w2`` nxk, ``y`` 1xk.

    Every array is float64. Only one output (``k = 1``) is supported, the notebook's shape and the
    only one whose columns the harness names ``output`` and ``d_output``.
    """

    x: np.ndarray
    y: np.ndarray
    w1: np.ndarray
    w2: np.ndarray

    @classmethod
    def notebook(cls, precision: str = "f64") -> "Network":
        """The notebook's network as a run of ``precision`` (``f32`` or ``f64``) holds it.

        A float32 run holds ``float32(0.1)`` and so on; the harness's references widen those
        exactly to float64, and so does this.
        """
        arrays = [np.array(a, dtype=np.float64) for a in (NOTEBOOK_X, NOTEBOOK_Y, NOTEBOOK_W1, NOTEBOOK_W2)]
        if precision == "f32":
            arrays = [a.astype(np.float32).astype(np.float64) for a in arrays]
        elif precision != "f64":
            raise ValueError(f"precision must be f32 or f64, not {precision!r}")
        return cls(*arrays)

    @property
    def hidden_units(self) -> int:
        """The number of hidden units, n: the units dropout masks."""
        return self.w1.shape[1]

    def quantity_names(self) -> list[str]:
        """Every per-trial quantity this module computes, in the harness's column order."""
        d, n = self.w1.shape
        k = self.w2.shape[1]
        if k != 1:
            raise ValueError("only networks with one output are supported")
        return (
            ["loss", "output"]
            + [f"hidden_{i}" for i in range(n)]
            + [f"grad_w1_{i}" for i in range(d * n)]
            + [f"grad_w2_{i}" for i in range(n * k)]
            + ["d_output"]
        )


def all_masks(units: int) -> np.ndarray:
    """Every mask pattern as a ``(2^units, units)`` array of 0/1 float64, in pattern order.

    Pattern ``i`` is ``i`` written in binary with ``units`` digits, unit 1 first: the order of
    ``masks.csv`` (``000``, ``001``, ..., ``111``).
    """
    index = np.arange(2**units)[:, None]
    shifts = np.arange(units - 1, -1, -1)[None, :]
    return ((index >> shifts) & 1).astype(np.float64)


def mask_text(masks: np.ndarray) -> list[str]:
    """The 0/1 text of each mask row, unit 1 first, as the harness writes it."""
    return ["".join("1" if bit else "0" for bit in row) for row in masks.astype(bool)]


def mask_probability(masks: np.ndarray, keep_prob: float) -> np.ndarray:
    """The probability of each mask row: ``p^kept (1-p)^dropped``."""
    kept = masks.sum(axis=1)
    dropped = masks.shape[1] - kept
    return keep_prob**kept * (1.0 - keep_prob) ** dropped


def run_masks(net: Network, keep_prob: float, masks: np.ndarray, absolute: bool = False) -> dict[str, np.ndarray]:
    """One forward and backward pass per mask row; every quantity as an array over the rows.

    The passes follow TensorFlow 1.x inverted dropout: ``h_drop = (h / p) * m`` and its gradient
    ``(g * m) / p``. With ``keep_prob = 1`` and every unit kept this is the run without dropout.

    With ``absolute`` every input, weight and difference is replaced by its absolute value (and a
    difference ``a - b`` by ``|a| + |b|``) while the relu keeps the real activity pattern: the
    result bounds, value by value, the size of the terms each true value was summed from.
    """
    x, y, w1, w2 = net.x, net.y, net.w1, net.w2
    a = x @ w1  # 1 x n, the same for every mask
    active = (a > 0).astype(np.float64)
    if absolute:
        x, y, w1, w2 = (np.abs(v) for v in (x, y, w1, w2))
        a = x @ w1
    h = a * active  # relu
    k = w2.shape[1]

    # Forward: every row of h_drop is one mask's hidden layer.
    h_drop = (h / keep_prob) * masks  # masks x n
    output = h_drop @ w2  # masks x k
    diff = (np.abs(output) + np.abs(y)) if absolute else (output - y)
    loss = (diff**2).sum(axis=1) / k

    # Backward, TensorFlow's order: d_output, then w2's gradient, then through dropout and relu.
    d_output = (1.0 / k) * (2.0 * diff)  # masks x k
    grad_w2 = h_drop[:, :, None] * d_output[:, None, :]  # masks x n x k
    d_h_drop = d_output @ w2.T  # masks x n
    d_h = (d_h_drop * masks) / keep_prob
    d_a = d_h * active
    grad_w1 = x.T[None, :, :] * d_a[:, None, :]  # masks x d x n

    values = {"loss": loss, "output": output[:, 0]}
    for i in range(h_drop.shape[1]):
        values[f"hidden_{i}"] = h_drop[:, i]
    for i, column in enumerate(grad_w1.reshape(len(masks), -1).T):
        values[f"grad_w1_{i}"] = column
    for i, column in enumerate(grad_w2.reshape(len(masks), -1).T):
        values[f"grad_w2_{i}"] = column
    values["d_output"] = d_output[:, 0]
    # Adding +0.0 turns a -0.0 (a dead unit's relu times a weight) into +0.0, as the harness writes it.
    return {name: v + 0.0 for name, v in values.items()}


def no_dropout(net: Network) -> dict[str, float]:
    """Every quantity without dropout (keep probability 1, every unit kept)."""
    values = run_masks(net, 1.0, np.ones((1, net.hidden_units)))
    return {name: float(v[0]) for name, v in values.items()}


def enumerate_expectation(net: Network, keep_prob: float) -> dict[str, float]:
    """The exact expectation of every quantity: all ``2^n`` masks, each weighted by its probability.

    Each mask's values are float64, and the ``2^n`` weighted terms are summed in pattern order.
    """
    masks = all_masks(net.hidden_units)
    weights = mask_probability(masks, keep_prob)
    values = run_masks(net, keep_prob, masks)
    return {name: float(np.sum(weights * v)) for name, v in values.items()}


def expectation_magnitudes(net: Network, keep_prob: float) -> dict[str, float]:
    """For each quantity, ``sum_m P(m) M(m)`` with ``M`` from :func:`magnitudes`: the size of
    the terms the exact expectation is summed from, which scales its rounding error."""
    masks = all_masks(net.hidden_units)
    weights = mask_probability(masks, keep_prob)
    values = run_masks(net, keep_prob, masks, absolute=True)
    return {name: float(np.sum(weights * v)) for name, v in values.items()}


def magnitudes(net: Network, keep_prob: float, masks: np.ndarray) -> dict[str, np.ndarray]:
    """The absolute-value passes of :func:`run_masks`: per mask, a bound on the size of the
    products each value is summed from, so that its rounding error is at most a small multiple
    of the unit roundoff times this."""
    return run_masks(net, keep_prob, masks, absolute=True)


def penalty(net: Network, keep_prob) -> np.ndarray:
    """The dropout penalty ``R = ((1-p)/p) (1/k) sum_ij (h_i w2_ij)^2`` (``keep_prob`` may be an array).

    ``R`` is ``Var[output]`` summed over the outputs and divided by ``k``: each ``m_i / p`` has
    variance ``(1-p)/p`` and the masks are independent.
    """
    p = np.asarray(keep_prob, dtype=np.float64)
    h = np.maximum(net.x @ net.w1, 0.0)[0]
    k = net.w2.shape[1]
    return (1.0 - p) / p * np.sum((h[:, None] * net.w2) ** 2) / k


def penalty_gradient(net: Network, keep_prob) -> dict[str, np.ndarray]:
    """The gradient of ``R`` with respect to each weight, named as the weight gradients.

    ``dR/dw2_ij = ((1-p)/p) (2/k) h_i^2 w2_ij`` and
    ``dR/dw1_li = ((1-p)/p) (2/k) h_i (sum_j w2_ij^2) x_l [a_i > 0]``, from ``h_i = relu(a_i)``,
    ``a_i = sum_l x_l w1_li``.
    """
    p = np.asarray(keep_prob, dtype=np.float64)
    c = (1.0 - p) / p
    a = (net.x @ net.w1)[0]
    h = np.maximum(a, 0.0)
    active = (a > 0).astype(np.float64)
    d, n = net.w1.shape
    k = net.w2.shape[1]
    out = {}
    for l in range(d):
        for i in range(n):
            out[f"grad_w1_{l * n + i}"] = c * (2.0 / k) * h[i] * np.sum(net.w2[i] ** 2) * net.x[0, l] * active[i]
    for i in range(n):
        for j in range(k):
            out[f"grad_w2_{i * k + j}"] = c * (2.0 / k) * h[i] ** 2 * net.w2[i, j]
    return out


def closed_form(net: Network, keep_prob: float) -> dict[str, float]:
    """The exact expectation of every quantity from the closed form.

    Output, hidden units and ``d_output`` are linear in the mask, so their expectation is the
    value without dropout; the loss gains ``R``; each weight gradient gains ``dR/dw``.
    """
    expected = dict(no_dropout(net))
    expected["loss"] += float(penalty(net, keep_prob))
    for name, g in penalty_gradient(net, keep_prob).items():
        expected[name] += float(g)
    return expected
