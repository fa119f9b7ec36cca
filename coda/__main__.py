"""``python -m coda``: the ``coda`` command (see :mod:`coda.cli`)."""

from coda.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
