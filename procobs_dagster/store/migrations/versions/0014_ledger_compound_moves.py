"""Ledger writes that move a row twice in one call: a new row on into a working status,
and a row through one status on to the next, each with every history row (docs/ledger.md,
"The write path").

The observe API records a step as inserted ``started`` then moved ``step_started``, and
completes it through ``step_completed`` to ``completed``: two row versions, two calls of
the statement-level triggers on the table, where one does. These functions write the row
once, in the status it ends in, and append both history rows; the statuses in between
stay in the history as before. The rules do not change: the caller names the statuses
each move is legal from (``p_allowed``/``t_allowed``, from ledger/lifecycle.py), and the
row is written only if it is in one of them — for a new row nobody else can see yet,
which the function checks; for an existing one, as a compare-and-set on the status it
read, exactly as ``procobs_move_*`` (migration 0012) does. SQLite keeps the statements of
ledger/_subjects.py.

Revision ID: 0014_ledger_compound_moves
Revises: 0013_sqlite_autoincrement
"""

from alembic import op

revision = "0014_ledger_compound_moves"
down_revision = "0013_sqlite_autoincrement"
branch_labels = None
depends_on = None

# Frozen here, as every migration's schema is (the same lists as 0012's: no column was
# added since): the columns of each table, in table order.
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

# The second move of a call: where to, from which statuses it is legal, its ended_at
# (NULL unless terminal), started_at (kept if set), time and reason.
_THEN_ARGUMENTS = (
    "t_to text, t_allowed text[], t_ended_at timestamptz, t_started_at timestamptz,"
    " t_at timestamptz, t_reason text"
)
_MOVE_ARGUMENTS = (
    "p_id uuid, p_to text, p_allowed text[], p_expect text, p_ended_at timestamptz,"
    " p_started_at timestamptz, p_error_ref text, p_output_ref text, p_evidence jsonb,"
    " p_at timestamptz, p_reason text, p_actor text"
)
_HISTORY = (
    "process_status_history"
    " (subject_kind, subject_id, process_run_id, from_status, to_status, changed_at, reason, actor)"
)


def _refuse_second_move(name: str, from_status: str) -> str:
    # A caller's mistake, not a race: the second move is judged on a status this very
    # call wrote, so nothing concurrent can have made it illegal.
    return f"""IF NOT {from_status} = ANY (t_allowed) THEN
        RAISE EXCEPTION '{name}: % → % is not a lifecycle step', {from_status}, t_to;
    END IF;"""


def _insert_then_function(kind: str, table: str, key: str, columns) -> str:
    name = f"procobs_insert_{kind}_then"
    arguments = ", ".join(f"p_{column} {type_}" for column, type_ in columns)
    names = ", ".join(column for column, _ in columns)
    written = {
        "status": "t_to",
        "ended_at": "t_ended_at",
        "started_at": "coalesce(p_started_at, t_started_at)",
    }
    values = ", ".join(written.get(column, f"p_{column}") for column, _ in columns)
    return f"""CREATE FUNCTION {name}({arguments}, p_reason text, p_actor text, {_THEN_ARGUMENTS})
RETURNS SETOF {table} LANGUAGE plpgsql ROWS 1 AS $$
DECLARE
    written {table};
BEGIN
    {_refuse_second_move(name, "p_status")}
    -- procobs_insert_{kind} and a move of the row it inserted: the row is new, so no one
    -- can see or move it before this transaction commits, and writing it once in the
    -- status it moves to is the same as writing it twice. Idempotent as the insert is.
    INSERT INTO {table} ({names}) VALUES ({values})
    ON CONFLICT DO NOTHING
    RETURNING * INTO written;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO {_HISTORY} VALUES
        ('{kind}', written.{key}, written.process_run_id, NULL, p_status, written.created_at,
         p_reason, p_actor),
        ('{kind}', written.{key}, written.process_run_id, p_status, t_to, t_at, t_reason,
         p_actor);
    RETURN NEXT written;
END
$$"""


def _move_through_function(kind: str, table: str, key: str) -> str:
    name = f"procobs_move_{kind}_through"
    return f"""CREATE FUNCTION {name}({_MOVE_ARGUMENTS}, {_THEN_ARGUMENTS})
RETURNS SETOF {table} LANGUAGE plpgsql ROWS 1 AS $$
DECLARE
    prior text;
    moved {table};
BEGIN
    {_refuse_second_move(name, "p_to")}
    -- procobs_move_{kind} to p_to, then on to t_to: the same compare-and-set on the
    -- status read, one UPDATE writing the row as the second move leaves it.
    LOOP
        SELECT status INTO prior FROM {table} WHERE {key} = p_id;
        IF NOT FOUND OR NOT prior = ANY (p_allowed)
           OR prior IS DISTINCT FROM coalesce(p_expect, prior) THEN
            RETURN;
        END IF;
        UPDATE {table} SET
            status = t_to,
            ended_at = t_ended_at,
            started_at = coalesce(started_at, p_started_at, t_started_at),
            error_ref = coalesce(p_error_ref, error_ref),
            output_ref = coalesce(p_output_ref, output_ref),
            evidence_ref = coalesce(coalesce(evidence_ref, '{{}}'::jsonb) || p_evidence, evidence_ref)
        WHERE {key} = p_id AND status = prior
        RETURNING * INTO moved;
        EXIT WHEN FOUND;
    END LOOP;
    INSERT INTO {_HISTORY} VALUES
        ('{kind}', p_id, moved.process_run_id, prior, p_to, p_at, p_reason, p_actor),
        ('{kind}', p_id, moved.process_run_id, p_to, t_to, t_at, t_reason, p_actor);
    RETURN NEXT moved;
END
$$"""


def _insert_then_signature(kind: str, columns) -> str:
    arguments = ", ".join(f"p_{column} {type_}" for column, type_ in columns)
    return (
        f"procobs_insert_{kind}_then({arguments}, p_reason text, p_actor text, {_THEN_ARGUMENTS})"
    )


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for kind, table, key, columns in _SUBJECTS:
        op.execute(_insert_then_function(kind, table, key, columns))
        op.execute(_move_through_function(kind, table, key))


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for kind, _table, _key, columns in reversed(_SUBJECTS):
        op.execute(
            f"DROP FUNCTION procobs_move_{kind}_through({_MOVE_ARGUMENTS}, {_THEN_ARGUMENTS})"
        )
        op.execute(f"DROP FUNCTION {_insert_then_signature(kind, columns)}")
