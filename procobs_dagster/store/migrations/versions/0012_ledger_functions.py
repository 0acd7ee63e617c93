"""Ledger writes as PostgreSQL functions: a run's or a component's first row and each of
its guarded status moves, each with its history row, in one short call (docs/ledger.md,
"The write path").

The ledger used to send each write as one ~2.5 kB statement (a data-modifying CTE) that
the server parsed and planned anew on every call and the driver interpolated on every
call. A PL/pgSQL function plans its statements once per connection and is called with a
statement a tenth that size. The rules stay where they were: the caller names the
statuses a move is legal from (``p_allowed``, from ledger/lifecycle.py), the function
moves the row only if it is in one of them (and in ``p_expect``, when given), as a
compare-and-set on the status it read. SQLite has no functions and keeps the statements
of ledger/_subjects.py.

Each returns at most one row and says so (``ROWS 1``): a statement that joins its row to
other questions is then planned as the one-row lookup it is, not as a thousand-row scan
worth compiling with JIT.

Revision ID: 0012_ledger_functions
Revises: 0011_trace_summary
"""

from alembic import op

revision = "0012_ledger_functions"
down_revision = "0011_trace_summary"
branch_labels = None
depends_on = None

# Frozen here, as every migration's schema is: the columns of each table as 0001 made
# them, in table order (``SELECT *`` and ``RETURNING *`` follow it).
_RUN_COLUMNS = (
    ("process_run_id", "uuid"),
    ("process_candidate_code", "text"),
    ("process_definition_code", "text"),
    ("correlation_id", "text"),
    ("parent_run_id", "uuid"),
)
_COMPONENT_COLUMNS = (
    ("component_run_id", "uuid"),
    ("process_run_id", "uuid"),
    ("parent_run_id", "uuid"),
    ("correlation_id", "text"),
    ("dot_code", "text"),
    ("component_role", "text"),
    ("event_code", "text"),
    ("queue_job_id", "uuid"),
    ("standalone", "boolean"),
)
_LIFECYCLE_COLUMNS = (
    ("status", "text"),
    ("source_system", "text"),
    ("idempotency_key", "text"),
    ("input_ref", "text"),
    ("output_ref", "text"),
    ("error_ref", "text"),
    ("evidence_ref", "jsonb"),
    ("started_at", "timestamptz"),
    ("ended_at", "timestamptz"),
    ("created_at", "timestamptz"),
)

# (subject kind as process_status_history names it, table, key, columns)
_SUBJECTS = (
    ("run", "process_run_observation", "process_run_id", _RUN_COLUMNS + _LIFECYCLE_COLUMNS),
    (
        "component",
        "process_component_observation",
        "component_run_id",
        _COMPONENT_COLUMNS + _LIFECYCLE_COLUMNS,
    ),
)

_MOVE_ARGUMENTS = (
    "p_id uuid, p_to text, p_allowed text[], p_expect text, p_ended_at timestamptz,"
    " p_started_at timestamptz, p_error_ref text, p_output_ref text, p_evidence jsonb,"
    " p_at timestamptz, p_reason text, p_actor text"
)


def _insert_function(kind: str, table: str, key: str, columns) -> str:
    arguments = ", ".join(f"p_{name} {type_}" for name, type_ in columns)
    names = ", ".join(name for name, _ in columns)
    values = ", ".join(f"p_{name}" for name, _ in columns)
    return f"""CREATE FUNCTION procobs_insert_{kind}({arguments}, p_reason text, p_actor text)
RETURNS SETOF {table} LANGUAGE plpgsql ROWS 1 AS $$
DECLARE
    written {table};
BEGIN
    -- Idempotent: a row whose key or idempotency key exists already is left alone and
    -- nothing is returned (a concurrent second writer waits for the first, then skips).
    INSERT INTO {table} ({names}) VALUES ({values})
    ON CONFLICT DO NOTHING
    RETURNING * INTO written;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO process_status_history
        (subject_kind, subject_id, process_run_id, from_status, to_status, changed_at, reason, actor)
    VALUES ('{kind}', written.{key}, written.process_run_id, NULL, written.status,
            written.created_at, p_reason, p_actor);
    RETURN NEXT written;
END
$$"""


def _move_function(kind: str, table: str, key: str) -> str:
    return f"""CREATE FUNCTION procobs_move_{kind}({_MOVE_ARGUMENTS})
RETURNS SETOF {table} LANGUAGE plpgsql ROWS 1 AS $$
DECLARE
    prior text;
    moved {table};
BEGIN
    -- Compare-and-set without a separate lock: read the status, then update only if the
    -- row still has it. A concurrent move makes the UPDATE wait for it and then match
    -- nothing, and the status is read again (each statement sees what has committed).
    -- The UPDATE's own row lock holds the moved row until commit.
    LOOP
        SELECT status INTO prior FROM {table} WHERE {key} = p_id;
        -- No row, a status the move is not legal from, or not the status the caller
        -- expected: nothing is written or returned.
        IF NOT FOUND OR NOT prior = ANY (p_allowed)
           OR prior IS DISTINCT FROM coalesce(p_expect, prior) THEN
            RETURN;
        END IF;
        UPDATE {table} SET
            status = p_to,
            ended_at = p_ended_at,
            started_at = coalesce(started_at, p_started_at),
            error_ref = coalesce(p_error_ref, error_ref),
            output_ref = coalesce(p_output_ref, output_ref),
            evidence_ref = coalesce(coalesce(evidence_ref, '{{}}'::jsonb) || p_evidence, evidence_ref)
        WHERE {key} = p_id AND status = prior
        RETURNING * INTO moved;
        EXIT WHEN FOUND;
    END LOOP;
    INSERT INTO process_status_history
        (subject_kind, subject_id, process_run_id, from_status, to_status, changed_at, reason, actor)
    VALUES ('{kind}', p_id, moved.process_run_id, prior, p_to, p_at, p_reason, p_actor);
    RETURN NEXT moved;
END
$$"""


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for kind, table, key, columns in _SUBJECTS:
        op.execute(_insert_function(kind, table, key, columns))
        op.execute(_move_function(kind, table, key))


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for kind, _table, _key, columns in reversed(_SUBJECTS):
        op.execute(f"DROP FUNCTION procobs_move_{kind}({_MOVE_ARGUMENTS})")
        arguments = ", ".join(f"p_{name} {type_}" for name, type_ in columns)
        op.execute(f"DROP FUNCTION procobs_insert_{kind}({arguments}, p_reason text, p_actor text)")
