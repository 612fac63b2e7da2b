"""External tools the tests need: under CI a missing one is a failure, elsewhere a skip with the reason.

The skip is deliberate (issue 5: "outside CI they may skip with a clear reason"): a developer without Debian's
Chromium, promtool or flite can still run the rest; CI installs all three in `.ci/run` and fails if one is missing.
"""

import os
from typing import NoReturn

import pytest


def missing_tool(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)
