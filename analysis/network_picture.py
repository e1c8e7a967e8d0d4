"""The notebook's two pictures, redrawn from ``dropout-study reproduce --format json``.

This module owns reading the reproduce output (from the binary or from a saved JSON-lines file)
and drawing one network per run: the input node, the three hidden units and the output node with
their values, every weight in black and its gradient in red beside it, dropped units greyed out
and the unit whose relu is inactive marked as such. The values are the harness's own, so every
sign is the computed one: without dropout the third input edge's gradient is +0.4.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Circle  # noqa: E402

import exact  # noqa: E402
from figures import save  # noqa: E402

RED = "tab:red"
GREY = "0.72"


def load_runs(source: Path) -> list[dict]:
    """The reproduce runs: ``source`` is the ``dropout-study`` binary (run as
    ``reproduce --format json``) or a file of its JSON lines."""
    if os.access(source, os.X_OK) and not source.suffix.startswith(".json"):
        done = subprocess.run([str(source), "reproduce", "--format", "json"], capture_output=True, text=True,
                              check=True, timeout=60)
        text = done.stdout
    else:
        text = source.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def number(v: float) -> str:
    """A value in at most four significant digits, without a negative zero."""
    v = float(v) + 0.0
    return f"{v:.4g}"


def draw(run: dict, title: str):
    """One network picture of a reproduce run; returns the figure."""
    precision = run.get("precision", "f32")
    net = exact.Network.notebook(precision)
    w1 = run.get("w1", net.w1[0].tolist())
    w2 = run.get("w2", net.w2[:, 0].tolist())
    x = run.get("x", [float(net.x[0, 0])])[0]
    y = run.get("y", [float(net.y[0, 0])])[0]
    n = len(run["hidden"])
    mask = run["mask"]
    keep_prob = float(run["keep_prob"])
    active = [x * w > 0 for w in w1]
    dropped = [keep_prob < 1.0 and bit == "0" for bit in mask]

    fig, ax = plt.subplots(figsize=(10, 6.4))
    ax.set_xlim(-0.9, 7.4)
    ax.set_ylim(-3.0, 3.0)
    ax.set_aspect("equal")
    ax.axis("off")
    positions_in, positions_out = (0.0, 0.0), (6.0, 0.0)
    hidden_pos = [(3.0, 2.0 - 2.0 * i) for i in range(n)]
    radius = 0.42

    # Edges first, so the nodes cover their ends; labels sit on each edge's hidden-unit side.
    for i, (hx, hy) in enumerate(hidden_pos):
        grey = dropped[i]
        style = dict(color=GREY if grey else "black", linewidth=1.2, linestyle="--" if grey else "-", zorder=1)
        ax.plot([positions_in[0], hx], [positions_in[1], hy], **style)
        ax.plot([hx, positions_out[0]], [hy, positions_out[1]], **style)
        for (ax0, ay0), (ax1, ay1), w, g in (
            (positions_in, (hx, hy), w1[i], run["grad_w1"][i]),
            ((hx, hy), positions_out, w2[i], run["grad_w2"][i]),
        ):
            t = 0.62 if ax0 == positions_in[0] else 0.38
            lx, ly = ax0 + t * (ax1 - ax0), ay0 + t * (ay1 - ay0)
            ax.text(lx, ly + 0.2, f"w={number(w)}", ha="center", va="bottom", fontsize=11,
                    color=GREY if grey else "black", zorder=3,
                    bbox=dict(boxstyle="round,pad=0.1", facecolor="white", edgecolor="none"))
            ax.text(lx, ly - 0.2, f"grad={number(g)}", ha="center", va="top", fontsize=11,
                    color=RED if not grey else "#e8a0a0", zorder=3,
                    bbox=dict(boxstyle="round,pad=0.1", facecolor="white", edgecolor="none"))

    # Nodes.
    def node(pos, text, label, face="white", edge="black", fontcolor="black"):
        """A circle at ``pos`` with ``text`` inside and ``label`` above."""
        ax.add_patch(Circle(pos, radius, facecolor=face, edgecolor=edge, linewidth=1.6, zorder=4))
        ax.text(pos[0], pos[1], text, ha="center", va="center", fontsize=11, color=fontcolor, zorder=5)
        ax.text(pos[0], pos[1] + radius + 0.08, label, ha="center", va="bottom", fontsize=10, color=fontcolor,
                zorder=5)

    node(positions_in, number(x), "input x")
    for i, pos in enumerate(hidden_pos):
        if dropped[i]:
            node(pos, number(run["hidden"][i]), f"h{i + 1}: dropped", face="0.9", edge=GREY, fontcolor="0.55")
        elif not active[i]:
            node(pos, number(run["hidden"][i]), f"h{i + 1}: inactive (relu)", face="0.97", edge="0.45")
        else:
            node(pos, number(run["hidden"][i]), f"h{i + 1}")
    node(positions_out, number(run["output"][0]), f"output (target y = {number(y)})")

    ax.text(6.0, -0.75, f"loss = {number(run['loss'])}", ha="center", va="top", fontsize=12)
    ax.text(-0.85, -2.55, "node: its value (hidden units after dropout)   black: weight   "
            "red: gradient dL/dweight   grey: dropped unit",
            fontsize=9.5, va="center", color="0.2")
    ax.set_title(title, fontsize=13)
    return fig


def draw_both(source: Path, folder: Path) -> list[Path]:
    """The pictures of the notebook's two runs (the one with keep_prob 1 and the first with
    dropout) as ``network_no_dropout`` and ``network_dropout``."""
    runs = load_runs(source)
    plain = next((r for r in runs if float(r["keep_prob"]) == 1.0), None)
    dropout = next((r for r in runs if float(r["keep_prob"]) < 1.0), None)
    if plain is None or dropout is None:
        raise ValueError(f"{source}: needs one run without dropout and one with; found {len(runs)} runs")
    paths = []
    fig = draw(plain, "No dropout: gradients flow back through units 1 and 3 (unit 2's relu is inactive)")
    paths += save(fig, folder, "network_no_dropout")
    kept = [str(i + 1) for i, b in enumerate(dropout["mask"]) if b == "1"]
    kept_text = f"unit {kept[0]} is kept" if len(kept) == 1 else f"units {', '.join(kept)} are kept"
    fig = draw(dropout, f"Dropout, keep_prob {float(dropout['keep_prob']):g}, mask {dropout['mask']}: "
                        f"{kept_text} and scaled by 1/keep_prob;\n"
                        "gradients flow back only through kept, active units")
    paths += save(fig, folder, "network_dropout")
    return paths
