//! Configuration of the bridge service (`actionlog serve`).
//!
//! Four layers, later ones winning: **defaults < TOML file < environment variables < command
//! line flags**. The file is read with serde (unknown keys are errors, so a typo does not
//! silently fall back to a default); environment variables and flags override single keys;
//! see `docs/bridge.md` for the full table. Secrets (OTLP headers, which usually carry API
//! keys) are never printed: [`ServeConfig::to_redacted_toml`] masks them.
//!
//! Sinks are a tagged enum ([`SinkConfig`]) and [`build_sink`] turns the list into one
//! `Arc<dyn Sink>`, so a new sink kind (Kafka, the warehouse) is one variant and one match
//! arm.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use actionlog::convert::{ConvertOptions, DEFAULT_MAX_FIELD_BYTES};
use actionlog::sink::{FanoutSink, FileFormat, FileSink, NullSink, Sink, StdoutSink};

/// Default OTLP/gRPC listen address (loopback: the bridge is not exposed unless asked).
pub const DEFAULT_GRPC_ADDR: &str = "127.0.0.1:4317";
/// Default OTLP/HTTP listen address.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:4318";
/// Default largest accepted request body (after decompression): 4 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Default number of export requests processed at once before clients are told to back off.
pub const DEFAULT_MAX_INFLIGHT_REQUESTS: usize = 256;
/// The text printed in place of a secret: the one marker of [`actionlog::redact`].
pub use actionlog::redact::REDACTED;

/// Why the configuration could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML for this schema.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's complaint and where (line, column). The parser's own rendering
        /// quotes the offending line, which may hold a secret (a password next to a typo,
        /// a token under a misspelt key), so only its message is kept.
        message: String,
    },
    /// An environment variable has a value that does not parse.
    #[error("invalid value for environment variable {var}: {message}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// A key, token, certificate or private key could not be loaded (see `docs/security.md`).
    #[error(transparent)]
    Security(#[from] crate::SecurityError),
    /// A sink could not be created.
    #[error("cannot create sink {sink}: {message}")]
    Sink {
        /// The sink kind.
        sink: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// The effective configuration of `actionlog serve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// Receivers, limits and shutdown.
    pub server: ServerConfig,
    /// Span conversion settings.
    pub convert: ConvertConfig,
    /// Where non-action spans go.
    pub forward: ForwardConfig,
    /// Where converted actions go. Empty means one stdout sink.
    pub sinks: Vec<SinkConfig>,
    /// TLS for both receivers (see `docs/security.md`).
    pub tls: crate::tls::TlsConfig,
    /// Bearer-token authentication for both receivers (see `docs/security.md`).
    pub auth: crate::auth::AuthConfig,
    /// The durable mode's write-ahead spool (off unless `dir` is set; see `docs/faults.md`).
    pub spool: crate::spool::SpoolConfig,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            convert: ConvertConfig::default(),
            forward: ForwardConfig::default(),
            sinks: vec![SinkConfig::Stdout],
            tls: Default::default(),
            auth: Default::default(),
            spool: Default::default(),
        }
    }
}

/// The `[server]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// OTLP/gRPC listen address (`ACTIONLOG_GRPC_ADDR`, `--grpc-addr`).
    pub grpc_addr: SocketAddr,
    /// OTLP/HTTP listen address, also serving `/healthz`, `/readyz` and `/metrics`
    /// (`ACTIONLOG_HTTP_ADDR`, `--http-addr`).
    pub http_addr: SocketAddr,
    /// Largest request body accepted, in bytes, after decompression; larger requests get
    /// gRPC `RESOURCE_EXHAUSTED` / HTTP 413 (`ACTIONLOG_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// Export requests processed at once; beyond that clients get gRPC `UNAVAILABLE` /
    /// HTTP 429 with `Retry-After` (`ACTIONLOG_MAX_INFLIGHT_REQUESTS`).
    pub max_inflight_requests: usize,
    /// Time allowed for one sink write before the request is answered as retryable
    /// (`ACTIONLOG_SINK_TIMEOUT_SECS`).
    pub sink_timeout_secs: f64,
    /// On SIGTERM/SIGINT: time allowed to finish in-flight requests and flush the sinks
    /// (`ACTIONLOG_SHUTDOWN_TIMEOUT_SECS`).
    pub shutdown_timeout_secs: f64,
    /// Seconds sent in `Retry-After` with HTTP 503/429 answers.
    pub retry_after_secs: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            grpc_addr: parse_default_addr(DEFAULT_GRPC_ADDR, 4317),
            http_addr: parse_default_addr(DEFAULT_HTTP_ADDR, 4318),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_inflight_requests: DEFAULT_MAX_INFLIGHT_REQUESTS,
            sink_timeout_secs: 10.0,
            shutdown_timeout_secs: 20.0,
            retry_after_secs: 1,
        }
    }
}

fn parse_default_addr(s: &str, port: u16) -> SocketAddr {
    s.parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], port)))
}

impl ServerConfig {
    /// [`Self::sink_timeout_secs`] as a duration.
    pub fn sink_timeout(&self) -> Duration {
        secs(self.sink_timeout_secs)
    }
    /// [`Self::shutdown_timeout_secs`] as a duration.
    pub fn shutdown_timeout(&self) -> Duration {
        secs(self.shutdown_timeout_secs)
    }
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)
}

/// The `[convert]` table: [`ConvertOptions`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConvertConfig {
    /// See [`ConvertOptions::max_field_bytes`].
    pub max_field_bytes: usize,
    /// See [`ConvertOptions::validate_json`].
    pub validate_json: bool,
    /// Keys whose values are redacted in the JSON fields (case-insensitive substrings, see
    /// [`actionlog::redact`]); an empty list turns redaction off.
    pub redact_patterns: Vec<String>,
    /// File holding the key that turns users into pseudonyms (`ACTIONLOG_PSEUDONYM_KEY_FILE`,
    /// `--pseudonym-key-file`; the key itself may instead come from `ACTIONLOG_PSEUDONYM_KEY`).
    /// Unset: users are kept as they are. See [`actionlog::pseudonym`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pseudonym_key_file: Option<PathBuf>,
    /// The loaded key, resolved by [`ServeConfig::load`]; never read from or written to
    /// TOML.
    #[serde(skip)]
    pub pseudonymiser: Option<actionlog::pseudonym::Pseudonymiser>,
}

impl Default for ConvertConfig {
    fn default() -> Self {
        Self {
            max_field_bytes: DEFAULT_MAX_FIELD_BYTES,
            validate_json: true,
            redact_patterns: actionlog::redact::DEFAULT_PATTERNS
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            pseudonym_key_file: None,
            pseudonymiser: None,
        }
    }
}

impl From<&ConvertConfig> for ConvertOptions {
    fn from(c: &ConvertConfig) -> Self {
        ConvertOptions {
            max_field_bytes: c.max_field_bytes,
            validate_json: c.validate_json,
            redactor: actionlog::redact::Redactor::new(&c.redact_patterns),
            pseudonymiser: c.pseudonymiser.clone(),
        }
    }
}

/// The `[forward]` table.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForwardConfig {
    /// OTLP/gRPC endpoint (`http://host:4317`) that receives non-action spans unchanged;
    /// unset drops them (`ACTIONLOG_FORWARD_ENDPOINT`, `--forward-endpoint`).
    pub endpoint: Option<String>,
    /// Time allowed for one forward call.
    pub timeout_secs: Option<f64>,
}

/// One sink, selected by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SinkConfig {
    /// Length-delimited protobuf or JSON lines appended to a file.
    File {
        /// The file.
        path: PathBuf,
        /// `protobuf` (default) or `jsonl`.
        #[serde(default, with = "file_format")]
        format: FileFormat,
        /// fdatasync every batch before acknowledging it.
        #[serde(default)]
        sync: bool,
    },
    /// JSON lines on standard output.
    Stdout,
    /// Discards everything (for measuring the receive path alone).
    Null,
    /// Each action as an OTLP log record sent to a collector.
    OtlpLog(actionlog_otlp::OtlpLogConfig),
    /// UserAction protobuf on a Kafka topic (see `docs/kafka.md` for the keys).
    #[cfg(feature = "kafka")]
    Kafka(actionlog_kafka::KafkaSinkConfig),
    /// The embedded Parquet warehouse (see `docs/warehouse.md`).
    Warehouse {
        /// The warehouse directory (`dt=YYYY-MM-DD/` partitions below it).
        dir: PathBuf,
    },
}

impl SinkConfig {
    /// Masks secrets for printing.
    fn redacted(&self) -> Self {
        match self {
            SinkConfig::OtlpLog(c) => SinkConfig::OtlpLog(c.redacted()),
            #[cfg(feature = "kafka")]
            SinkConfig::Kafka(c) => {
                let mut c = c.clone();
                // Raw librdkafka settings carry SASL passwords, OAuth secrets and TLS keys.
                for (k, v) in c.librdkafka_options.iter_mut() {
                    let k = k.to_ascii_lowercase();
                    if ["password", "secret", "key", "token", "sasl.jaas"]
                        .iter()
                        .any(|p| k.contains(p))
                    {
                        *v = REDACTED.to_owned();
                    }
                }
                SinkConfig::Kafka(c)
            }
            other => other.clone(),
        }
    }
}

mod file_format {
    use serde::{Deserialize, Deserializer, Serializer};

    use actionlog::sink::FileFormat;

    pub(super) fn serialize<S: Serializer>(f: &FileFormat, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match f {
            FileFormat::Protobuf => "protobuf",
            FileFormat::Jsonl => "jsonl",
        })
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<FileFormat, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_file_format(&s).map_err(serde::de::Error::custom)
    }
}

/// Parses `protobuf` / `jsonl`.
pub fn parse_file_format(s: &str) -> Result<FileFormat, String> {
    match s {
        "protobuf" | "pb" => Ok(FileFormat::Protobuf),
        "jsonl" | "json" => Ok(FileFormat::Jsonl),
        other => Err(format!(
            "unknown file format {other:?} (expected protobuf or jsonl)"
        )),
    }
}

impl From<actionlog_otlp::EnvError> for ConfigError {
    fn from(e: actionlog_otlp::EnvError) -> Self {
        ConfigError::Env {
            var: e.var,
            message: e.message,
        }
    }
}

/// Single-key overrides from flags (or any other source), applied last.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `server.grpc_addr`.
    pub grpc_addr: Option<SocketAddr>,
    /// `server.http_addr`.
    pub http_addr: Option<SocketAddr>,
    /// `server.max_body_bytes`.
    pub max_body_bytes: Option<usize>,
    /// `server.shutdown_timeout_secs`.
    pub shutdown_timeout_secs: Option<f64>,
    /// `forward.endpoint`.
    pub forward_endpoint: Option<String>,
    /// When non-empty, replaces the whole sink list.
    pub sinks: Vec<SinkConfig>,
    /// `convert.pseudonym_key_file`.
    pub pseudonym_key_file: Option<PathBuf>,
    /// `tls.cert_file` and `tls.key_file`.
    pub tls: crate::tls::TlsConfig,
    /// `auth.token_file`.
    pub auth_token_file: Option<PathBuf>,
    /// `spool.dir` (durable mode).
    pub spool_dir: Option<PathBuf>,
    /// `spool.enabled = false` (memory mode).
    pub no_spool: bool,
}

impl ServeConfig {
    /// Parses a TOML document.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e: toml::de::Error| {
            let at = e.span().map(|s| {
                let before = &text[..s.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!(" (line {line}, column {column})")
            });
            ConfigError::Parse {
                path: path.to_path_buf(),
                message: format!("{}{}", e.message().trim_end(), at.unwrap_or_default()),
            }
        })
    }

    /// Defaults, then `file` if given, then the environment (read through `env`, so tests
    /// need not touch the process environment), then `flags`.
    pub fn load(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        flags: Overrides,
    ) -> Result<Self, ConfigError> {
        let mut cfg = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                Self::from_toml(&text, path)?
            }
            None => Self::default(),
        };
        cfg.apply_env(env)?;
        cfg.apply(flags);
        cfg.validate()?;
        cfg.resolve_spool();
        cfg.load_secrets(env)?;
        Ok(cfg)
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(
            env: &dyn Fn(&str) -> Option<String>,
            var: &str,
        ) -> Result<Option<T>, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            match env(var) {
                None => Ok(None),
                Some(v) if v.trim().is_empty() => Ok(None),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|e: T::Err| ConfigError::Env {
                        var: var.to_owned(),
                        message: e.to_string(),
                    }),
            }
        }
        let s = &mut self.server;
        if let Some(v) = parse(env, "ACTIONLOG_GRPC_ADDR")? {
            s.grpc_addr = v;
        }
        if let Some(v) = parse(env, "ACTIONLOG_HTTP_ADDR")? {
            s.http_addr = v;
        }
        if let Some(v) = parse(env, "ACTIONLOG_MAX_BODY_BYTES")? {
            s.max_body_bytes = v;
        }
        if let Some(v) = parse(env, "ACTIONLOG_MAX_INFLIGHT_REQUESTS")? {
            s.max_inflight_requests = v;
        }
        if let Some(v) = parse(env, "ACTIONLOG_SINK_TIMEOUT_SECS")? {
            s.sink_timeout_secs = v;
        }
        if let Some(v) = parse(env, "ACTIONLOG_SHUTDOWN_TIMEOUT_SECS")? {
            s.shutdown_timeout_secs = v;
        }
        if let Some(v) = parse::<PathBuf>(env, "ACTIONLOG_SPOOL_DIR")? {
            self.spool.dir = Some(v);
        }
        if let Some(v) = parse::<bool>(env, "ACTIONLOG_SPOOL_ENABLED")? {
            self.spool.enabled = Some(v);
        }
        if let Some(v) = parse::<String>(env, "ACTIONLOG_FORWARD_ENDPOINT")? {
            self.forward.endpoint = Some(v);
        }
        if let Some(v) = parse::<PathBuf>(env, actionlog::pseudonym::KEY_FILE_ENV)? {
            self.convert.pseudonym_key_file = Some(v);
        }
        self.tls.apply_env(env);
        self.auth.apply_env(env);
        for sink in &mut self.sinks {
            if let SinkConfig::OtlpLog(c) = sink {
                c.apply_env(env)?;
            }
        }
        Ok(())
    }

    fn apply(&mut self, o: Overrides) {
        let s = &mut self.server;
        if let Some(v) = o.grpc_addr {
            s.grpc_addr = v;
        }
        if let Some(v) = o.http_addr {
            s.http_addr = v;
        }
        if let Some(v) = o.max_body_bytes {
            s.max_body_bytes = v;
        }
        if let Some(v) = o.shutdown_timeout_secs {
            s.shutdown_timeout_secs = v;
        }
        if let Some(v) = o.forward_endpoint {
            self.forward.endpoint = Some(v);
        }
        if !o.sinks.is_empty() {
            self.sinks = o.sinks;
        }
        if let Some(v) = o.pseudonym_key_file {
            self.convert.pseudonym_key_file = Some(v);
        }
        self.tls.apply(o.tls);
        if let Some(v) = o.auth_token_file {
            self.auth.token_file = Some(v);
        }
        if let Some(v) = o.spool_dir {
            self.spool.dir = Some(v);
        }
        if o.no_spool {
            self.spool.enabled = Some(false);
        }
    }

    /// Loads the pseudonym key, the bearer token and the TLS certificate and key, so a bad
    /// one stops the service at start-up rather than at the first request.
    fn load_secrets(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        self.convert.pseudonymiser = actionlog::pseudonym::Pseudonymiser::from_sources(
            self.convert.pseudonym_key_file.as_deref(),
            env,
        )
        .map_err(crate::SecurityError::from)?;
        self.auth.load(env)?;
        self.tls.load()?;
        Ok(())
    }

    /// The durable mode by default for a warehouse: a spool in `DIR/_spool` unless one is
    /// configured or the spool is turned off.
    fn resolve_spool(&mut self) {
        if self.spool.dir.is_some() || self.spool.enabled == Some(false) {
            return;
        }
        self.spool.dir = self.sinks.iter().find_map(|s| match s {
            SinkConfig::Warehouse { dir } => Some(dir.join(crate::spool::WAREHOUSE_SPOOL_DIR)),
            _ => None,
        });
    }

    fn validate(&self) -> Result<(), ConfigError> {
        match (self.spool.enabled, &self.spool.dir) {
            (Some(false), Some(dir)) => {
                return Err(ConfigError::Invalid(format!(
                    "the spool is turned off (spool.enabled = false, --no-spool or \
                     ACTIONLOG_SPOOL_ENABLED=false) but a spool directory is set ({}): \
                     choose one",
                    dir.display()
                )));
            }
            (Some(true), None)
                if !self
                    .sinks
                    .iter()
                    .any(|s| matches!(s, SinkConfig::Warehouse { .. })) =>
            {
                return Err(ConfigError::Invalid(
                    "spool.enabled = true needs spool.dir (or --spool-dir, ACTIONLOG_SPOOL_DIR) \
                     unless a warehouse sink is configured"
                        .into(),
                ));
            }
            _ => {}
        }
        let s = &self.server;
        if s.max_body_bytes == 0 {
            return Err(ConfigError::Invalid(
                "server.max_body_bytes must be > 0".into(),
            ));
        }
        if s.max_inflight_requests == 0 {
            return Err(ConfigError::Invalid(
                "server.max_inflight_requests must be > 0".into(),
            ));
        }
        for (name, v) in [
            ("server.sink_timeout_secs", s.sink_timeout_secs),
            ("server.shutdown_timeout_secs", s.shutdown_timeout_secs),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(ConfigError::Invalid(format!(
                    "{name} must be a number of seconds >= 0"
                )));
            }
        }
        if self.sinks.is_empty() {
            return Err(ConfigError::Invalid("at least one sink is needed".into()));
        }
        Ok(())
    }

    /// The configuration as TOML with every secret replaced by [`REDACTED`].
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.sinks = self.sinks.iter().map(SinkConfig::redacted).collect();
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// Builds every configured sink, in order.
pub fn build_sinks(cfgs: &[SinkConfig]) -> Result<Vec<Arc<dyn Sink>>, ConfigError> {
    cfgs.iter().map(build_one_sink).collect()
}

/// Builds one sink from its configuration.
pub fn build_one_sink(cfg: &SinkConfig) -> Result<Arc<dyn Sink>, ConfigError> {
    Ok(match cfg {
        SinkConfig::File { path, format, sync } => Arc::new(
            FileSink::open(path, *format)
                .map_err(|e| ConfigError::Sink {
                    sink: "file",
                    message: format!("{}: {e}", path.display()),
                })?
                .with_sync(*sync),
        ),
        SinkConfig::Stdout => Arc::new(StdoutSink),
        SinkConfig::Null => Arc::new(NullSink::new()),
        #[cfg(feature = "kafka")]
        SinkConfig::Kafka(c) => Arc::new(actionlog_kafka::KafkaSink::new(c.clone()).map_err(
            |e| ConfigError::Sink {
                sink: "kafka",
                message: e.to_string(),
            },
        )?),
        SinkConfig::Warehouse { dir } => {
            Arc::new(actionlog_warehouse::WarehouseSink::open(dir).map_err(|e| {
                ConfigError::Sink {
                    sink: "warehouse",
                    message: format!("{}: {e}", dir.display()),
                }
            })?)
        }
        SinkConfig::OtlpLog(c) => {
            Arc::new(actionlog_otlp::OtlpLogSink::new(c.clone()).map_err(|e| {
                ConfigError::Sink {
                    sink: "otlp_log",
                    message: e.to_string(),
                }
            })?)
        }
    })
}

/// Builds the sink the bridge writes to: the only sink, or a [`FanoutSink`] over all.
pub fn build_sink(cfgs: &[SinkConfig]) -> Result<Arc<dyn Sink>, ConfigError> {
    let mut sinks = build_sinks(cfgs)?;
    match sinks.len() {
        0 => Err(ConfigError::Invalid("at least one sink is needed".into())),
        1 => Ok(sinks.remove(0)),
        _ => Ok(Arc::new(FanoutSink::new(sinks))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn a_warehouse_is_durable_by_default_and_memory_mode_is_explicit() {
        let none = |_: &str| None;
        let wh = || Overrides {
            sinks: vec![SinkConfig::Warehouse {
                dir: PathBuf::from("/data/wh"),
            }],
            ..Default::default()
        };
        let c = ServeConfig::load(None, &none, wh()).unwrap();
        assert_eq!(c.spool.dir, Some(PathBuf::from("/data/wh/_spool")));
        // A configured directory wins.
        let c = ServeConfig::load(
            None,
            &none,
            Overrides {
                spool_dir: Some("/fast/spool".into()),
                ..wh()
            },
        )
        .unwrap();
        assert_eq!(c.spool.dir, Some(PathBuf::from("/fast/spool")));
        // Memory mode, by flag or by environment.
        let c = ServeConfig::load(
            None,
            &none,
            Overrides {
                no_spool: true,
                ..wh()
            },
        )
        .unwrap();
        assert_eq!(c.spool.dir, None);
        let c = ServeConfig::load(None, &env_of(&[("ACTIONLOG_SPOOL_ENABLED", "false")]), wh())
            .unwrap();
        assert_eq!(c.spool.dir, None);
        // Other sinks keep memory mode unless a directory is given.
        let c = ServeConfig::load(None, &none, Overrides::default()).unwrap();
        assert_eq!(c.spool.dir, None);
        // Contradictions are refused with a message naming both.
        let e = ServeConfig::load(
            None,
            &none,
            Overrides {
                no_spool: true,
                spool_dir: Some("/s".into()),
                ..wh()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("turned off") && e.contains("/s"), "{e}");
        let e = ServeConfig::load(
            None,
            &env_of(&[("ACTIONLOG_SPOOL_ENABLED", "true")]),
            Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("needs spool.dir"), "{e}");
    }

    #[test]
    fn precedence_is_flags_then_env_then_file_then_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bridge.toml");
        std::fs::write(
            &path,
            r#"
[server]
grpc_addr = "0.0.0.0:5317"
http_addr = "0.0.0.0:5318"
max_body_bytes = 1000

[[sinks]]
type = "file"
path = "/tmp/a.pb"
"#,
        )
        .unwrap();
        let env = env_of(&[
            ("ACTIONLOG_HTTP_ADDR", "127.0.0.1:6318"),
            ("ACTIONLOG_MAX_BODY_BYTES", "2000"),
        ]);
        let flags = Overrides {
            max_body_bytes: Some(3000),
            ..Default::default()
        };
        let c = ServeConfig::load(Some(&path), &env, flags).unwrap();
        assert_eq!(c.server.grpc_addr.to_string(), "0.0.0.0:5317");
        assert_eq!(c.server.http_addr.to_string(), "127.0.0.1:6318");
        assert_eq!(c.server.max_body_bytes, 3000);
        assert_eq!(
            c.server.max_inflight_requests,
            DEFAULT_MAX_INFLIGHT_REQUESTS
        );
        assert!(matches!(
            &c.sinks[..],
            [SinkConfig::File {
                format: FileFormat::Protobuf,
                ..
            }]
        ));
    }

    #[test]
    fn defaults_bind_loopback_on_the_otlp_ports() {
        let c = ServeConfig::load(None, &|_| None, Overrides::default()).unwrap();
        assert_eq!(c.server.grpc_addr.to_string(), DEFAULT_GRPC_ADDR);
        assert_eq!(c.server.http_addr.to_string(), DEFAULT_HTTP_ADDR);
        assert_eq!(c.server.max_body_bytes, 4 * 1024 * 1024);
        assert_eq!(c.sinks, vec![SinkConfig::Stdout]);
    }

    #[test]
    fn unknown_keys_and_bad_env_values_are_errors() {
        let e = ServeConfig::from_toml("[server]\ngrpc_adr = \"x\"\n", Path::new("x.toml"))
            .unwrap_err();
        assert!(e.to_string().contains("grpc_adr"), "{e}");
        let env = env_of(&[("ACTIONLOG_GRPC_ADDR", "not an address")]);
        let e = ServeConfig::load(None, &env, Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("ACTIONLOG_GRPC_ADDR"), "{e}");
    }

    #[cfg(feature = "kafka")]
    #[test]
    fn kafka_sinks_parse_and_their_secret_options_are_masked() {
        let c = ServeConfig::from_toml(
            r#"
[[sinks]]
type = "kafka"
brokers = "kafka:9092"
topic = "user_actions"
librdkafka_options = { "sasl.password" = "hunter2", "client.id" = "bridge" }
"#,
            Path::new("k.toml"),
        )
        .unwrap();
        let text = c.to_redacted_toml();
        assert!(text.contains("type = \"kafka\""), "{text}");
        assert!(text.contains("client.id"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
