
mod kpi;
mod duckdb;
