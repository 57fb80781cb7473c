mod duckdb;
mod generate;
mod kpi;
