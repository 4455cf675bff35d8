"""Every SIMD path this CPU supports gives the same bits, and passes the fixtures.

``SOFTLOSS_SIMD`` is read once per process, so each path runs in a subprocess that computes every
fixture case (forward and backward) plus large random inputs that take the vector, tiled, online
and parallel routes, and prints a digest of all the bits it produced.
"""

import os
import subprocess
import sys
import textwrap

import softloss

SCRIPT = textwrap.dedent(
    r"""
    import hashlib, itertools, json, sys
    import numpy as np
    import softloss as sl
    sys.path.insert(0, sys.argv[1])
    from conftest import load_cases, assert_close, backward_gate_rows

    digest = hashlib.sha256()
    def add(v):
        digest.update(np.ascontiguousarray(np.asarray(v)).tobytes())

    cases, arrays = load_cases()
    for case in cases:
        fn = getattr(sl, case["fn"])
        args = [arrays[f"{case['id']}.{n}"] for n in case["args"]]
        kw = {
            k: arrays[v["array"]] if isinstance(v, dict) else v
            for k, v in case["kwargs"].items()
        }
        got = fn(*args, **kw)
        assert_close(got, arrays[case["expected"]], case["dtype"])
        add(got)
        if "expected_grad" in case:
            go = arrays[case["grad_output"]]
            back = getattr(sl, case["fn"] + "_backward")
            if case["fn"] in ("softmax", "log_softmax"):
                g = back(go, fn(args[0], **kw), **kw)
            else:
                g = back(go, *args, **kw)
            assert_close(g, arrays[case["expected_grad"]], case["dtype"])
            add(g)

    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        # Short rows of 10 to 31 classes: tiles, rows in place or row kernels, as each family's
        # switches (kernels::tiles::ShortRows, and the number of rows) put them.
        routes = [
            ((300, 1000), -1),
            ((4, 530_000), -1),
            ((3, 21, 40, 40), 1),
            ((2000, 10), -1),
            ((1000, 23), -1),
            ((700, 31), -1),
            # Calls with too few short rows for a tile (cross_entropy_short, softmax's short_row).
            ((3, 20), -1),
            ((7, 31), -1),
        ]
        for shape, axis in routes:
            x = (rng.standard_normal(shape) * 5).astype(dtype)
            for f in (sl.softmax, sl.log_softmax):
                y = f(x, axis)
                add(y)
                add(getattr(sl, f.__name__ + "_backward")(x, y, axis))
            classes = shape[axis]
            t = rng.integers(0, classes, np.delete(np.array(shape), axis % len(shape)))
            for eps in (0.0, 0.1):
                loss, grad = sl.cross_entropy_with_grad(x, t, label_smoothing=eps, axis=axis)
                add(loss); add(grad)
            p = sl.softmax(rng.standard_normal(shape).astype(dtype), axis)
            loss, grad = sl.cross_entropy_with_grad(x, p, axis=axis, reduction="sum")
            add(loss); add(grad)
        # Rows whose spread (max - min) straddles the end of the fast exp's domain (86 for
        # float32, 700 for float64): the vector paths take Lanes::exp_in_range on one side and
        # the full exp on the other, the scalar path the full exp throughout. (Past 87.3 and
        # 708 the fast exp's single scaling would be wrong: a row taking it by mistake shows.)
        edge_routes = [
            ((20, 1000), -1),
            ((20, 530_000), -1),
            ((2, 12, 3, 40), 1),  # fewer columns than a whole group of vectors
            ((2, 12, 3, 160), 1),  # whole groups, then a partial one
            ((40, 10), -1),
            ((40, 27), -1),
        ]
        for shape, axis in edge_routes:
            classes = shape[axis]
            spreads = np.repeat([85.99, 86.0, 86.01, 95.0, 103.0, 699.9, 700.0, 700.1, 720, 744], 2)
            others = shape[:axis % len(shape)] + shape[axis % len(shape) + 1 :]
            s = np.resize(spreads, int(np.prod(others)))
            r = rng.uniform(0, 1, (len(s), classes)) * -s[:, None]
            r[:, 0] = 0
            r[:, classes // 2] = -s
            # Then with a NaN in every third row: a NaN row's extent must not hide the spread of
            # the rows that share its tile.
            r_nan = r.copy()
            r_nan[::3, 1] = np.nan
            r_nan[1::3, -1] = np.nan
            t = rng.integers(0, classes, others)
            go = rng.standard_normal(r.shape)
            for rows in (r, r_nan):
                x = np.moveaxis(rows.reshape(others + (classes,)), -1, axis)
                x = np.ascontiguousarray(x.astype(dtype))
                g = np.ascontiguousarray(
                    np.moveaxis(go.reshape(others + (classes,)), -1, axis).astype(dtype)
                )
                for f in (sl.softmax, sl.log_softmax):
                    # Their outputs hold subnormals (spreads past 87 and 708), which the
                    # products of the forward's scaling and of the backward form without
                    # an assist on x86 (Lanes::mul_tiny): the same bits as a plain product.
                    y = f(x, axis)
                    add(y)
                    add(getattr(sl, f.__name__ + "_backward")(g, y, axis))
                for eps in (0.0, 0.1):
                    loss, grad = sl.cross_entropy_with_grad(x, t, label_smoothing=eps, axis=axis)
                    add(loss); add(grad)
        # One tile (16 rows of 10 classes, or 16 columns with the class axis first): row i
        # spreads beyond the fast exp's domain, row j ends in a NaN. The NaN must not hide row
        # i's spread when the lanes' ranges are combined.
        far = -200.0 if dtype == np.float32 else -800.0
        tile = np.tile(-np.linspace(0, 1, 10), (16, 1)).astype(dtype)
        for i, j in itertools.permutations(range(16), 2):
            y = tile.copy()
            y[i, 5] = far
            y[j, -1] = np.nan
            add(sl.softmax(y)[i])
            add(sl.log_softmax(y.T, axis=0)[:, i])
            add(sl.cross_entropy_with_grad(y, np.zeros(16, np.int64), reduction="none")[1][i])
        # Random hostile values on every route: spreads on both sides of the fast exp's domain,
        # NaN, +-inf and -inf scattered over rows and tiles.
        hostile_routes = [((64, 300), -1), ((96, 10), -1), ((3, 7, 5, 24), 1), ((2, 7, 4, 80), 1)]
        for shape, axis in hostile_routes:
            for scale in (1.0, 30.0, 300.0):
                x = rng.standard_normal(shape) * scale
                u = rng.uniform(0, 1, shape)
                x[u < 0.02] = np.nan
                x[(u >= 0.02) & (u < 0.03)] = np.inf
                x[(u >= 0.03) & (u < 0.06)] = -np.inf
                x = x.astype(dtype)
                for f in (sl.softmax, sl.log_softmax):
                    y = f(x, axis)
                    add(y)
                    add(getattr(sl, f.__name__ + "_backward")(x, y, axis))
                others = np.delete(np.array(shape), axis % len(shape))
                t = rng.integers(0, shape[axis], others)
                loss, grad = sl.cross_entropy_with_grad(x, t, reduction="none", axis=axis)
                add(loss); add(grad)
                p = sl.softmax(rng.standard_normal(shape).astype(dtype), axis)
                loss, grad = sl.cross_entropy_with_grad(
                    x, p, label_smoothing=0.1, reduction="none", axis=axis
                )
                add(loss); add(grad)
        # The backward row kernels' gates (kernels/softmax_backward.rs): a row takes plain
        # products when no p (or exp(logp)) is tiny, and skips canon_nan when its sum is finite.
        for go, y, logp in backward_gate_rows(rng, dtype):
            add(sl.softmax_backward(go, y))
            add(sl.log_softmax_backward(go, logp))
        xb = rng.uniform(0, 1, 100_003).astype(dtype)
        yb = rng.uniform(0, 1, 100_003).astype(dtype)
        xb[::101] = 0.0
        xb[1::101] = 1.0
        yh = (yb > 0.5).astype(dtype)  # hard labels: one log per lane
        yh[::37] = 0.25  # a soft label in some vectors: two logs there
        for r in ("none", "mean"):
            add(sl.binary_cross_entropy_with_grad(xb, yb, reduction=r)[0])
            add(sl.binary_cross_entropy(xb, yh, reduction=r))
            add(sl.binary_cross_entropy_with_logits_with_grad(xb * 20 - 10, yb, reduction=r)[1])
        # Probabilities that are subnormal or tiny, and logits whose exp(-|x|) is tiny or
        # subnormal (past 41.6 and 87.3 in float32, 623 and 708 in float64): on x86 float32
        # the vectors holding them take assist-free products and quotients (PointLoss::tiny),
        # which must give the bits of the plain ones. Scattered, so vectors mix both kinds.
        n = 40_003
        f32 = dtype == np.float32
        smallest = float(np.finfo(dtype).smallest_subnormal)
        kind = rng.integers(0, 8, n)
        pt = rng.uniform(0, 1, n)
        pt[kind == 0] = rng.integers(1, 2**22, n)[kind == 0] * smallest
        pt[kind == 1] = 2.0 ** rng.uniform(-150 if f32 else -1075, -20, n)[kind == 1]
        pt[kind == 2] = 0.0
        pt[kind == 3] = 2.0 ** rng.choice([-24.0, -25.0, -26.0], n)[kind == 3]
        pt = pt.astype(dtype)
        yt = rng.uniform(0, 1, n).astype(dtype)
        yt[kind == 4] = 0.0
        yt[kind == 5] = 1.0
        yh = (rng.uniform(0, 1, n) > 0.5).astype(dtype)
        w = rng.uniform(0, 2, n).astype(dtype)
        w[::11] = 0.0
        pw = rng.uniform(0.5, 3, n).astype(dtype)
        go = rng.standard_normal(n).astype(dtype)
        far = (40.0, 110.0) if f32 else (600.0, 760.0)
        xl = rng.standard_normal(n) * 5
        xl[kind < 3] = rng.uniform(*far, n)[kind < 3] * rng.choice([-1.0, 1.0], n)[kind < 3]
        xl[kind == 3] = rng.choice([np.inf, -np.inf, 0.0, smallest, -2 * smallest], n)[kind == 3]
        xl = xl.astype(dtype)
        for y in (yt, yh, np.zeros(n, dtype)):
            add(sl.binary_cross_entropy(pt, y, reduction="none"))
            add(sl.binary_cross_entropy_with_grad(pt, y, weight=w, reduction="none"))
            add(sl.binary_cross_entropy_backward(go, pt, y, reduction="none"))
            add(sl.binary_cross_entropy_with_logits_with_grad(xl, y, reduction="none"))
            loss, grad = sl.binary_cross_entropy_with_logits_with_grad(xl, y, w, pw, "sum")
            add(loss); add(grad)
            add(sl.binary_cross_entropy_with_logits_backward(go, xl, y, w, pw, reduction="none"))
    print(json.dumps({"simd": sl.config()["simd"], "digest": digest.hexdigest()}))
    """
)


def _run(path, threads="2"):
    env = dict(os.environ, SOFTLOSS_SIMD=path, SOFTLOSS_NUM_THREADS=threads)
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, tests_dir],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


def test_every_supported_path_gives_identical_bits():
    paths = softloss.config()["simd_supported"]
    results = {p: _run(p) for p in paths}
    for path, result in results.items():
        assert result["simd"] == path
    digests = {r["digest"] for r in results.values()}
    assert len(digests) == 1, results


def test_thread_count_does_not_change_the_bits():
    best = softloss.config()["simd"]
    assert _run(best, threads="1")["digest"] == _run(best, threads="3")["digest"]


def test_unknown_and_unsupported_requests_fall_back():
    # The best path this CPU supports (the list is in rising order), also when this process was
    # itself forced onto a lower one with SOFTLOSS_SIMD.
    assert _run("no-such-path")["simd"] == softloss.config()["simd_supported"][-1]
