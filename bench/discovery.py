"""Discovery scoring cost: the full scoring against one hand-written SQL aggregate of the gate.

Rows are generated with set-based SQL: runs of 20 candidates (5% dry runs, 10% still
running, 5% failed) and their components (about two per run, spread at random, some runs
with one or none, 80% with evidence), plus job_queue rows of a job-backed candidate. The
scoring computes everything `procobs discovery score` shows (gate, best run, support,
completion, evidence completeness, fitness against the declared order, directly-follows
relation) and stores it; the baseline computes only the gate per candidate, in one
aggregate. Goals: scoring at most 1.5x the baseline, and at most 12x the time for 10x rows.

Both run with discovery's statement-local settings (``ANALYTICAL_SETTINGS``: JIT off,
work_mem 64MB): the scoring sets them for its own statement, and the baseline is held to the
same settings, so the ratio compares the SQL, not the configuration. Times are
the best of --repeats alternating runs (the median is printed beside it): on a shared
machine the best run is the one least disturbed by others.
"""

import statistics

from _common import fresh_postgres, parser, report, timed, vacuum_analyze

from procobs_dagster import discovery
from procobs_dagster.discovery.sql import analytical_settings

CANDIDATES = 20
DECLARED = 10  # half the candidates are declared in the catalog, the rest are discovered

GENERATE_RUNS = """
INSERT INTO process_run_observation (process_run_id, process_candidate_code, correlation_id,
    status, source_system, evidence_ref, started_at, ended_at, created_at)
SELECT md5('run' || i)::uuid,
       'PROC-CAND:dot:bench' || (mod(i, %(candidates)s)),
       md5('run' || i)::uuid::text,  -- like the ledger's default: the run id as text
       CASE WHEN mod(i, 10) = 3 THEN 'started' WHEN mod(i, 20) = 7 THEN 'failed' ELSE 'completed' END,
       CASE WHEN mod(i, 20) = 11 THEN 'dry_run' ELSE 'dot_runtime' END,
       CASE WHEN mod(i, 20) = 11 THEN '{"dry_run": true}'::jsonb END,
       t, CASE WHEN mod(i, 10) <> 3 THEN t + interval '1 minute' END, t
FROM generate_series(1, %(runs)s) AS i,
     LATERAL (SELECT timestamptz '2026-01-01' + i * interval '1 second' AS t) AS at
"""

# Each component lands in a pseudo-random run, so runs get 0, 1, 2, 3… components.
GENERATE_COMPONENTS = """
INSERT INTO process_component_observation (component_run_id, process_run_id, correlation_id,
    dot_code, component_role, standalone, status, source_system, evidence_ref,
    started_at, ended_at, created_at)
SELECT md5('component' || j)::uuid, r.process_run_id, r.correlation_id,
       'DOT_BENCH_' || (mod(j, 3)), CASE WHEN mod(j, 3) = 0 THEN 'producer' ELSE 'verifier' END,
       false, 'completed', r.source_system,
       CASE WHEN r.source_system = 'dry_run' THEN '{"dry_run": true}'::jsonb
            WHEN mod(j, 5) <> 0 THEN jsonb_build_object('rows_touched', mod(j, 100)) END,
       r.started_at + (mod(j, 50)) * interval '1 second',
       r.started_at + (mod(j, 50) + 1) * interval '1 second',
       r.started_at
FROM generate_series(1, %(components)s) AS j
JOIN process_run_observation r ON r.process_run_id = md5('run' || (1 + mod(j::bigint * 7919, %(runs)s)))::uuid
"""

GENERATE_JOBS = """
INSERT INTO job_queue (job_id, job_kind, run_id, status, enqueued_at, started_at, finished_at)
SELECT md5('job' || k)::uuid, 'bench.' || (mod(k, 3)), md5('jobrun' || (k / 3))::uuid,
       CASE WHEN mod(k, 17) = 0 THEN 'running' ELSE 'completed' END,
       t, CASE WHEN mod(k, 29) <> 0 THEN t END, CASE WHEN mod(k, 17) <> 0 THEN t + interval '1 second' END
FROM generate_series(1, %(jobs)s) AS k,
     LATERAL (SELECT timestamptz '2026-01-01' + k * interval '1 second' AS t) AS at
"""

# The gate only, hand-written: per candidate, real runs and those meeting the bar, from
# the ledger and, for the job-backed candidate, from job_queue rows sharing a run_id.
BASELINE = """
SELECT candidate_code, sum(support) AS support, sum(dry_runs) AS dry_runs, sum(verified_runs) AS verified_runs
FROM (
    SELECT r.process_candidate_code AS candidate_code,
           count(*) FILTER (WHERE r.source_system <> 'dry_run') AS support,
           count(*) FILTER (WHERE r.source_system = 'dry_run') AS dry_runs,
           count(*) FILTER (WHERE r.source_system <> 'dry_run' AND r.status = 'completed'
                              AND r.started_at IS NOT NULL AND r.ended_at IS NOT NULL
                              AND coalesce(c.n, 0) >= 2) AS verified_runs
    FROM process_run_observation r
    LEFT JOIN (SELECT correlation_id, count(*) AS n FROM process_component_observation
               WHERE source_system <> 'dry_run' GROUP BY correlation_id) c
           ON c.correlation_id = r.correlation_id
    GROUP BY r.process_candidate_code
    UNION ALL
    SELECT 'PROC-CAND:job:bench', count(*), 0,
           count(*) FILTER (WHERE n >= 2 AND n_completed = n AND n_timed = n)
    FROM (SELECT run_id, count(*) AS n,
                 count(*) FILTER (WHERE status = 'completed') AS n_completed,
                 count(*) FILTER (WHERE started_at IS NOT NULL AND finished_at IS NOT NULL) AS n_timed
          FROM job_queue WHERE job_kind IN ('bench.0', 'bench.1', 'bench.2') AND run_id IS NOT NULL
          GROUP BY run_id) AS j
) AS gate
GROUP BY candidate_code
"""


def catalog() -> discovery.Catalog:
    dots = [
        {
            "code": f"PROC-CAND:dot:bench{i}",
            "source": "dot",
            "steps": [
                {"code": "DOT_BENCH_0", "role": "producer"},
                {"code": "DOT_BENCH_1", "role": "verifier"},
            ],
        }
        for i in range(DECLARED)
    ]
    job = {
        "code": "PROC-CAND:job:bench",
        "source": "job",
        "steps": [{"code": f"bench.{k}"} for k in range(3)],
    }
    return discovery.parse_catalog({"version": 1, "candidates": [*dots, job]})


def generate(db, components: int) -> None:
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        sizes = {
            "candidates": CANDIDATES,
            "runs": components // 2,
            "components": components,
            "jobs": components // 10,
        }
        for statement in (GENERATE_RUNS, GENERATE_COMPONENTS, GENERATE_JOBS):
            cur.execute(statement, sizes)
        raw.commit()
    finally:
        raw.close()
    vacuum_analyze(db)


def baseline(db) -> None:
    with db.read() as conn, analytical_settings(conn):
        conn.exec_driver_sql(BASELINE).all()


def scoring(db, cat) -> list:
    with db.begin() as conn:
        return discovery.score_candidates(conn, cat)


def measure(db, cat, repeats: int) -> dict[str, list[float]]:
    """Both paths ``repeats`` times, alternating, after one warm-up each."""
    scoring(db, cat)
    baseline(db)
    times: dict[str, list[float]] = {"raw": [], "api": []}
    for _ in range(repeats):
        result: dict[str, float] = {}
        with timed(result, "raw"):
            baseline(db)
        with timed(result, "api"):
            scoring(db, cat)
        for key in times:
            times[key].append(result[key])
    return times


def main() -> None:
    cli = parser(__doc__.splitlines()[0])
    cli.add_argument("--small", type=int, default=100_000, help="component rows, first size")
    cli.add_argument("--large", type=int, default=1_000_000, help="component rows, second size")
    cli.add_argument("--repeats", type=int, default=5)
    args = cli.parse_args()
    cat = catalog()
    best: dict[int, dict[str, float]] = {}
    lines = []
    for size in (args.small, args.large):
        with fresh_postgres(args.database_url, "discovery") as db:
            generate(db, size)
            times = measure(db, cat, args.repeats)
        best[size] = {key: min(values) for key, values in times.items()}
        ratio = best[size]["api"] / best[size]["raw"]
        for key, label in (("raw", "gate SQL"), ("api", "scoring")):
            lines.append(
                (
                    f"{size:>9,} components: {label}",
                    f"{best[size][key]:7.3f} s best, {statistics.median(times[key]):7.3f} s median",
                )
            )
        lines.append(
            (
                f"{size:>9,} components: ratio",
                f"{ratio:7.2f} x gate SQL  (goal <= 1.50: {'met' if ratio <= 1.5 else 'NOT met'})",
            )
        )
    rows = args.large / args.small
    growth = best[args.large]["api"] / best[args.small]["api"]
    gate_growth = best[args.large]["raw"] / best[args.small]["raw"]
    lines.append(
        (
            f"growth {args.small:,} -> {args.large:,}",
            f"{growth:7.2f} x time for {rows:.0f}x rows  (goal <= {1.2 * rows:.0f}: "
            f"{'met' if growth <= 1.2 * rows else 'NOT met'}; gate SQL: {gate_growth:.2f} x)",
        )
    )
    report(
        f"discovery: scoring vs the gate in one hand-written aggregate, best of {args.repeats} "
        "(PostgreSQL, both with the analytical settings)",
        lines,
    )


if __name__ == "__main__":
    main()
