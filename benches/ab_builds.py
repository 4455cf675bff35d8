"""A/B of two builds of the extension in one process: time ratios new/old, results compared.

    python benches/ab_builds.py OLD/_native.abi3.so [--threads 1] [--shapes 512x32000]
        [--dtypes float32] [--only softmax,cross_entropy] [--mask-every 2 [--mask-value -95]]
        [--hard-labels]

``softloss._native`` (the importable build) is "new"; the file given is loaded beside it as
"old" (copy it aside before rebuilding). Each ratio is the median of 5 interleaved best-of-3
timings. The last column says whether the builds returned the same bits (a change of chunking or
summation order may move the last bits of a reduced loss; it reports the relative difference).
``--mask-every K`` sets every K-th logit of each row to -inf (masked logits, as in attention or
constrained decoding), or to ``--mask-value V`` (-95 in float32 or -720 in float64 puts their
exps in the subnormal range); ``--hard-labels`` makes the targets of ``binary_cross_entropy`` 0
or 1.
"""

import argparse
import importlib.util
import timeit

import numpy as np

import softloss as sl
from softloss import _native as new

SHAPES = [(100_000, 10), (1_000_000, 10), (512, 32000), (2048, 50257)]
SEGMENTATION = (8, 21, 256, 256)  # "8x21x256x256" on the command line: class axis 1


def calls(x, t, y, u, by, axis, outs):
    """Each function's call on a module; `outs[m]` is module m's own `out=` array; `by` holds the
    targets of the BCE rows (probabilities `u` against `by`)."""
    logy = np.log(y)
    return {
        "softmax": lambda m: m.softmax(x, axis),
        "log_softmax": lambda m: m.log_softmax(x, axis),
        "softmax out=": lambda m: m.softmax(x, axis, outs[m]),
        "log_softmax out=": lambda m: m.log_softmax(x, axis, outs[m]),
        # Upstream gradient x (any array of the shape) against a softmax output y.
        "softmax_backward": lambda m: m.softmax_backward(x, y, axis),
        "log_softmax_backward": lambda m: m.log_softmax_backward(x, logy, axis),
        "cross_entropy": lambda m: m.cross_entropy(x, t, None, -100, "mean", 0.0, axis),
        "cross_entropy(probs)": lambda m: m.cross_entropy(x, y, None, -100, "mean", 0.0, axis),
        "nll_loss": lambda m: m.nll_loss(x, t, None, -100, "mean", axis),
        "cross_entropy_with_grad": lambda m: m.cross_entropy_with_grad(
            x, t, None, -100, "mean", 0.0, axis
        )[1],
        "binary_cross_entropy": lambda m: m.binary_cross_entropy(u, by, None, "mean"),
        "binary_cross_entropy(none)": lambda m: m.binary_cross_entropy(u, by, None, "none"),
        "binary_cross_entropy_with_grad": lambda m: m.binary_cross_entropy_with_grad(
            u, by, None, "mean"
        )[1],
        "binary_cross_entropy_backward": lambda m: m.binary_cross_entropy_backward(
            1.0, u, by, None, "mean"
        ),
        # Logits x against probability targets u.
        "bce_with_logits": lambda m: m.binary_cross_entropy_with_logits(x, u, None, None, "mean"),
        "bce_with_logits(none)": lambda m: m.binary_cross_entropy_with_logits(
            x, u, None, None, "none"
        ),
        "bce_with_logits_with_grad": lambda m: m.binary_cross_entropy_with_logits_with_grad(
            x, u, None, None, "mean"
        )[1],
        "bce_with_logits_backward": lambda m: m.binary_cross_entropy_with_logits_backward(
            1.0, x, u, None, None, "mean"
        ),
        "bce_with_logits(weighted)": lambda m: m.binary_cross_entropy_with_logits(
            x, u, u, u, "mean"
        ),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--shapes", help="comma-separated, e.g. 512x32000,1000000x10")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--only", help="comma-separated function names")
    ap.add_argument("--mask-every", type=int, default=0, help="every K-th logit set to -inf")
    ap.add_argument("--mask-value", type=float, default=-np.inf, help="instead of -inf")
    ap.add_argument("--hard-labels", action="store_true", help="BCE targets 0 or 1")
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location("old._native", args.old)
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    if args.threads:
        sl.set_num_threads(args.threads)
        old.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    shapes = SHAPES
    if args.shapes:
        shapes = [tuple(int(d) for d in s.split("x")) for s in args.shapes.split(",")]
    only = set(args.only.split(",")) if args.only else None
    for shape in shapes:
        for dt in [np.dtype(d).type for d in args.dtypes.split(",")]:
            axis = 1 if len(shape) > 2 else -1
            x = rng.standard_normal(shape).astype(dt)
            if args.mask_every:
                np.moveaxis(x, axis, -1)[..., 1 :: args.mask_every] = args.mask_value
            t = rng.integers(
                0, shape[axis], shape[:axis] + shape[axis + 1 :] if axis > 0 else shape[0]
            )
            y = sl.softmax(rng.standard_normal(shape).astype(dt), axis=axis)
            u = rng.uniform(0, 1, shape).astype(dt)
            by = (u > 0.5).astype(dt) if args.hard_labels else y  # BCE targets
            outs = {new: np.empty_like(x), old: np.empty_like(x)}
            for name, call in calls(x, t, y, u, by, axis, outs).items():
                if only is not None and name not in only:
                    continue
                a, b = np.asarray(call(new)), np.asarray(call(old))
                if a.tobytes() == b.tobytes():
                    bits = "same bits"
                else:
                    rel = np.max(np.abs(a - b) / np.maximum(np.abs(b), np.finfo(b.dtype).tiny))
                    bits = f"differ (max rel {rel:.1e})"
                n = max(1, int(2e6 // x.size))
                ratios = []
                for _ in range(5):
                    to = min(timeit.repeat(lambda c=call: c(old), number=n, repeat=3))
                    tn = min(timeit.repeat(lambda c=call: c(new), number=n, repeat=3))
                    ratios.append(tn / to)
                med = sorted(ratios)[2]
                print(f"{name:24s} {shape!s:16s} {np.dtype(dt).name:8s} new/old {med:.2f}  {bits}")


if __name__ == "__main__":
    main()
