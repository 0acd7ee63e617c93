"""Interim: the bounds and text cleaning the relay needs before issue 14's one validation
layer lands; every name here moves to (or is replaced by) that layer when it does."""

import unicodedata

# The longest duration procobs accepts anywhere (ten years): far inside what a datetime
# and both databases' INTEGER hold, so "now + duration" can never overflow.
MAX_DURATION_SECONDS = 10 * 365 * 24 * 3600

# C0/C1 controls and DEL (Cc), invisible formatting such as bidirectional overrides (Cf),
# lone surrogates (Cs), and the Unicode line and paragraph separators.
_UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def printable_line(text: str, limit: int) -> str:
    """``text`` as one line of at most ``limit`` characters: every control or invisible
    formatting character becomes a space, runs of white space one space."""
    # Cleaning stops well past the limit: what follows would be cut anyway.
    cleaned = "".join(
        " " if unicodedata.category(ch) in _UNPRINTABLE_CATEGORIES else ch
        for ch in text[: 8 * limit]
    )
    single = " ".join(cleaned.split())
    return single if len(single) <= limit else single[: limit - 1] + "…"


def has_unprintable(text: str) -> bool:
    """Does ``text`` hold a control or invisible formatting character (NUL, ESC, CR, LF,
    a bidirectional override…)?"""
    return any(unicodedata.category(ch) in _UNPRINTABLE_CATEGORIES for ch in text)
