"""Run every ``bench_*`` module of this package: ``python -m benchmarks [--quick]``."""

import importlib
import pkgutil

import benchmarks
from benchmarks._timing import main

modules = [
    importlib.import_module(f"benchmarks.{info.name}")
    for info in pkgutil.iter_modules(benchmarks.__path__)
    if info.name.startswith("bench_")
]
main(modules)
