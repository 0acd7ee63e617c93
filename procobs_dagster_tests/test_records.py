import dataclasses
import datetime as dt
import uuid

from procobs_dagster.records import Record

RUN_ID = uuid.UUID("01a2010e-708f-7b80-a459-9b0094024a14")
AT = dt.datetime(2026, 5, 1, 12, 30, tzinfo=dt.UTC)


@dataclasses.dataclass(frozen=True)
class Sample(Record):
    run_id: uuid.UUID
    at: dt.datetime
    note: str | None


def test_from_row_takes_the_fields_and_ignores_other_columns():
    assert Sample.from_row({"run_id": RUN_ID, "at": AT, "note": None, "extra": 1}) == Sample(
        RUN_ID, AT, None
    )


def test_as_row_keeps_database_values_and_as_dict_makes_them_json():
    sample = Sample(RUN_ID, AT, "n")
    assert sample.as_row() == {"run_id": RUN_ID, "at": AT, "note": "n"}
    assert sample.as_dict() == {
        "run_id": "01a2010e-708f-7b80-a459-9b0094024a14",
        "at": "2026-05-01T12:30:00+00:00",
        "note": "n",
    }
