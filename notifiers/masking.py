"""Masking personal data for texts that leave the bank and for logs: last four digits only."""

from __future__ import annotations

__all__ = ["mask_digits", "mask_email"]


def mask_digits(value: object, keep: int = 4) -> str:
    """``6222020000001234`` → ``****1234``; ``+8613800001234`` → ``+86 ****1234``.

    A phone number keeps its country code, which tells the reader which network it is on
    without identifying the person. ``None`` and empty values read as ``—``.
    """
    if value is None:
        return "—"
    text = str(value).strip()
    if not text:
        return "—"
    prefix = ""
    if text.startswith("+86") and len(text) > 7:
        prefix, text = "+86 ", text[3:]
    elif text.startswith("+") and len(text) > 7:
        prefix, text = "+", text[1:]
    if len(text) <= keep:
        return prefix + "*" * len(text)
    return prefix + "****" + text[-keep:]


def mask_email(value: str) -> str:
    """``li.wei@bank.example`` → ``l***@bank.example``."""
    local, _, domain = value.partition("@")
    if not domain:
        return mask_digits(value)
    return f"{local[:1]}***@{domain}"
