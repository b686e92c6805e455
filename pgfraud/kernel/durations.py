"""Durations as people type them on a command line.

>>> parse_duration("90s"), parse_duration("2h"), parse_duration("1.5d")
(90.0, 7200.0, 129600.0)
"""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in ``text`` such as ``45``, ``30s``, ``10m``, ``2h`` or ``30d``."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30s, 10m, 2h or 30d")
    return float(match.group(1)) * _UNIT[match.group(2)]
