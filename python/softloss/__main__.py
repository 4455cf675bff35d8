"""``python -m softloss``: the same program as the ``softloss`` console script."""

from softloss.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
