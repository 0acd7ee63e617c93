"""Retention cost: archiving expired rows in bounded batches against one big statement.

Both paths archive the same generated ledger: completed runs that ended 200 days ago,
each with 2 components and 6 status-history rows (9 rows per run), ids time-ordered like
the ledger's UUIDv7. The batched path is `procobs retention run` (run_retention): a
transaction per batch of run families, FOR UPDATE SKIP LOCKED claims, one
DELETE … RETURNING → INSERT per table. The baseline moves everything in a single
statement, `WITH moved AS (DELETE … RETURNING *) INSERT …` over the three tables, which
holds every lock until it is done. The data is generated afresh (set-based SQL) before
each path. Goals: batched throughput at least 0.5x the single statement, and no single
batch (no lock held) longer than one second.
"""

import sqlalchemy as sa
from _common import fresh_postgres, parser, report, timed

from procobs_dagster.maintenance import DEFAULT_BATCH, run_retention

ROWS_PER_RUN = 9  # 1 header + 2 components + 2 run and 4 component history rows
LIVE = ("process_run_observation", "process_component_observation", "process_status_history")
ARCHIVE = tuple(f"{table}_archive" for table in LIVE)

# Time-ordered ids: the first 48 bits are the milliseconds of started_at, as in UUIDv7.
GENERATE = [
    """
    INSERT INTO process_run_observation (process_run_id, process_candidate_code, correlation_id,
        status, source_system, started_at, ended_at, created_at)
    SELECT id, 'PROC-CAND:bench:retention', id::text, 'completed', 'dot_runtime',
           t, t + interval '1 minute', t
    FROM (
        SELECT encode(overlay(uuid_send(gen_random_uuid())
                              placing substring(int8send((extract(epoch FROM t) * 1000)::bigint) FROM 3)
                              FROM 1 FOR 6), 'hex')::uuid AS id, t
        FROM (SELECT now() - interval '200 days' - make_interval(secs => :runs - g) AS t
              FROM generate_series(1, :runs) AS g) AS times
    ) AS runs
    """,
    """
    INSERT INTO process_component_observation (component_run_id, process_run_id, correlation_id,
        dot_code, component_role, standalone, status, source_system, started_at, ended_at, created_at)
    SELECT gen_random_uuid(), r.process_run_id, r.correlation_id, v.dot_code, v.role, false,
           'completed', 'dot_runtime', r.started_at, r.ended_at, r.created_at
    FROM process_run_observation AS r
    CROSS JOIN (VALUES ('DOT_EXTRACT', 'producer'), ('DOT_VALIDATE', 'verifier')) AS v(dot_code, role)
    """,
    """
    INSERT INTO process_status_history (subject_kind, subject_id, process_run_id, from_status,
        to_status, changed_at, reason)
    SELECT kind, subject_id, process_run_id, m.from_status, m.to_status, at, 'bench'
    FROM (SELECT 'run' AS kind, process_run_id AS subject_id, process_run_id, started_at AS at
          FROM process_run_observation
          UNION ALL
          SELECT 'component', component_run_id, process_run_id, started_at
          FROM process_component_observation) AS subjects
    CROSS JOIN (VALUES (NULL::text, 'started'), ('started', 'completed')) AS m(from_status, to_status)
    ORDER BY at, kind DESC
    """,
]

SINGLE_STATEMENT = """
WITH moved_runs AS (
    DELETE FROM process_run_observation
    WHERE status = 'completed' AND ended_at < now() - interval '90 days'
    RETURNING *
), moved_components AS (
    DELETE FROM process_component_observation AS c USING moved_runs AS r
    WHERE c.process_run_id = r.process_run_id
    RETURNING c.*
), moved_history AS (
    DELETE FROM process_status_history AS h USING moved_runs AS r
    WHERE h.process_run_id = r.process_run_id
    RETURNING h.*
), archived_components AS (
    INSERT INTO process_component_observation_archive SELECT *, now() FROM moved_components
), archived_history AS (
    INSERT INTO process_status_history_archive SELECT *, now() FROM moved_history
)
INSERT INTO process_run_observation_archive SELECT *, now() FROM moved_runs
"""


def _counts(db, tables: tuple[str, ...]) -> dict[str, int]:
    with db.read() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}


def generate(db, runs: int) -> int:
    """Empty the ledger and its archive, then write ``runs`` expired runs; return rows."""
    with db.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {', '.join(LIVE + ARCHIVE)}"))
        for statement in GENERATE:
            conn.execute(sa.text(statement), {"runs": runs})
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"VACUUM ANALYZE {', '.join(LIVE + ARCHIVE)}")
    return sum(_counts(db, LIVE).values())


def check_all_archived(db, rows: int) -> None:
    live, archived = _counts(db, LIVE), _counts(db, ARCHIVE)
    if any(live.values()) or sum(archived.values()) != rows:
        raise SystemExit(f"archive incomplete: live {live}, archived {archived}, expected {rows}")


def archive_in_one_statement(db) -> None:
    with db.begin() as conn:
        conn.execute(sa.text(SINGLE_STATEMENT))


def main() -> None:
    cli = parser(__doc__.splitlines()[0])
    cli.add_argument("--rows", type=int, default=1_000_000, help="expired rows to archive")
    cli.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="run families per batch")
    cli.add_argument("--rounds", type=int, default=3, help="alternating rounds of both paths")
    args = cli.parse_args()
    runs = max(1, args.rows // ROWS_PER_RUN)
    seconds = {"single": 0.0, "batched": 0.0}
    longest = 0.0
    with fresh_postgres(args.database_url, "retention") as db:
        # Alternate which path goes first, so both see the same machine load on average.
        for round_ in range(args.rounds):
            for path in sorted(seconds, reverse=round_ % 2 == 1):
                rows = generate(db, runs)
                results: dict[str, float] = {}
                with timed(results, path):
                    if path == "batched":
                        longest = max(
                            longest, run_retention(db, batch=args.batch).longest_batch_seconds
                        )
                    else:
                        archive_in_one_statement(db)
                check_all_archived(db, rows)
                seconds[path] += results[path]
    moved = rows * args.rounds
    ratio = seconds["single"] / seconds["batched"]
    batches = -(-runs // args.batch)
    report(
        f"retention: {rows} expired rows ({runs} runs x {ROWS_PER_RUN} rows) x {args.rounds} "
        "rounds, PostgreSQL",
        [
            (
                "single statement",
                f"{moved / seconds['single']:9.0f} rows/s  ({seconds['single']:.2f} s; "
                "one transaction holding every lock)",
            ),
            (
                "batched retention",
                f"{moved / seconds['batched']:9.0f} rows/s  ({seconds['batched']:.2f} s; "
                f"{batches} batches of {args.batch} runs per round)",
            ),
            (
                "throughput ratio",
                f"{ratio:9.2f} x single  (goal >= 0.50: {'met' if ratio >= 0.5 else 'NOT met'})",
            ),
            (
                "longest batch",
                f"{longest:9.3f} s  (goal < 1 s: {'met' if longest < 1 else 'NOT met'})",
            ),
        ],
    )


if __name__ == "__main__":
    main()
