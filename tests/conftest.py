"""pytest configuration shared by the test files."""

from __future__ import annotations

import os

from hypothesis import settings

# Shared CI runners have noisy timings, so no per-example deadline there, and
# a failing example is printed with the blob that reproduces it.
settings.register_profile("ci", deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
