"""Every file format procobs reads, generated, keeps the rule (see the package)."""

import pytest
from hypothesis import given

from procobs_dagster.errors import EXIT_INTERNAL, EXIT_OK
from procobs_dagster_tests.fuzz.documents import DOCUMENTS
from procobs_dagster_tests.fuzz.inputs import InputFiles
from procobs_dagster_tests.fuzz.profiles import FUZZ
from procobs_dagster_tests.hostile import (
    DOCUMENTED_EXIT_CODES,
    assert_no_traceback,
    assert_refused,
)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: d.name)
def test_a_generated_file_keeps_the_rule(hostile, tmp_path, document):
    files = InputFiles(tmp_path / "inputs")
    path = tmp_path / "generated"

    @FUZZ
    @given(document.text)
    def read(text):
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        before = hostile.counts()
        outcome = hostile.run(*document.reading(path, files), timeout=60)
        assert_no_traceback(outcome)
        assert outcome.exit_code in DOCUMENTED_EXIT_CODES - {EXIT_INTERNAL}, outcome
        if outcome.exit_code != EXIT_OK:
            assert_refused(outcome, listing=document.listing)
            assert hostile.counts() == before, f"a refused file wrote rows: {outcome}"

    read()
