"""Inputs that used to fall off a cliff: time per call on ordinary data and on special values.

    python benches/cliffs.py [--shape 64x4096] [--threads 1]

On x86 without flush-to-zero, a multiply (or `vscalef`) that rounds into the subnormal range, or
that reads a subnormal, costs a microcode assist, about 20x a normal multiply. Each row below
replaces half of each row's values, in one process, so the time against the ordinary row shows
what those values cost:

- ``half -inf`` / ``half -1e9``: masked logits (their exps are 0 and are not computed);
- ``half subnormal exps``: logits 95 (float32) or 720 (float64) below the others, whose exps are
  subnormal (formed by integer rounding on x86, and so are their products: softmax's
  ``e / sum``, the backward's ``exp(logp) sum``);
- ``half subnormal inputs``: logits that are themselves subnormal;

then ``binary_cross_entropy`` on probabilities in ``(0, 1)``, exactly 0 or 1, subnormal, and
within 1e-6 of 1, against soft and hard (0 or 1) targets; last, float32 logits drawn from
N(0, 3^2) and divided by a sampling temperature, with the share of their exps that are
subnormal. Best of 5 repeats, microseconds.
"""

import argparse
import timeit

import numpy as np

import softloss as sl


def us(f, n=200):
    return min(timeit.repeat(f, number=n, repeat=5)) / n * 1e6


def one_dtype(dt, shape, rng):
    name = np.dtype(dt).name
    base = rng.standard_normal(shape).astype(dt)
    t = rng.integers(0, shape[1], shape[0])
    u = rng.uniform(0, 1, shape).astype(dt)
    variants = {"ordinary": base}
    for label, value in [
        ("half -inf", -np.inf),
        ("half -1e9", -1e9),
        ("half subnormal exps", -95.0 if dt == np.float32 else -720.0),
        ("half subnormal inputs", float(np.finfo(dt).smallest_normal) / 4),
    ]:
        x = base.copy()
        x[:, ::2] = value
        variants[label] = x
    for label, x in variants.items():
        logy = sl.log_softmax(x)
        cells = {
            "softmax": us(lambda x=x: sl.softmax(x)),
            "log_softmax": us(lambda x=x: sl.log_softmax(x)),
            "cross_entropy": us(lambda x=x: sl.cross_entropy(x, t)),
            "log_softmax_backward": us(lambda g=logy: sl.log_softmax_backward(base, g)),
        }
        if np.isfinite(x).all():
            cells["bce_with_logits"] = us(lambda x=x: sl.binary_cross_entropy_with_logits(x, u))
        text = "  ".join(f"{k} {v:8.1f}" for k, v in cells.items())
        print(f"{name} {label:22s} {text}", flush=True)
    hard = (u > 0.5).astype(dt)
    for label, p in {
        "p in (0, 1)": u,
        "p in {0, 1}": hard,
        "p subnormal": (u * np.finfo(dt).smallest_normal).astype(dt),
        "p within 1e-6 of 1": (1 - u * 1e-6).astype(dt),
    }.items():
        soft = us(lambda p=p: sl.binary_cross_entropy(p, u))
        hard_t = us(lambda p=p: sl.binary_cross_entropy(p, hard))
        print(
            f"{name} binary_cross_entropy {label:20s} soft targets {soft:8.1f}  "
            f"hard targets {hard_t:8.1f}",
            flush=True,
        )


def temperatures(shape, rng):
    z = rng.standard_normal(shape) * 3
    t = np.zeros(shape[0], np.int64)
    for temp in (1.0, 0.3, 0.1, 0.05):
        x = (z / temp).astype(np.float32)
        d = x - x.max(axis=1, keepdims=True)
        share = ((d >= -104) & (d < -87.3)).mean()
        cells = {
            "softmax": us(lambda x=x: sl.softmax(x), 20),
            "log_softmax": us(lambda x=x: sl.log_softmax(x), 20),
            "cross_entropy": us(lambda x=x: sl.cross_entropy(x, t), 20),
        }
        text = "  ".join(f"{k} {v:8.1f}" for k, v in cells.items())
        print(f"float32 temperature {temp:4.2f} (subnormal exps {share:6.2%})  {text}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="64x4096")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    sl.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    shape = tuple(int(d) for d in args.shape.split("x"))
    for dt in (np.float32, np.float64):
        one_dtype(dt, shape, rng)
    temperatures((shape[0], 32000), rng)


if __name__ == "__main__":
    main()
