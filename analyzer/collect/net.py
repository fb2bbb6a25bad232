"""Short reasons for network failures, for one-line errors."""

from __future__ import annotations

_MARKERS = ("Connection refused", "Name or service not known", "CERTIFICATE_VERIFY_FAILED",
            "certificate verify failed", "timed out")  # fmt: skip


def failure_reason(exc: BaseException) -> str:
    """The recognisable cause inside a client library's nested error text, else the exception's type."""
    text = str(exc)
    return next((marker for marker in _MARKERS if marker in text), type(exc).__name__)
