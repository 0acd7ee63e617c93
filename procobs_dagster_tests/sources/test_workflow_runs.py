"""The fold of a run's reports is a join: order, grouping and repetition do not matter."""

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from procobs_dagster.sources.workflow_runs import (
    EventKind,
    JobRef,
    ParentRef,
    RunFacts,
    WorkflowEvent,
    fold,
)

T0 = dt.datetime(2026, 3, 5, tzinfo=dt.UTC)
JOB = JobRef("ns", "job")


@st.composite
def reports(draw) -> list[WorkflowEvent]:
    """Distinct reports of one run: (kind, time) pairs never repeat, as the raw table's
    key guarantees."""
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(list(EventKind)), st.integers(0, 20)),
            min_size=1,
            max_size=8,
            unique=True,
        )
    )
    events = []
    for kind, second in keys:
        events.append(
            WorkflowEvent(
                source="test",
                run_key="r",
                kind=kind,
                event_time=T0 + dt.timedelta(seconds=second),
                job=JOB,
                parent=draw(st.sampled_from([None, ParentRef("p", JobRef("ns", "parent"))])),
                whole_workflow=draw(st.booleans()),
                outputs=draw(
                    st.dictionaries(
                        st.sampled_from(["a", "b"]),
                        st.dictionaries(
                            st.sampled_from(["row_count", "size_bytes"]), st.integers(0, 9)
                        ),
                        max_size=2,
                    )
                ),
                code=draw(st.dictionaries(st.sampled_from(["sql_sha256"]), st.text(max_size=3))),
                error=draw(st.sampled_from([None, "boom"])),
            )
        )
    return events


@given(reports(), st.randoms())
def test_the_facts_do_not_depend_on_order_grouping_or_repetition(events, random):
    expected = fold(events)
    shuffled = events + random.sample(events, k=random.randint(0, len(events)))
    random.shuffle(shuffled)
    cut = random.randint(1, len(shuffled))
    grouped = fold(shuffled[:cut]).merge(fold(shuffled[cut:])) if cut < len(shuffled) else None
    assert fold(shuffled) == expected
    assert grouped is None or grouped == expected
    assert RunFacts.from_json(expected.to_json()) == expected


@given(reports())
def test_the_facts_take_the_earliest_start_and_outcome(events):
    facts = fold(events)
    assert facts.first_time == min(e.event_time for e in events)
    endings = [e for e in events if e.kind in (EventKind.COMPLETE, EventKind.FAIL, EventKind.ABORT)]
    if endings:
        first = min(endings, key=lambda e: e.stamp)
        assert (facts.outcome.at, facts.outcome.error) == (first.event_time, first.error)
    else:
        assert facts.outcome is None
    assert facts.whole_workflow == any(e.whole_workflow for e in events)
