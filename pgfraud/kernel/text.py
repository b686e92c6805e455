"""Text from outside made safe to store and print."""

from __future__ import annotations

import re

#: C0 and C1 control characters (NUL included): never stored, never printed.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")


def escape_controls(text: str) -> str:
    """``text`` with each control character written as ``\\xNN`` (safe to store and print).

    >>> escape_controls("a\\x00b\\x1b[2J")
    'a\\\\x00b\\\\x1b[2J'
    """
    return CONTROL_CHARACTERS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
