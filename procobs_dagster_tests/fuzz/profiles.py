"""The fuzzing budgets, chosen by PROCOBS_FUZZ_PROFILE (settings are applied to the fuzz
tests only, never to the rest of the suite)."""

import os

from hypothesis import HealthCheck, settings

PROFILE_ENV = "PROCOBS_FUZZ_PROFILE"
# Overrides the profile's number of examples per test (a quick deeper look, say).
EXAMPLES_ENV = "PROCOBS_FUZZ_EXAMPLES"
_SHARED = {
    "deadline": None,
    # One database serves every example of a test on purpose: a refused example must
    # leave it as it was, and the next example finds it so.
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
}
# CI: a fixed set of examples (the same on every run), enough to cross every option.
settings.register_profile("fuzz-ci", max_examples=25, derandomize=True, **_SHARED)
# make fuzz: random examples, many more of them.
settings.register_profile("fuzz-long", max_examples=400, **_SHARED)

FUZZ = settings.get_profile(os.environ.get(PROFILE_ENV, "fuzz-ci"))
if os.environ.get(EXAMPLES_ENV):
    FUZZ = settings(FUZZ, max_examples=int(os.environ[EXAMPLES_ENV]))
