//! # actionlog-warehouse
//!
//! The embedded warehouse: `UserAction`s landed as zstd Parquet, Hive-partitioned by UTC
//! date (`DIR/dt=YYYY-MM-DD/part-*.parquet`), with the KPI dimensions parsed once at
//! landing. Any engine that reads Parquet (DataFusion here, DuckDB, Spark, Trino) reads the
//! same files. See `docs/warehouse.md`.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod dimensions;
mod layout;
mod schema;
mod sink;
mod writer;

use std::path::{Path, PathBuf};

pub use dimensions::{Dimensions, MS_PER_DAY, normalize_term, normalize_user, resource_argument};
pub use layout::{
    NULL_PARTITION, Partition, date_to_day, day_to_date, list_partitions, partition_name,
};
pub use schema::{RAW_COLUMNS, schema};
pub use sink::{FLUSH_EVERY, WarehouseSink};
pub use writer::{
    DEFAULT_MAX_FILE_AGE, DEFAULT_MAX_FILE_BYTES, DurableFile, WarehouseWriter, WriterStats,
};

/// Why a warehouse write failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WarehouseError {
    /// A file or directory operation failed.
    #[error("warehouse I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Encoding Parquet failed.
    #[error("warehouse Parquet error: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Building an Arrow batch failed.
    #[error("warehouse Arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

impl WarehouseError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
