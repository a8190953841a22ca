"""Terminal-safe text: strings read from results and task files may carry control sequences."""

from __future__ import annotations

import re
from typing import Any

# C0 controls except tab and newline, DEL, C1 controls (ESC-based sequences lose their ESC).
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(value: Any) -> str:
    """``value`` as text with control characters shown as ``\\xNN`` (so nothing reaches the terminal raw)."""
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))
