"""Names from the cluster as file and folder names: one safe path component each, never the same for two names."""

from __future__ import annotations

import hashlib
import re

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_COMPONENT = 100
"""Component names stay far below a filesystem's 255 bytes, leaving room for prefixes and suffixes."""


def safe_component(name: str, fallback: str = "unnamed") -> str:
    """``name`` as one path component, different for different names.

    A name made only of ``A-Z a-z 0-9 . _ -`` (not starting or ending with ``.`` or ``_``, at most
    :data:`MAX_COMPONENT` characters) is used as it is; any other gets its safe form cut short and
    ``@`` plus 12 hex digits of its SHA-256. ``@`` never occurs in a name used as it is, so two names
    share a component only if their hashes collide; none can be ``.``, ``..`` or hold a separator.
    """
    safe = _SAFE.sub("_", name).strip("._")
    if safe == name and 0 < len(name) <= MAX_COMPONENT:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{(safe or fallback)[: MAX_COMPONENT - 13]}@{digest}"
