"""The lifecycle as a state machine: whatever sequence of moves callers attempt, the
ledger persists only legal transitions, never leaves a terminal state, sets ended_at
exactly on terminal states, and keeps a history that replays to the current status."""

import itertools

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from procobs_dagster import ledger
from procobs_dagster.errors import IllegalTransition
from procobs_dagster.ledger.lifecycle import TRANSITIONS
from procobs_dagster.store.vocabulary import RUN_STATUSES, TERMINAL_STATUSES

statuses = st.sampled_from(RUN_STATUSES)


def test_lifecycle_state_machine(db):
    class Lifecycle(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            with db.begin() as conn:
                run, _ = ledger.start_run(conn, candidate_code="PROC-CAND:machine")
                component, _ = ledger.record_component(conn, process_run_id=run.process_run_id)
            self.ids = {"run": run.process_run_id, "component": component.component_run_id}
            self.model = {"run": "started", "component": "started"}
            self.moves = {"run": 1, "component": 1}

        def _move(self, kind: str, to_status: str) -> None:
            move = ledger.transition_run if kind == "run" else ledger.transition_component
            legal = to_status in TRANSITIONS[self.model[kind]]
            try:
                with db.begin() as conn:
                    move(conn, self.ids[kind], to_status)
            except IllegalTransition:
                assert not legal
                return
            assert legal, f"{self.model[kind]} → {to_status} was persisted"
            self.model[kind] = to_status
            self.moves[kind] += 1

        @rule(to_status=statuses)
        def move_run(self, to_status):
            self._move("run", to_status)

        @rule(to_status=statuses)
        def move_component(self, to_status):
            self._move("component", to_status)

        @invariant()
        def ledger_agrees_with_model(self):
            with db.read() as conn:
                rows = {
                    "run": ledger.get_run(conn, self.ids["run"]),
                    "component": ledger.get_component(conn, self.ids["component"]),
                }
                history = ledger.history_of(conn, self.ids["run"])
            for kind, row in rows.items():
                assert row.status == self.model[kind]
                assert (row.ended_at is not None) == (row.status in TERMINAL_STATUSES)
                entries = [h for h in history if h.subject_id == self.ids[kind]]
                assert len(entries) == self.moves[kind]
                assert entries[-1].to_status == row.status
                for earlier, later in itertools.pairwise(entries):
                    assert later.from_status == earlier.to_status
                    assert later.to_status in TRANSITIONS[earlier.to_status]

    run_state_machine_as_test(
        Lifecycle,
        settings=settings(
            max_examples=25,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
