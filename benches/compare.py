"""Side-by-side benchmark of softloss against NumPy, SciPy, PyTorch and the memory limit.

    python benches/compare.py [--quick] [--only softmax cross_entropy] [--shapes 64x10 ...]
                              [--dtypes float32] [--json FILE]

The implementation lives in ``softloss.bench`` so that the installed package can run it too;
``softloss bench`` (the ``cli`` extra) is the same run with a progress bar, a rich table and
``--plot FILE.png``.
"""

from softloss.bench import main

if __name__ == "__main__":
    raise SystemExit(main())
