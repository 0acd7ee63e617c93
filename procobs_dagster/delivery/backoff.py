"""When to try a failed delivery again: capped exponential backoff with jitter."""

import math
import random

# Each delay is drawn from [ (1 - JITTER) * d, d ] where d = min(cap, base * 2^(n-1)):
# retries of events that failed together spread out, yet the delay still grows.
JITTER = 0.5


def backoff_seconds(
    attempt: int,
    base_seconds: float,
    cap_seconds: float,
    rng: random.Random,
    retry_after_seconds: float | None = None,
) -> float:
    """The delay after failed attempt number ``attempt`` (1 for the first), never more
    than ``cap_seconds`` and never negative.

    A receiver's Retry-After is honoured when it asks for longer, up to the cap: however
    long a receiver asks for, the relay asks again after the cap at most."""
    ceiling = min(cap_seconds, base_seconds * 2 ** min(max(attempt, 1) - 1, 64))
    delay = ceiling * (1 - JITTER * rng.random())
    if retry_after_seconds is not None and not math.isnan(retry_after_seconds):
        delay = max(delay, min(retry_after_seconds, cap_seconds))
    return min(max(delay, 0.0), cap_seconds)
