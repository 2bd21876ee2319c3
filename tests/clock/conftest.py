"""Hypothesis profiles for the business-time property tests.

"ci" (the default here) is deterministic: fixed example counts, derandomized, no deadline.
Set HYPOTHESIS_PROFILE=dev for a quick local run or =thorough to search harder.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=200,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.register_profile("thorough", max_examples=3000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
