#!/usr/bin/env python3
"""Runs actionlog's KPI SQL on Apache Spark SQL and writes the results for `actionlog kpi --results`.

The SQL is the script `actionlog kpi --print-sql` prints: the kpis/ files unchanged but for
their placeholders, in run order, each statement after a marker line. This driver defines
the two tables the script expects, `actions` (the warehouse's Parquet files, read
recursively below the warehouse path, so dt=YYYY-MM-DD/ directories and any URL Spark reads
work: a local path, hdfs://, s3a://) and, when the script has `users_per_role`,
`employees(email, role)`; then it runs every statement and collects the rows of the KPIs.

    actionlog kpi --warehouse WH --print-sql --out kpis.sql
    spark-submit scripts/kpis-on-spark.py --sql kpis.sql --warehouse WH --out results.json
    actionlog kpi --results results.json --format html --out report.html

Without spark-submit, `python3 scripts/kpis-on-spark.py ...` works where `pyspark` is
installed (pip install pyspark; Java 17 or later), on `--master local[*]` unless told.
See docs/scale.md.
"""

import argparse
import datetime
import decimal
import json
import math
import pathlib
import sys

MARKERS = ("-- table: ", "-- view: ", "-- kpi: ")
MATERIALISE = "-- materialise: "
PARAMS_MARKER = "-- actionlog-params: "


def blocks(script):
    """The script's statements as (kind, name, sql), in order, and its parameters."""
    params, out = None, []
    for line in script.splitlines():
        if line.startswith(PARAMS_MARKER):
            params = json.loads(line[len(PARAMS_MARKER):])
            continue
        marker = next((m for m in MARKERS if line.startswith(m)), None)
        if line.startswith(MATERIALISE):
            # Every KPI reads it: computed once here, as actionlog's own engine does.
            out.append(["materialise", line[len(MATERIALISE):].strip(), []])
        elif marker:
            out.append([marker[3:-2], line[len(marker):].strip(), []])
        elif out:
            out[-1][2].append(line)
    if params is None:
        sys.exit("kpis-on-spark: the SQL has no actionlog-params line: is it the output of `actionlog kpi --print-sql`?")
    statements = []
    for kind, name, lines in out:
        sql = "\n".join(lines).strip()
        if sql.endswith(";"):
            sql = sql[:-1]
        statements.append((kind, name, sql))
    return params, statements


def plain(v):
    """A Spark value as the JSON the report reads (as actionlog's own engine gives it)."""
    if isinstance(v, decimal.Decimal):
        v = float(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sql", required=True, help="the output of `actionlog kpi --print-sql`")
    ap.add_argument("--warehouse", required=True, help="the warehouse directory or URL (dt=YYYY-MM-DD/*.parquet)")
    ap.add_argument("--employees", help="employee table, CSV with a header or Parquet, with email and role columns")
    ap.add_argument("--out", required=True, help="where to write the results JSON")
    ap.add_argument("--master", help="Spark master (default: spark-submit's, else local[*])")
    ap.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="a Spark setting; repeatable")
    a = ap.parse_args()

    params, statements = blocks(pathlib.Path(a.sql).read_text())
    needs_employees = any(kind == "kpi" and name == "users_per_role" for kind, name, _ in statements)
    if needs_employees and not a.employees:
        sys.exit("kpis-on-spark: the SQL has users_per_role: give --employees (or print the SQL without --employees)")

    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("actionlog-kpis")
    if a.master:
        builder = builder.master(a.master)
    for kv in a.conf:
        key, sep, value = kv.partition("=")
        if not sep:
            sys.exit(f"kpis-on-spark: --conf {kv!r}: expected KEY=VALUE")
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    cached = []
    try:
        # Files whose names start with `_` or `.` (in-progress writes) are skipped by Spark.
        actions = (
            spark.read.option("recursiveFileLookup", "true")
            .option("pathGlobFilter", "*.parquet")
            .parquet(a.warehouse)
        )
        actions.createOrReplaceTempView("actions")
        if needs_employees:
            reader = spark.read
            if a.employees.lower().endswith(".parquet"):
                raw = reader.parquet(a.employees)
            else:
                raw = reader.option("header", "true").csv(a.employees)
            missing = [c for c in ("email", "role") if c not in raw.columns]
            if missing:
                sys.exit(f"kpis-on-spark: employee file {a.employees}: missing column(s) {', '.join(missing)}")
            raw.createOrReplaceTempView("employees_raw")
            spark.sql(
                "CREATE OR REPLACE TEMPORARY VIEW employees AS SELECT CAST(email AS STRING) AS email, "
                "CAST(role AS STRING) AS role FROM employees_raw"
            )
        kpis = {}
        for kind, name, sql in statements:
            if kind == "materialise":
                spark.sql(f"CACHE TABLE {name}")
                cached.append(name)
                continue
            df = spark.sql(sql)
            if kind == "kpi":
                rows = [[plain(v) for v in row] for row in df.collect()]
                kpis[name] = {"columns": df.columns, "rows": rows}
        out = {"engine": f"Apache Spark {spark.version}", "params": params, "kpis": kpis}
        pathlib.Path(a.out).write_text(json.dumps(out))
        print(f"kpis-on-spark: {len(kpis)} KPI(s) on Apache Spark {spark.version}: wrote {a.out}", file=sys.stderr)
    finally:
        for name in cached:
            spark.catalog.uncacheTable(name)
        spark.stop()


if __name__ == "__main__":
    main()
