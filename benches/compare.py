"""Side-by-side benchmark of softloss against NumPy, SciPy, PyTorch and the memory limit.

    python benches/compare.py [--quick] [--only softmax cross_entropy] [--json FILE]

The implementation lives in ``softloss.bench`` so that the installed package can run it too.
"""

from softloss.bench import main

if __name__ == "__main__":
    raise SystemExit(main())
