"""Database-enforced append-only tables (triggers), spelled for each dialect."""

REFUSE_FUNCTION = "procobs_refuse_change"


def create_refuse_function(dialect: str) -> list[str]:
    if dialect != "postgresql":
        return []
    return [
        f"""CREATE OR REPLACE FUNCTION {REFUSE_FUNCTION}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$"""
    ]


def drop_refuse_function(dialect: str) -> list[str]:
    return [f"DROP FUNCTION IF EXISTS {REFUSE_FUNCTION}()"] if dialect == "postgresql" else []


def _trigger_name(table: str, op: str) -> str:
    return f"{table}_refuse_{op.lower()}"


def append_only(table: str, dialect: str, ops: tuple[str, ...] = ("UPDATE",)) -> list[str]:
    """Triggers that refuse ``ops`` (UPDATE, DELETE) on ``table``."""
    statements = []
    for op in ops:
        name = _trigger_name(table, op)
        if dialect == "postgresql":
            statements.append(
                f"CREATE TRIGGER {name} BEFORE {op} ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {REFUSE_FUNCTION}()"
            )
        else:
            statements.append(
                f"CREATE TRIGGER {name} BEFORE {op} ON {table} BEGIN "
                f"SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END"
            )
    return statements


def drop_append_only(table: str, dialect: str, ops: tuple[str, ...] = ("UPDATE",)) -> list[str]:
    suffix = f" ON {table}" if dialect == "postgresql" else ""
    return [f"DROP TRIGGER IF EXISTS {_trigger_name(table, op)}{suffix}" for op in ops]


# --- a row that may leave only into its archive -----------------------------------------

ARCHIVED_GUARD_FUNCTION = "procobs_leaves_only_archived"


def _same_row(columns: tuple[str, ...], archive: str, dialect: str) -> str:
    """SQL true when ``archive`` holds a row equal, column by column, to OLD. The first
    column is the key (never NULL): compared with ``=`` so the lookup uses the archive's
    primary key (``IS NOT DISTINCT FROM`` cannot use an index, and every deleted row would
    scan the whole archive)."""
    same = "IS NOT DISTINCT FROM" if dialect == "postgresql" else "IS"
    key, *rest = columns
    return " AND ".join([f"a.{key} = OLD.{key}", *(f"a.{c} {same} OLD.{c}" for c in rest)])


def leaves_only_archived(table: str, columns: tuple[str, ...], dialect: str) -> list[str]:
    """A DELETE trigger on ``table`` that lets a row go only when ``{table}_archive``
    already holds an identical copy of it (same key, same values): whoever deletes, the
    row survives in the archive. Every other DELETE is refused as before."""
    archive = f"{table}_archive"
    name = _trigger_name(table, "DELETE")
    message = f"{table} is append-only: DELETE refused (a row leaves only into {archive})"
    if dialect == "postgresql":
        function = f"{ARCHIVED_GUARD_FUNCTION}_{table}"
        return [
            f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM {archive} a WHERE {_same_row(columns, archive, dialect)}) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '{message}' USING ERRCODE = 'restrict_violation';
END
$$""",
            f"CREATE TRIGGER {name} BEFORE DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()",
        ]
    return [
        f"CREATE TRIGGER {name} BEFORE DELETE ON {table} "
        f"WHEN NOT EXISTS (SELECT 1 FROM {archive} a WHERE {_same_row(columns, archive, dialect)}) "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
    ]


def drop_leaves_only_archived(table: str, dialect: str) -> list[str]:
    statements = drop_append_only(table, dialect, ("DELETE",))
    if dialect == "postgresql":
        statements.append(f"DROP FUNCTION IF EXISTS {ARCHIVED_GUARD_FUNCTION}_{table}()")
    return statements


# Discovery's change queue (docs/discovery.md, "Trace summaries"): every insert or update
# of a ledger run, a component or a job_queue row queues the keys whose traces it may
# change — the old keys too, when an update moves a row. A delete of ledger rows queues
# nothing: retention moves them into the archive in the same transaction (the guard
# above), and a summary is computed from the live and archive tables together, so a move
# changes none. job_queue is the platform's own table, which it may prune: a delete there
# takes steps out of a job trace, or the whole trace, so it queues its run_ids
# (``job_queue_removal_triggers``).
TRACE_CHANGE_TABLE = "discovery_trace_change"
_QUEUE = f"INSERT INTO {TRACE_CHANGE_TABLE} (correlation_id, run_id)"
# table -> (correlation_id expression or NULL, run_id expression or NULL), per row.
TRACE_KEYS = {
    "process_run_observation": ("correlation_id", "process_run_id"),
    "process_component_observation": ("correlation_id", None),
    "job_queue": (None, "run_id"),
}


def _trace_change_name(table: str, op: str = "") -> str:
    return f"{table}_trace_change{'_' + op.lower() if op else ''}"


def _keys_sql(table: str, row: str, dialect: str) -> tuple[str, str, str]:
    """(correlation_id, run_id, a condition that the row has a key) over ``row``."""
    correlation, run = TRACE_KEYS[table]
    typed = dialect == "postgresql"
    c = f"{row}.{correlation}" if correlation else ("NULL::text" if typed else "NULL")
    r = f"{row}.{run}" if run else ("NULL::uuid" if typed else "NULL")
    has = " OR ".join(f"{k} IS NOT NULL" for k in (c, r) if not k.startswith("NULL"))
    return c, r, f"({has})"


def trace_change_triggers(dialect: str) -> list[str]:
    statements = []
    for table in TRACE_KEYS:
        if dialect == "postgresql":
            # Statement-level with transition tables: one insert per statement, so a
            # set-based load of a million rows queues its keys in one pass.
            function = _trace_change_name(table)
            new_c, new_r, new_has = _keys_sql(table, "n", dialect)
            old_c, old_r, old_has = _keys_sql(table, "o", dialect)
            statements.append(
                f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        {_QUEUE}
        SELECT {new_c}, {new_r} FROM new_rows n WHERE {new_has}
        UNION
        SELECT {old_c}, {old_r} FROM old_rows o WHERE {old_has};
    ELSE
        {_QUEUE}
        SELECT DISTINCT {new_c}, {new_r} FROM new_rows n WHERE {new_has};
    END IF;
    RETURN NULL;
END
$$"""
            )
            statements.append(
                f"CREATE TRIGGER {_trace_change_name(table, 'INSERT')} AFTER INSERT ON {table} "
                f"REFERENCING NEW TABLE AS new_rows "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )
            statements.append(
                f"CREATE TRIGGER {_trace_change_name(table, 'UPDATE')} AFTER UPDATE ON {table} "
                f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )
            continue
        new_c, new_r, new_has = _keys_sql(table, "NEW", dialect)
        old_c, old_r, old_has = _keys_sql(table, "OLD", dialect)
        statements.append(
            f"CREATE TRIGGER {_trace_change_name(table, 'INSERT')} AFTER INSERT ON {table} "
            f"WHEN {new_has} BEGIN {_QUEUE} VALUES ({new_c}, {new_r}); END"
        )
        statements.append(
            f"CREATE TRIGGER {_trace_change_name(table, 'UPDATE')} AFTER UPDATE ON {table} "
            f"BEGIN {_QUEUE} SELECT {new_c}, {new_r} WHERE {new_has}; "
            f"{_QUEUE} SELECT {old_c}, {old_r} WHERE {old_has} "
            f"AND ({old_c} IS NOT {new_c} OR {old_r} IS NOT {new_r}); END"
        )
    return statements


def drop_trace_change_triggers(dialect: str) -> list[str]:
    statements = []
    for table in TRACE_KEYS:
        suffix = f" ON {table}" if dialect == "postgresql" else ""
        for op in ("INSERT", "UPDATE"):
            statements.append(f"DROP TRIGGER IF EXISTS {_trace_change_name(table, op)}{suffix}")
        if dialect == "postgresql":
            statements.append(f"DROP FUNCTION IF EXISTS {_trace_change_name(table)}()")
    return statements


JOB_QUEUE = "job_queue"


def job_queue_removal_triggers(dialect: str) -> list[str]:
    """Triggers telling discovery's refresh that job_queue rows went: a DELETE queues
    their run ids; a TRUNCATE (Postgres) names no rows, so it clears the job coverage the
    summaries were built with, and the next refresh re-summarises every job trace."""
    name = _trace_change_name(JOB_QUEUE, "DELETE")
    if dialect != "postgresql":
        old_c, old_r, old_has = _keys_sql(JOB_QUEUE, "OLD", dialect)
        return [
            f"CREATE TRIGGER {name} AFTER DELETE ON {JOB_QUEUE} "
            f"WHEN {old_has} BEGIN {_QUEUE} VALUES ({old_c}, {old_r}); END"
        ]
    old_c, old_r, old_has = _keys_sql(JOB_QUEUE, "o", dialect)
    truncated = _trace_change_name(JOB_QUEUE, "TRUNCATE")
    return [
        f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    {_QUEUE}
    SELECT DISTINCT {old_c}, {old_r} FROM old_rows o WHERE {old_has};
    RETURN NULL;
END
$$""",
        f"CREATE TRIGGER {name} AFTER DELETE ON {JOB_QUEUE} REFERENCING OLD TABLE AS old_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()",
        f"""CREATE OR REPLACE FUNCTION {truncated}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE discovery_summary_state SET job_coverage = NULL;
    RETURN NULL;
END
$$""",
        f"CREATE TRIGGER {truncated} AFTER TRUNCATE ON {JOB_QUEUE} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {truncated}()",
    ]


def drop_job_queue_removal_triggers(dialect: str) -> list[str]:
    if dialect != "postgresql":
        return [f"DROP TRIGGER IF EXISTS {_trace_change_name(JOB_QUEUE, 'DELETE')}"]
    statements = []
    for op in ("DELETE", "TRUNCATE"):
        name = _trace_change_name(JOB_QUEUE, op)
        statements.append(f"DROP TRIGGER IF EXISTS {name} ON {JOB_QUEUE}")
        statements.append(f"DROP FUNCTION IF EXISTS {name}()")
    return statements
