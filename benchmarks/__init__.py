"""Benchmarks of coda against plain numpy and peer packages.

Each ``bench_*`` module has ``run(*, quick, repeats) -> str`` returning a
Markdown section; ``python -m benchmarks`` runs them all (see README.md).
"""
