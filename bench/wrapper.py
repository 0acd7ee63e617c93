"""DOT wrapper cost: a wrapped run of two steps against the same run written through the
ledger API and as minimal raw SQL (the paths of bench/ledger_write.py).

The wrapper records more than the other two paths: every step goes through step_started
and step_completed (14 history rows instead of 6), it checks the event gate for each of
the six process.* events a run causes (all types inactive here, the shipped state), reads
the dry-run switch, and commits six short transactions (open run, open and close each
step, close run) so the observed code never runs inside one. Goal: at most 2x the ledger
API's cost per run.
"""

from _common import alternating, fresh_postgres, parser, report
from ledger_write import via_api, via_raw_sql

from procobs_dagster import ledger


def via_wrapper(db, runs: int) -> None:
    for _ in range(runs):
        with ledger.observe_run(db, "PROC-CAND:bench:wrapper") as run:
            with run.step("DOT_EXTRACT", role="producer") as step:
                step.touched(10)
            with run.step("DOT_VALIDATE", role="verifier") as step:
                step.touched(10)


PATHS = {"raw": via_raw_sql, "api": via_api, "wrapper": via_wrapper}
GOAL = 2.0  # the wrapper's cost per run, in multiples of the ledger API's


def main() -> None:
    cli = parser(__doc__.splitlines()[0])
    cli.add_argument("--runs", type=int, default=500)
    args = cli.parse_args()
    runs = args.runs
    with fresh_postgres(args.database_url, "wrapper") as db:
        results = alternating(db, PATHS, runs, rounds=20, warm_up=20)
    versus_api = results["wrapper"] / results["api"]
    report(
        f"wrapper: {runs} runs x 2 steps (PostgreSQL, event types inactive)",
        [
            ("raw SQL", f"{runs / results['raw']:8.0f} runs/s  ({results['raw']:.2f} s)"),
            ("ledger API", f"{runs / results['api']:8.0f} runs/s  ({results['api']:.2f} s)"),
            (
                "DOT wrapper",
                f"{runs / results['wrapper']:8.0f} runs/s  ({results['wrapper']:.2f} s)",
            ),
            ("wrapper / raw", f"{results['wrapper'] / results['raw']:8.2f} x"),
            (
                "wrapper / API",
                f"{versus_api:8.2f} x  (goal <= {GOAL:.2f}: "
                f"{'met' if versus_api <= GOAL else 'NOT met'})",
            ),
        ],
    )


if __name__ == "__main__":
    main()
