"""Runs the KPI SQL files of kpis/ unchanged on DuckDB over the Parquet warehouse.

An independent second engine for the KPI definitions: it substitutes the same integer
placeholders, registers the same parameter tables and prints every KPI's columns and rows
as JSON, for tests/integration/duckdb.rs to compare with DataFusion's.

Usage: python kpi_duckdb.py PARAMS_JSON
  PARAMS_JSON: {"warehouse", "kpis_dir", "from_day", "to_day", "min_viewers",
                "min_role_headcount", "excluded_users": [...], "employees": path or null}
"""

import decimal
import json
import pathlib
import sys

import duckdb

VIEWS = ["post_execution", "repeated_span_ids", "post_actions", "qualifying", "active_days", "searches", "search_clicks", "edits", "left_out_by_day"]


def substitute(sql, p):
    values = {
        "from_day": p["from_day"],
        "to_day": p["to_day"],
        "lookback_day": p["from_day"] - 29,
        "min_viewers": p["min_viewers"],
        "min_role_headcount": p["min_role_headcount"],
    }
    for name, value in values.items():
        sql = sql.replace("{" + name + "}", str(int(value)))
    return sql


def plain(v):
    if isinstance(v, decimal.Decimal):
        return float(v)
    return v


def connect(p):
    """A DuckDB connection with `actions`, the parameter tables, `employees` (if given) and
    the views of kpis/views, as the KPI files expect them."""
    kpis = pathlib.Path(p["kpis_dir"])
    con = duckdb.connect()
    pattern = str(pathlib.Path(p["warehouse"]) / "dt=*" / "*.parquet")
    con.execute(
        f"CREATE VIEW actions AS SELECT * FROM read_parquet('{pattern}', hive_partitioning = false)"
    )
    con.execute(
        "CREATE TABLE window_days AS SELECT CAST(range AS INTEGER) AS day FROM range(?, ?)",
        [p["from_day"], p["to_day"]],
    )
    con.execute("CREATE TABLE excluded_users (user_norm VARCHAR)")
    for u in sorted({u.strip().lower() for u in p["excluded_users"] if u.strip()}):
        con.execute("INSERT INTO excluded_users VALUES (?)", [u])
    if p.get("employees"):
        con.execute(
            "CREATE VIEW employees AS SELECT CAST(email AS VARCHAR) AS email, "
            f"CAST(role AS VARCHAR) AS role FROM read_csv('{p['employees']}', header = true, all_varchar = true)"
        )
    for name in VIEWS:
        sql = substitute((kpis / "views" / f"{name}.sql").read_text(), p)
        con.execute(f"CREATE VIEW {name} AS {sql}")
    return con


def main():
    p = json.loads(pathlib.Path(sys.argv[1]).read_text())
    kpis = pathlib.Path(p["kpis_dir"])
    con = connect(p)
    out = {}
    for f in sorted(kpis.glob("*.sql")):
        if f.stem == "users_per_role" and not p.get("employees"):
            continue
        cur = con.execute(substitute(f.read_text(), p))
        columns = [d[0] for d in cur.description]
        rows = [[plain(v) for v in row] for row in cur.fetchall()]
        out[f.stem] = {"columns": columns, "rows": rows}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
