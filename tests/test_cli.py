"""The ``softloss`` command line: demo, bench and the streaming eval (softloss.cli)."""

import json
import math
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import softloss
from softloss import _demo, _native, bench
from softloss.cli import eval as ev
from softloss.cli import main

DEMO_VALUES = [
    "0.7054",  # softmax of the cat / horse / dog scores
    "0.2595",
    "0.0351",
    "0.487856",  # the tie
    "0.024289",
    "-4.0057",  # log_softmax([0.3, 2.9, 4.0])
    "9.999546e-01",  # the overflow example
    "4.539787e-05",
    "2.061060e-09",
    "4.22e-15",
    "0.5128",  # weighted NLL mean
    "1.0873",  # cross-entropy sum
    "-0.5121",  # gradient
    "106.973194",  # BCE sum with the -100 clamp
]


def cli(capsys, *argv):
    """``(exit status, stdout, stderr)`` of ``softloss ARGV`` run in this process."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def plain_env(monkeypatch):
    """A fixed terminal width and no forced colour, here and in subprocesses."""
    monkeypatch.setenv("COLUMNS", "80")
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    return os.environ.copy()


def block_modules(monkeypatch, *names):
    """Make ``import NAME`` (and its submodules) raise ImportError."""
    for name in list(sys.modules):
        if name.split(".")[0] in names:
            monkeypatch.delitem(sys.modules, name)
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)


# demo ----------------------------------------------------------------------------------------


def test_demo_shows_the_worked_examples(capsys, plain_env):
    status, out, err = cli(capsys, "demo")
    assert status == 0
    assert err == ""
    for value in DEMO_VALUES:
        assert value in out, value
    assert "-logp[t]" in out  # table headers are text, not rich markup
    assert "7. Binary cross-entropy and the -100 clamp" in out
    for value in DEMO_VALUES:
        assert value in _demo.render(), value


def test_bare_command_and_python_m_are_the_demo(capsys, plain_env):
    _, demo, _ = cli(capsys, "demo")
    _, bare, _ = cli(capsys)
    assert bare == demo
    run = subprocess.run(
        [sys.executable, "-m", "softloss"], capture_output=True, text=True, env=plain_env
    )
    assert run.returncode == 0
    assert run.stdout == demo


def test_without_rich_demo_is_plain_text_and_other_commands_say_what_to_install(
    capsys, monkeypatch, tmp_path
):
    block_modules(monkeypatch, "rich")
    status, out, _ = cli(capsys)
    assert status == 0
    assert out == _demo.render()
    for argv in (["bench", "--quick"], ["eval", str(tmp_path / "x.npy"), "t.npy"]):
        status, out, err = cli(capsys, *argv)
        assert status == 2
        assert out == ""
        assert err.count("\n") == 1
        assert "pip install 'softloss[cli]'" in err


def test_core_and_evaluator_import_without_rich_and_matplotlib(tmp_path):
    x, t = tmp_path / "x.npy", tmp_path / "t.npy"
    np.save(x, np.eye(3))
    np.save(t, np.arange(3))
    code = (
        "import sys; sys.modules.update(rich=None, matplotlib=None)\n"
        "import softloss, softloss.cli, softloss.cli.eval, softloss.__main__\n"
        f"r = softloss.cli.eval.evaluate({str(x)!r}, {str(t)!r})\n"
        "print(r.correct)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "3"


# eval: agreement with the in-memory call --------------------------------------------------------


def make(tmp_path, x, t, w=None):
    """Save the arrays as .npy files; return their paths (weight None when not given)."""
    paths = [tmp_path / "logits.npy", tmp_path / "targets.npy", tmp_path / "weight.npy"]
    np.save(paths[0], x)
    np.save(paths[1], t)
    if w is not None:
        np.save(paths[2], w)
    return str(paths[0]), str(paths[1]), None if w is None else str(paths[2])


def data(n, c, dtype, seed=0, ignore=True, extra=()):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c, *extra)) * 3).astype(dtype)
    t = rng.integers(0, c, (n, *extra))
    if ignore:
        t.reshape(-1)[::7] = -100
    return x, t


def in_memory_mean(x, t, w, ignore_index, eps, axis=1):
    """The in-memory mean in float64, before rounding to the input dtype."""
    if x.dtype == np.float64:
        return float(softloss.cross_entropy(x, t, w, ignore_index, "mean", eps, axis=axis))
    x32 = x.astype(np.float32)
    w32 = None if w is None else np.asarray(w, np.float32)
    return _native.cross_entropy(x32, t.astype(np.int64), w32, ignore_index, "mean", eps, axis)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("classes", [5, 37])
@pytest.mark.parametrize(
    ("weighted", "eps"), [(False, 0.0), (True, 0.0), (False, 0.2), (True, 0.1)]
)
def test_eval_equals_the_in_memory_cross_entropy_for_any_batch_size(
    tmp_path, dtype, classes, weighted, eps
):
    n = 7001 if classes < 16 else 301  # 7001 x 5: three kernel work chunks of 3277 rows
    x, t = data(n, classes, dtype)
    w = np.random.default_rng(1).uniform(0.2, 2.0, classes) if weighted else None
    logits, targets, weight = make(tmp_path, x, t, w)
    expected = in_memory_mean(x, t, w, -100, eps)
    for rows in (1, 7, 64, None):
        r = ev.evaluate(logits, targets, weight=weight, label_smoothing=eps, rows_per_batch=rows)
        assert r.mean_loss == pytest.approx(expected, rel=1e-12, abs=0), rows
        assert r.ignored == (t == -100).sum()
        assert r.samples == n
    if dtype == np.float64:  # the public call rounds to the input dtype: float64 is the same
        assert r.mean_loss == pytest.approx(
            float(softloss.cross_entropy(x, t, w, label_smoothing=eps)), rel=1e-12
        )


def test_batches_are_the_requested_size(tmp_path):
    for classes in (5, 37):
        x, t = data(1003, classes, np.float32)
        r = ev.evaluate(*make(tmp_path, x, t)[:2], rows_per_batch=1)
        assert (r.rows_per_batch, r.batches) == (1, 1003)


@pytest.mark.parametrize("ignore_index", [-100, 0, 3])
def test_eval_ignore_index_inside_and_outside_the_classes(tmp_path, ignore_index):
    x, t = data(500, 6, np.float64, ignore=False)
    t[::5] = ignore_index
    logits, targets, _ = make(tmp_path, x, t)
    r = ev.evaluate(logits, targets, ignore_index=ignore_index, rows_per_batch=33)
    assert r.mean_loss == pytest.approx(in_memory_mean(x, t, None, ignore_index, 0.0), rel=1e-12)
    assert r.ignored == (t == ignore_index).sum()


@pytest.mark.parametrize(("axis", "extra", "move"), [(1, (3, 4), False), (-1, (6,), True)])
def test_eval_nd_logits_with_a_class_axis(tmp_path, axis, extra, move):
    x, t = data(41, 7, np.float32, extra=extra)
    if move:  # (N, d, C) with the classes last
        x = np.ascontiguousarray(np.moveaxis(x, 1, -1))
    logits, targets, _ = make(tmp_path, x, t)
    ax = axis % x.ndim
    expected = in_memory_mean(x, t, None, -100, 0.1, axis=ax)
    for rows in (1, 5, 41):
        r = ev.evaluate(logits, targets, axis=axis, label_smoothing=0.1, rows_per_batch=rows)
        assert r.mean_loss == pytest.approx(expected, rel=1e-12)
        assert r.axis == ax
        assert r.samples == t.size


def test_eval_metrics_match_numpy(tmp_path):
    x, t = data(3000, 9, np.float64)
    x[np.arange(3000), np.maximum(t, 0)] += 2.0  # a model that is right fairly often
    w = np.linspace(0.5, 2.0, 9)
    logits, targets, weight = make(tmp_path, x, t, w)
    r = ev.evaluate(logits, targets, weight=weight, rows_per_batch=256)

    keep = t != -100
    tk = t[keep]
    logp = x - x.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    nll = -logp[np.arange(3000), np.maximum(t, 0)][keep]
    hit = x.argmax(1)[keep] == tk
    assert r.weight_sum == pytest.approx(w[tk].sum(), rel=1e-14)
    assert r.mean_loss == pytest.approx((w[tk] * nll).sum() / w[tk].sum(), rel=1e-12)
    assert r.perplexity == pytest.approx(math.exp(r.mean_loss), rel=1e-15)
    assert r.correct == hit.sum()
    assert r.accuracy == pytest.approx(hit.mean(), rel=1e-15)
    assert (r.ignored, r.counted) == ((~keep).sum(), keep.sum())
    # The per-class table is the unweighted per-sample loss.
    np.testing.assert_array_equal(r.class_count, np.bincount(tk, minlength=9))
    np.testing.assert_allclose(
        r.class_mean_loss(), np.bincount(tk, nll, 9) / np.bincount(tk, minlength=9), rtol=1e-12
    )
    np.testing.assert_array_equal(r.class_correct, np.bincount(tk[hit], minlength=9))
    rows = r.per_class()
    assert [d["class"] for d in rows] == list(range(9))
    assert rows[4]["accuracy"] == pytest.approx(hit[tk == 4].mean(), rel=1e-15)


def test_eval_streams_memory_maps_in_batches(tmp_path, monkeypatch):
    n, c = 2000, 24
    path = tmp_path / "big.npy"
    x = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, c))
    rng = np.random.default_rng(3)
    for start in range(0, n, 500):  # written in chunks, as a file larger than RAM would be
        x[start : start + 500] = rng.standard_normal((500, c))
    x.flush()
    t = rng.integers(0, c, n)
    np.save(tmp_path / "t.npy", t)

    modes, batch_rows = [], []
    load = np.load

    def spy_load(*args, **kwargs):
        modes.append(kwargs.get("mmap_mode"))
        return load(*args, **kwargs)

    def spy_ce(xb, *args):
        batch_rows.append(xb.shape[0])
        return _native.cross_entropy(xb, *args)

    released = []
    release = ev.release

    def spy_release(array, start, stop):
        released.append((array.shape, start, stop))
        release(array, start, stop)

    monkeypatch.setattr(np, "load", spy_load)
    monkeypatch.setattr(ev, "_native", types.SimpleNamespace(cross_entropy=spy_ce))
    monkeypatch.setattr(ev, "release", spy_release)
    seen = []
    r = ev.evaluate(
        path, tmp_path / "t.npy", rows_per_batch=300, progress=lambda *a: seen.append(a)
    )
    assert modes == ["r", "r"]
    assert max(batch_rows) == 300  # never the whole file at once
    assert r.batches == 7
    # each finished batch of both memory maps is handed back (dropped from the resident set)
    bounds = [(k, min(n, k + 300)) for k in range(0, n, 300)]
    assert released == [(shape, *b) for b in bounds for shape in ((n, c), (n,))]
    assert seen == [(0, n), *((min(n, k), n) for k in range(300, n + 300, 300))]
    assert r.mean_loss == pytest.approx(in_memory_mean(np.asarray(x), t, None, -100, 0.0))


# eval: the command ---------------------------------------------------------------------------


def test_eval_command_output_and_json(tmp_path, capsys, plain_env):
    x, t = data(400, 30, np.float32)
    logits, targets, _ = make(tmp_path, x, t)
    out_json = tmp_path / "out.json"
    options = ["--rows-per-batch", "64", "--top", "5", "--json", str(out_json)]
    status, out, err = cli(capsys, "eval", logits, targets, *options)
    assert status == 0, err
    r = ev.evaluate(logits, targets)
    assert f"{r.mean_loss:.6f} nats" in out
    assert f"{r.perplexity:.4f}" in out
    assert f"{100 * r.accuracy:.2f}%" in out
    assert f"{r.counted:,} of {r.samples:,} ({r.ignored:,} ignored" in out
    assert "Per class (5 of 30 classes seen" in out
    table = out[out.index("Per class") :].splitlines()
    assert sum(line.strip()[:1].isdigit() for line in table[1:]) == 5  # --top 5 rows
    worst = int(np.nanargmax(r.class_mean_loss()))
    assert f"{r.class_mean_loss()[worst]:.6f}" in out
    data_json = json.loads(out_json.read_text())
    assert data_json["mean_loss"] == pytest.approx(r.mean_loss, rel=1e-15)
    assert data_json["samples"] == 400
    assert data_json["ignored"] == r.ignored
    assert data_json["logits_shape"] == [400, 30]
    assert data_json["rows_per_batch"] == 64
    assert len(data_json["per_class"]) == 30  # every class seen, not only the top 5
    assert data_json["per_class"][worst]["mean_loss"] == pytest.approx(r.class_mean_loss()[worst])


def test_eval_all_ignored_gives_nan_and_json_nulls(tmp_path, capsys):
    logits, targets, _ = make(tmp_path, np.zeros((5, 3)), np.full(5, -100))
    out_json = tmp_path / "o.json"
    status, out, _ = cli(capsys, "eval", logits, targets, "--json", str(out_json))
    assert status == 0
    assert "n/a" in out
    d = json.loads(out_json.read_text())
    assert [d[k] for k in ("mean_loss", "perplexity", "accuracy")] == [None, None, None]
    assert d["per_class"] == []
    assert d["ignored"] == 5


def bad_inputs(tmp_path):
    """``(argv, what the message mentions)`` of inputs that must fail with status 2."""
    x, t = data(100, 4, np.float32, ignore=False)
    logits, targets, _ = make(tmp_path, x, t)
    p = tmp_path
    np.save(p / "int.npy", x.astype(np.int32))
    np.save(p / "tfloat.npy", t.astype(np.float64))
    np.save(p / "t99.npy", t[:99])
    late = t.copy()
    late[77] = 4
    np.save(p / "late.npy", late)
    np.save(p / "neg.npy", np.where(np.arange(100) == 50, -1, t))
    np.save(p / "w3.npy", np.ones(3))
    np.save(p / "wstr.npy", np.array(["a"] * 4))
    np.save(p / "flat.npy", x[:, 0].copy())
    np.savez(p / "arch.npz", x=x)
    (p / "text.npy").write_text("not numpy")
    (p / "empty.npy").write_bytes(b"")
    (p / "cut.npy").write_bytes((p / "logits.npy").read_bytes()[:300])
    return [
        ([str(p / "missing.npy"), targets], "not found"),
        ([logits, str(p / "missing.npy")], "not found"),
        ([str(p / "text.npy"), targets], "not a readable .npy"),
        ([str(p / "empty.npy"), targets], "not a readable .npy"),
        ([str(p / "cut.npy"), targets], "not a readable .npy"),
        ([str(p / "arch.npz"), targets], ".npz"),
        ([str(p), targets], "directory"),
        ([str(p / "int.npy"), targets], "float16, float32 or float64"),
        ([logits, str(p / "tfloat.npy")], "integer"),
        ([logits, str(p / "t99.npy")], "do not match"),
        ([str(p / "flat.npy"), targets], "class axis"),
        ([logits, targets, "--axis", "0"], "axis 0 holds the rows"),
        ([logits, targets, "--axis", "5"], "not a class axis"),
        ([logits, str(p / "late.npy"), "--rows-per-batch", "10"], "target 4 at index (77,)"),
        ([logits, str(p / "neg.npy")], "target -1 at index (50,)"),
        ([logits, targets, "--weight", str(p / "w3.npy")], "weight must have shape (4,)"),
        ([logits, targets, "--weight", str(p / "wstr.npy")], "weight must be a real"),
        ([logits, targets, "--weight", str(p / "nope.npy")], "not found"),
        ([logits, targets, "--label-smoothing", "1.5"], "label-smoothing"),
        ([logits, targets, "--json", str(p / "no" / "o.json")], "cannot write"),
    ]


def test_eval_bad_inputs_give_one_line_and_status_2(tmp_path, capsys):
    for argv, mention in bad_inputs(tmp_path):
        status, out, err = cli(capsys, "eval", *argv)
        assert status == 2, argv
        assert out == "", argv
        assert err.startswith("softloss eval: error: "), err
        assert err.count("\n") == 1, err
        assert mention in err, (mention, err)


def test_eval_bad_input_in_a_real_process_has_no_traceback(tmp_path):
    argv, _ = bad_inputs(tmp_path)[13]  # the out-of-range target found in a later batch
    run = subprocess.run(
        [sys.executable, "-m", "softloss", "eval", *argv], capture_output=True, text=True
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert run.stderr.count("\n") == 1
    assert "target 4 at index (77,)" in run.stderr


# bench -----------------------------------------------------------------------------------------

TINY = ["--quick", "--only", "softmax out=", "--shapes", "16x10", "--dtypes", "float32"]


def test_bench_command_table_json_and_plot(tmp_path, capsys, plain_env):
    pytest.importorskip("matplotlib")
    out_json, png = tmp_path / "b.json", tmp_path / "b.png"
    status, out, err = cli(capsys, "bench", *TINY, "--json", str(out_json), "--plot", str(png))
    assert status == 0, err
    assert "softmax out=" in out
    assert "log_softmax out=" in out
    assert "16x10" in out
    assert "softloss" in out
    rows = json.loads(out_json.read_text())["rows"]
    assert [r["op"] for r in rows] == ["softmax out=", "log_softmax out="]
    assert all(r["ratios"]["softloss"] > 0 and r["shape"] == [16, 10] for r in rows)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_without_matplotlib_refuses_plot_before_measuring(tmp_path, capsys, monkeypatch):
    block_modules(monkeypatch, "matplotlib")
    monkeypatch.setattr(bench, "run", lambda *a: pytest.fail("measured"))
    status, out, err = cli(capsys, "bench", *TINY, "--plot", str(tmp_path / "p.png"))
    assert (status, out) == (2, "")
    assert "--plot needs matplotlib" in err


def test_bench_options(capsys):
    status, _, err = cli(capsys, "bench", "--quick", "--only", "no-such-op", "--shapes", "4x3")
    assert status == 2
    assert "no operation matches" in err
    with pytest.raises(SystemExit):
        main(["bench", "--shapes", "4y3"])
    assert bench.parse_shape("8x21x64x64:1") == ((8, 21, 64, 64), 1)
    assert len(bench.QUICK_SHAPES) < len(bench.FULL_SHAPES)


def test_compare_script_entry_point_still_works(capsys):
    assert bench.main(TINY) == 0
    out, err = capsys.readouterr()
    assert "softmax out=" in out
    assert "[0/2] softmax out= (16, 10) float32" in err


@pytest.mark.parametrize(("argv", "expected"), [([], 0.05), (["--budget", "0.003"], 0.003)])
def test_bench_budget_sets_the_seconds_per_timing(monkeypatch, capsys, argv, expected):
    budgets = []

    def timed(fn, budget):
        budgets.append(budget)
        return 1e-6

    monkeypatch.setattr(bench, "median_time", timed)
    assert bench.main([*TINY, *argv]) == 0
    capsys.readouterr()
    assert budgets == [expected] * len(budgets)
    assert len(budgets) == 4  # two operations, each timing softloss and the limit
