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
