"""Seconds per step of the KPI SQL on DuckDB (reference for docs/benchmarks.md, issue 21).

The same kpis/ files, set up as tests/python/kpi_duckdb.py sets them up, with the views
that actionlog's embedded engine materialises (`MATERIALISED` in crates/kpi/src/engine.rs)
copied into temporary tables first, in the same order, so that each KPI reads what it
reads there. `post_actions` stays a view: a copy holds every column of every record
(tens of GB at 100M events), while actionlog holds only the columns read after it.

Prints one JSON object on stdout: each view copied and each KPI, with its seconds, and
"total" (setup included).

Usage: kpi_steps_duckdb.py PARAMS_JSON MEMORY_LIMIT TEMP_DIR
  PARAMS_JSON   as for tests/python/kpi_duckdb.py (benches/kpi.sh writes one per size)
  MEMORY_LIMIT  DuckDB's memory_limit, e.g. 6GB; it runs on 2 threads and spills to TEMP_DIR
"""

import json
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests" / "python"))
from kpi_duckdb import VIEWS, connect, substitute  # noqa: E402

MATERIALISED = ["repeated_span_ids", "active_days", "searches", "search_clicks", "edits", "left_out_by_day"]


def main():
    params_path, memory_limit, temp_dir = sys.argv[1:4]
    started = time.perf_counter()
    p = json.loads(pathlib.Path(params_path).read_text())
    con = connect(p)
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute("SET threads = 2")
    con.execute(f"SET temp_directory = '{temp_dir}'")
    # As actionlog's engine, which does not keep the order of rows it groups.
    con.execute("SET preserve_insertion_order = false")
    seconds = {}
    # DuckDB binds a view's names when a query runs, so the views that read a copied one
    # read its table from then on.
    for name in (v for v in VIEWS if v in MATERIALISED):
        t = time.perf_counter()
        con.execute(f"CREATE TEMP TABLE copy_of_{name} AS SELECT * FROM {name}")
        con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM copy_of_{name}")
        seconds[name] = time.perf_counter() - t
    for f in sorted(pathlib.Path(p["kpis_dir"]).glob("*.sql")):
        if f.stem == "users_per_role" and not p.get("employees"):
            continue
        t = time.perf_counter()
        con.execute(substitute(f.read_text(), p)).fetchall()
        seconds[f.stem] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - started
    print(json.dumps({k: round(v, 2) for k, v in seconds.items()}))


if __name__ == "__main__":
    main()
