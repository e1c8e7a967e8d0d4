"""Generate tf_float32_reference.csv: float32 reference data from TensorFlow.

What this emulates
------------------
The network of the notebook "Dropout in a minute" (TensorFlow 1.5, float32)::

    x  = [[1.]]                        # 1x1
    y  = [[2.]]                        # 1x1
    w1 = [[0.1, -0.1, 0.2]]            # 1x3
    h  = relu(matmul(x, w1))
    h_drop = dropout(h, keep_prob)
    w2 = [[0.2], [0.1], [-0.1]]        # 3x1
    pred = matmul(h_drop, w2)
    loss = reduce_mean(square(pred - y))
    gradients d loss / d w1 (1x3) and d loss / d w2 (3x1)

TF 1.x ``tf.nn.dropout(h, keep_prob)`` returns ``h`` untouched (no ops at all)
when keep_prob is the Python constant 1.  Otherwise it draws
``binary = floor(keep_prob + uniform)`` and returns
``math_ops.div(h, keep_prob) * binary``: a true division (RealDiv) by the
float32 keep_prob tensor first, then a multiplication (Mul) by the 0/1 mask.
Its gradient, by TF's own Mul and RealDiv gradient functions, is
``(g * mask) / keep_prob``.

To make the mask given instead of random, the dropout is emulated here by
exactly those two ops with a fed float32 0/1 mask::

    h_drop = tf.math.truediv(h, kp) * mask      # kp: float32 scalar tensor

and with no dropout ops at all for keep_prob = 1.  TF 2.x's own
``tf.nn.dropout`` is NOT used: it multiplies by 1/(1-rate), which rounds
differently from TF 1.x.

The reference values are computed in EAGER mode with ``tf.GradientTape``:
eager execution runs each op as written, with no Grappler graph rewrites
(such as constant folding's ``x / const -> x * (1/const)``).

Produced with TensorFlow 2.21.0 (tensorflow-cpu wheel from PyPI), numpy
2.4.6, Python 3.11, on an x86-64 CPU (AMD EPYC) with FMA, AVX2 and AVX-512.

oneDNN matters.  On x86 Linux TF 2.21 uses oneDNN by default
(TF_ENABLE_ONEDNN_OPTS unset or 1): its MatMul accumulates each entry from
+0.0 with fused multiply-adds, left to right.  With TF_ENABLE_ONEDNN_OPTS=0
TF uses Eigen: a one-term matmul entry is the bare rounded product (so
-0.0 appears), a three-term one is ((+0 + p0) + p1) + p2 with every
product and every addition rounded to float32, and ReluGrad is g * (h > 0), which keeps the
sign of g on zeros.  The two differ in `output` (and what follows from it)
on some rows and in the sign of many zero gradients, so each setting has its
own file:
  tf_float32_reference.csv              oneDNN on (the default)
  tf_float32_reference_onednn_off.csv   TF_ENABLE_ONEDNN_OPTS=0

Cases (one CSV row each)
------------------------
* ``nb_kp1``: the notebook network with keep_prob = 1 (mask ``111``, no
  dropout ops).
* ``nb_kp<k>_m<mask>``: the notebook network with every one of the 8 masks at
  keep_prob in 0.05, 0.10, ..., 0.95, 0.99, 0.123 (each the float32 nearest
  to the Python float of the decimal, as ``tf.constant(0.3, tf.float32)``
  gives).
* ``nby<i>_drop`` / ``nby<i>_kp1``: the notebook weights with y changed (see
  NOTEBOOK_Y_VARIANTS), each with a random keep_prob and mask and again at
  keep_prob 1.
* ``rand<i>_drop`` / ``rand<i>_kp1``: 200 random networks, each with a random
  keep_prob and mask, and again at keep_prob 1.

Random draws use ``rng = numpy.random.default_rng(20261203)``, in this order,
per random network i = 0..199:
  1. ``v = rng.uniform(-2, 2, size=8)`` -> x, y, w1[0..2], w2[0..2] (float64);
     if i % 4 == 3 the values are snapped to the grid of 1/8
     (``round(v * 8) / 8``) so that exact cancellations (pred == y, zero
     products) occur; then every value is rounded to float32;
  2. ``kp = float32(rng.uniform(0, 1))``, redrawn while it is 0 or 1;
  3. ``mask = rng.integers(0, 2, size=3)``.
Then, for each entry of NOTEBOOK_Y_VARIANTS, steps 2 and 3 are drawn again.

CSV format
----------
Columns: case,x,y,w1_0,w1_1,w1_2,w2_0,w2_1,w2_2,keep_prob,mask,loss,output,
hidden_0,hidden_1,hidden_2,grad_w1_0,grad_w1_1,grad_w1_2,grad_w2_0,
grad_w2_1,grad_w2_2.  Every float is the 8-hex-digit IEEE-754 bit pattern
of the float32 (lowercase, no 0x).  ``mask`` is a string of 0/1, first
hidden unit first.  ``hidden`` is h after dropout, ``output`` is pred.

How to rerun
------------
::

    python3 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu==2.21.0
    /tmp/tfenv/bin/python tests/reference/generate_tf_reference.py --check
    TF_ENABLE_ONEDNN_OPTS=0 /tmp/tfenv/bin/python tests/reference/generate_tf_reference.py --check

The output file defaults to tf_float32_reference.csv when oneDNN is on and
to tf_float32_reference_onednn_off.csv when it is off (both beside this
script); ``--out PATH`` writes elsewhere.

``--check`` also (without changing the CSV): compares the notebook cases
with known values; recomputes every row with a tf.function graph with the
Grappler meta optimizer disabled and with graph rewrites on; and compares
every row with pure-Python exact emulations of the float32 roundings
("fma", "plain" and "eigen"; see emulate()).

Neither this script nor TensorFlow is needed by the Rust build or tests: the
CSV is committed as data.
"""

import argparse
import os
import struct
import sys
from fractions import Fraction

import numpy as np

SEED = 20261203
N_RANDOM = 200
NOTEBOOK_X = [1.0]
NOTEBOOK_Y = 2.0
NOTEBOOK_W1 = [0.1, -0.1, 0.2]
NOTEBOOK_W2 = [0.2, 0.1, -0.1]
# Notebook weights with y changed: 0 and the tiny values make pred - y an
# exact or near cancellation; negatives flip the gradient signs.
NOTEBOOK_Y_VARIANTS = [0.0, -2.0, 1.0, 0.02, 0.04, -0.5, 8.1956386e-10, 0.0400000028]
KEEP_PROBS = ["%.2f" % (k * 0.05) for k in range(1, 20)] + ["0.99", "0.123"]
MASKS = ["000", "001", "010", "011", "100", "101", "110", "111"]

COLUMNS = ("case,x,y,w1_0,w1_1,w1_2,w2_0,w2_1,w2_2,keep_prob,mask,loss,output,"
           "hidden_0,hidden_1,hidden_2,grad_w1_0,grad_w1_1,grad_w1_2,"
           "grad_w2_0,grad_w2_1,grad_w2_2").split(",")
OUT_COLS = COLUMNS[11:]


def f32(v):
    return np.float32(v)


def hex32(v):
    return "%08x" % int(np.array(v, dtype=np.float32).view(np.uint32))


def from_hex(h):
    return float(struct.unpack(">f", bytes.fromhex(h))[0])


# --------------------------------------------------------------------------
# cases
# --------------------------------------------------------------------------

def build_cases():
    """List of dicts: name, x, y, w1 (3), w2 (3) as float32, kp (float32 or
    None for keep_prob 1), mask string."""
    cases = []
    nb = dict(x=f32(NOTEBOOK_X[0]), y=f32(NOTEBOOK_Y),
              w1=[f32(v) for v in NOTEBOOK_W1], w2=[f32(v) for v in NOTEBOOK_W2])
    cases.append(dict(nb, name="nb_kp1", kp=None, mask="111"))
    for k in KEEP_PROBS:
        kp = f32(float(k))  # Python float of the decimal -> float32
        for m in MASKS:
            cases.append(dict(nb, name="nb_kp%s_m%s" % (k, m), kp=kp, mask=m))

    rng = np.random.default_rng(SEED)

    def draw_kp_mask():
        while True:
            kp = f32(rng.uniform(0.0, 1.0))
            if 0.0 < kp < 1.0:
                break
        mask = "".join(str(int(b)) for b in rng.integers(0, 2, size=3))
        return kp, mask

    rand = []
    for i in range(N_RANDOM):
        v = rng.uniform(-2.0, 2.0, size=8)
        if i % 4 == 3:
            v = np.round(v * 8.0) / 8.0
        v = v.astype(np.float32)
        kp, mask = draw_kp_mask()
        net = dict(x=v[0], y=v[1], w1=list(v[2:5]), w2=list(v[5:8]))
        rand.append((i, net, kp, mask))
    nby = []
    for j, yv in enumerate(NOTEBOOK_Y_VARIANTS):
        kp, mask = draw_kp_mask()
        nby.append((j, dict(nb, y=f32(yv)), kp, mask))

    for j, net, kp, mask in nby:
        cases.append(dict(net, name="nby%d_drop" % j, kp=kp, mask=mask))
        cases.append(dict(net, name="nby%d_kp1" % j, kp=None, mask="111"))
    for i, net, kp, mask in rand:
        cases.append(dict(net, name="rand%03d_drop" % i, kp=kp, mask=mask))
        cases.append(dict(net, name="rand%03d_kp1" % i, kp=None, mask="111"))
    return cases


# --------------------------------------------------------------------------
# TensorFlow
# --------------------------------------------------------------------------

def tensors(tf, c):
    x = tf.constant([[c["x"]]], dtype=tf.float32)
    y = tf.constant([[c["y"]]], dtype=tf.float32)
    w1 = tf.constant([c["w1"]], dtype=tf.float32)                  # 1x3
    w2 = tf.constant([[v] for v in c["w2"]], dtype=tf.float32)     # 3x1
    mask = tf.constant([[float(ch) for ch in c["mask"]]], dtype=tf.float32)
    return x, y, w1, w2, mask


def network(tf, x, y, w1, w2, kp, mask):
    """Forward pass; kp None means keep_prob 1 (no dropout ops at all)."""
    h = tf.nn.relu(tf.matmul(x, w1))
    if kp is None:
        h_drop = h
    else:
        h_drop = tf.math.truediv(h, kp) * mask   # RealDiv, then Mul
    pred = tf.matmul(h_drop, w2)
    loss = tf.reduce_mean(tf.square(pred - y))
    return loss, pred, h_drop


def result(loss, pred, hd, g1, g2):
    vals = [loss.numpy().reshape(-1)[0], pred.numpy().reshape(-1)[0]]
    vals += list(hd.numpy().reshape(-1)) + list(g1.numpy().reshape(-1))
    vals += list(g2.numpy().reshape(-1))
    return [hex32(v) for v in vals]


def run_eager(tf, c):
    x, y, w1, w2, mask = tensors(tf, c)
    kp = None if c["kp"] is None else tf.constant(c["kp"], dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch([w1, w2])
        loss, pred, hd = network(tf, x, y, w1, w2, kp, mask)
    g1, g2 = tape.gradient(loss, [w1, w2])
    return result(loss, pred, hd, g1, g2)


def make_graph_fn(tf, kp_const):
    """tf.function.  kp_const: keep_prob baked in as a graph constant (so
    Grappler's constant folding can see it), else fed as an argument."""
    def body(x, y, w1, w2, kp, mask):
        with tf.GradientTape() as tape:
            tape.watch([w1, w2])
            loss, pred, hd = network(tf, x, y, w1, w2, kp, mask)
        g1, g2 = tape.gradient(loss, [w1, w2])
        return loss, pred, hd, g1, g2
    cache = {}

    def run(c):
        x, y, w1, w2, mask = tensors(tf, c)
        if c["kp"] is None:
            key = "none"
            if key not in cache:
                cache[key] = tf.function(lambda x, y, w1, w2, mask: body(x, y, w1, w2, None, mask))
            return result(*cache[key](x, y, w1, w2, mask))
        if kp_const:
            key = hex32(c["kp"])
            if key not in cache:
                kpv = float(c["kp"])
                cache[key] = tf.function(lambda x, y, w1, w2, mask: body(
                    x, y, w1, w2, tf.constant(kpv, dtype=tf.float32), mask))
            return result(*cache[key](x, y, w1, w2, mask))
        key = "fed"
        if key not in cache:
            cache[key] = tf.function(body)
        return result(*cache[key](x, y, w1, w2, tf.constant(c["kp"], dtype=tf.float32), mask))
    return run


# --------------------------------------------------------------------------
# check: exact pure-Python emulation of two float32 matmul roundings
# (not used for the CSV; only reported by --check)
# --------------------------------------------------------------------------

def round32(q):
    """Round a Fraction exactly (one rounding, nearest-even) to float32;
    returns a Python float holding the float32 value.  Zero -> +0.0."""
    if q == 0:
        return 0.0
    neg = q < 0
    q = -q if neg else q
    n, d = q.numerator, q.denominator
    e = n.bit_length() - d.bit_length()          # floor(log2 q) is e or e-1
    if Fraction(2) ** e > q:
        e -= 1
    e = max(e - 23, -149)                        # quantum 2^e (subnormals)
    m = q / Fraction(2) ** e
    fl = m.numerator // m.denominator
    rem = m - fl
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and fl % 2 == 1):
        fl += 1
    v = float(Fraction(fl) * Fraction(2) ** e)
    if v > float(np.finfo(np.float32).max):
        v = float("inf")
    return -v if neg else v


def add_zero_sign(a, b):
    """IEEE sign of an exact-zero sum a + b (round to nearest)."""
    return -0.0 if (a == 0 and b == 0 and np.signbit(a) and np.signbit(b)) else 0.0


def fma32(a, b, c):
    r = round32(Fraction(a) * Fraction(b) + Fraction(c))
    if r == 0:
        return add_zero_sign(a * b, c)
    return r


def mul32(a, b):
    r = round32(Fraction(a) * Fraction(b))
    if r == 0:
        return -0.0 if (np.signbit(a) != np.signbit(b)) else 0.0
    return r


def add32(a, b):
    r = round32(Fraction(a) + Fraction(b))
    if r == 0:
        return add_zero_sign(a, b)
    return r


def div32(a, b):
    r = round32(Fraction(a) / Fraction(b))
    if r == 0:
        return -0.0 if (np.signbit(a) != np.signbit(b)) else 0.0
    return r


def dot(avec, bvec, mode):
    if mode == "eigen" and len(avec) == 1:
        return mul32(avec[0], bvec[0])           # bare product, no +0.0
    acc = 0.0
    for a, b in zip(avec, bvec):
        acc = fma32(a, b, acc) if mode == "fma" else add32(acc, mul32(a, b))
    return acc


def emulate(c, mode):
    """Network forward and backward, every matmul entry accumulated from
    +0.0 left to right: mode "fma": acc = fma(a_k, b_k, acc); mode "plain":
    acc = round32(acc + round32(a_k * b_k)); mode "eigen" (what TF with
    oneDNN off does): as "plain", except that a one-term entry is the bare
    product round32(a_0 * b_0) and ReluGrad is g * (h > 0) (zero keeps the
    sign of g).  Elementwise ops are single float32 roundings, as TF's
    kernels."""
    x, y = float(c["x"]), float(c["y"])
    w1 = [float(v) for v in c["w1"]]
    w2 = [float(v) for v in c["w2"]]
    mask = [float(ch) for ch in c["mask"]]
    hpre = [dot([x], [w], mode) for w in w1]
    h = [v if v > 0 else 0.0 for v in hpre]
    if c["kp"] is None:
        d = h
        hd = h
    else:
        kp = float(c["kp"])
        d = [div32(v, kp) for v in h]
        hd = [mul32(v, m) for v, m in zip(d, mask)]
    pred = dot(hd, w2, mode)
    diff = add32(pred, -y)
    loss = mul32(diff, diff)                     # mean of one element
    g_loss = 1.0
    g_diff = mul32(g_loss, mul32(diff, 2.0))     # SquareGrad: g * (x * 2)
    g_pred = g_diff                              # SubGrad
    g_w2 = [dot([a], [g_pred], mode) for a in hd]          # hd^T @ g
    g_hd = [dot([g_pred], [w], mode) for w in w2]          # g @ w2^T
    if c["kp"] is None:
        g_h = g_hd
    else:
        g_d = [mul32(g, m) for g, m in zip(g_hd, mask)]    # MulGrad
        g_h = [div32(g, kp) for g in g_d]                  # RealDivGrad
    if mode == "eigen":
        g_hpre = [mul32(g, 1.0 if hv > 0 else 0.0) for g, hv in zip(g_h, h)]
    else:
        g_hpre = [g if hv > 0 else 0.0 for g, hv in zip(g_h, h)]  # ReluGrad
    g_w1 = [dot([x], [g], mode) for g in g_hpre]           # x^T @ g
    return [hex32(v) for v in [loss, pred] + hd + g_w1 + g_w2]


KNOWN = {
    # case: (loss, output, hidden, grad_w1, grad_w2), float32 decimal
    "nb_kp1": (4.0, 8.1956386e-10, [0.1, 0, 0.2], [-0.8, 0, 0.4], [-0.4, 0, -0.8]),
    "nb_kp0.50_m100": (3.8416002, 0.040000003, [0.2, 0, 0], [-1.5680001, 0, 0],
                       [-0.78400004, 0, 0]),
    "nb_kp0.90_m100": (3.9116046, 0.022222225, [0.11111112, 0, 0],
                       [-0.87901235, 0, 0], [-0.4395062, 0, 0]),
    "nb_kp0.30_m101": (4.0, -9.934107e-10, [0.3333333, 0, 0.6666666],
                       [-2.6666665, 0, 1.3333333], [-1.3333333, 0, -2.6666665]),
}


def check_known(rows):
    ok = True
    for name, (loss, out, hid, g1, g2) in KNOWN.items():
        want = [loss, out] + hid + g1 + g2
        got = [from_hex(h) for h in rows[name]]
        # compare the float32 values (decimal strings are shortest repr)
        same = all(f32(a) == f32(b) for a, b in zip(want, got))
        ok &= same
        print("known %-16s %s  got %s" % (name, "OK" if same else "DIFFERS",
                                          [str(f32(v)) for v in got]))
    return ok


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=None)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()

    import tensorflow as tf
    print("python", sys.version.split()[0])
    print("tensorflow", tf.__version__, "numpy", np.__version__)
    from tensorflow.python.util import _pywrap_util_port
    onednn = _pywrap_util_port.IsMklEnabled()
    print("TF_ENABLE_ONEDNN_OPTS =", os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset)"),
          "-> oneDNN", "on" if onednn else "off")
    if args.out is None:
        args.out = os.path.join(here, "tf_float32_reference.csv" if onednn
                                else "tf_float32_reference_onednn_off.csv")
    print("eager", tf.executing_eagerly())

    cases = build_cases()
    rows = {}
    with open(args.out, "w") as f:
        f.write(",".join(COLUMNS) + "\n")
        for c in cases:
            out = run_eager(tf, c)
            rows[c["name"]] = out
            inputs = [hex32(c["x"]), hex32(c["y"])] + [hex32(v) for v in c["w1"]]
            inputs += [hex32(v) for v in c["w2"]]
            inputs += [hex32(1.0 if c["kp"] is None else c["kp"]), c["mask"]]
            f.write(",".join([c["name"]] + inputs + out) + "\n")
    print("wrote %d rows to %s" % (len(cases), args.out))
    negz = [(n, OUT_COLS[i]) for n, r in rows.items() for i, h in enumerate(r) if h == "80000000"]
    print("-0.0 in output columns:", len(negz), negz[:10])

    if not args.check:
        return
    check_known(rows)

    for label, kp_const, disable in [("graph, meta optimizer off, kp fed", False, True),
                                     ("graph, rewrites on, kp fed", False, False),
                                     ("graph, rewrites on, kp constant", True, False)]:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": disable})
        run = make_graph_fn(tf, kp_const)
        diffs = []
        for c in cases:
            g = run(c)
            if g != rows[c["name"]]:
                diffs.append((c["name"], [(OUT_COLS[i], a, b) for i, (a, b)
                                          in enumerate(zip(rows[c["name"]], g)) if a != b]))
        print("%s: %d of %d rows differ from eager" % (label, len(diffs), len(cases)))
        for d in diffs[:8]:
            print("   ", d)
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": False})

    for mode in ("fma", "plain", "eigen"):
        bad = []
        for c in cases:
            e = emulate(c, mode)
            if e != rows[c["name"]]:
                bad.append((c["name"], [(OUT_COLS[i], a, b) for i, (a, b)
                                        in enumerate(zip(rows[c["name"]], e)) if a != b]))
        print("emulation %-5s: %d of %d rows match TF bit for bit" %
              (mode, len(cases) - len(bad), len(cases)))
        for b in bad[:6]:
            print("   ", b)


if __name__ == "__main__":
    main()
