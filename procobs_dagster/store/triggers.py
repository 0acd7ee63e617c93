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
