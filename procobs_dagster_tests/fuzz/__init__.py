"""The fuzzing suite: generated input for every command and every file procobs reads.

Every example keeps the rule of docs/limits.md and the README: the exit code is a
documented one, no traceback reaches the user, an error is one line, and a refused
command leaves the row count of every table as it was. ``PROCOBS_FUZZ_PROFILE`` picks the
budget: ``fuzz-ci`` (the default, a few minutes on two cores) or ``fuzz-long``
(``make fuzz``). Adding a target is one entry: a command is found by walking the click
tree; a file format is one entry of ``documents.DOCUMENTS``.
"""
