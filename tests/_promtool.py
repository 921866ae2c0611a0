"""``promtool check metrics`` on an exposition, with the one complaint the contract allows.

promtool is ``AZORA_PROMTOOL_BIN``, else ``promtool`` on PATH (tests/stack.py); a
missing binary fails the test. The specification's histogram names end in ``_ms``,
which promtool's lint reports as an abbreviated unit; that line, for those names,
is the only output accepted. Anything else (a parse error, a duplicate family,
another lint) is returned for the test to fail on.
"""

from __future__ import annotations

import re
import subprocess

from stack import promtool_binary

ABBREVIATED_UNIT_NAMES = frozenset({"http_request_duration_ms", "db_query_duration_ms"})
_ABBREVIATED = re.compile(r"^(\S+) metric names should not contain abbreviated units$")


def unexpected_complaints(text: str | bytes) -> list[str]:
    """promtool's complaints about ``text`` other than the allowed ``_ms`` lint."""
    data = text.encode() if isinstance(text, str) else text
    result = subprocess.run(
        [str(promtool_binary()), "check", "metrics"],
        input=data,
        capture_output=True,
        check=False,
        timeout=120,
    )
    lines = (result.stdout + result.stderr).decode(errors="replace").splitlines()
    unexpected = []
    for line in filter(None, (raw.strip() for raw in lines)):
        match = _ABBREVIATED.match(line)
        if match is None or match.group(1) not in ABBREVIATED_UNIT_NAMES:
            unexpected.append(line)
    if result.returncode not in (0, 3) and not unexpected:  # 3: lint problems only
        unexpected.append(f"promtool exited with {result.returncode}")
    return unexpected
