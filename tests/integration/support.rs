//! Shared test plumbing: a real SDK pipeline (batch processor → UserActionExporter → file
//! sink) and the lock that serialises tests using process-global state (the tracer that
//! `#[action_log]` uses, callbacks, the user resolver).

use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use actionlog::sink::{Sink, SinkError};
use async_trait::async_trait;

use actionlog::codec::LengthDelimitedReader;
use actionlog::sink::{FileFormat, FileSink};
use actionlog::{UserAction, UserActionExporter};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

static GLOBAL: Mutex<()> = Mutex::new(());

/// Takes the global-state lock (survives a poisoned lock from a failed test).
pub fn global_lock() -> MutexGuard<'static, ()> {
    GLOBAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running pipeline whose actions end up in a temporary file.
pub struct Pipeline {
    pub provider: SdkTracerProvider,
    pub path: PathBuf,
    _dir: tempfile::TempDir,
    _lock: MutexGuard<'static, ()>,
}

impl Pipeline {
    /// Starts a pipeline and makes it the tracer of `#[action_log]`.
    pub fn start() -> Self {
        let lock = global_lock();
        actionlog::hooks::clear();
        actionlog::user::clear_user_resolver();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("actions.pb");
        let sink = Arc::new(FileSink::open(&path, FileFormat::Protobuf).unwrap());
        let exporter = UserActionExporter::builder()
            .with_sink(sink)
            .build()
            .unwrap();
        let provider = SdkTracerProvider::builder()
            .with_resource(
                Resource::builder()
                    .with_service_name("actionlog-tests")
                    .build(),
            )
            .with_batch_exporter(exporter)
            .build();
        actionlog::set_tracer_provider(&provider);
        Pipeline {
            provider,
            path,
            _dir: dir,
            _lock: lock,
        }
    }

    /// Shuts the pipeline down (flushing every span) and decodes what reached the file.
    pub fn finish(self) -> Vec<UserAction> {
        self.provider.shutdown().unwrap();
        actionlog::reset_tracer_provider();
        actionlog::hooks::clear();
        actionlog::user::clear_user_resolver();
        LengthDelimitedReader::new(File::open(&self.path).unwrap())
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    }
}

/// Current time in ms since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The keyword arguments of an action, parsed.
pub fn kwargs(a: &UserAction) -> serde_json::Value {
    serde_json::from_str(&a.keyword_args_json.as_ref().unwrap().value).unwrap()
}

/// The output of an action, parsed.
pub fn output(a: &UserAction) -> serde_json::Value {
    serde_json::from_str(&a.output.as_ref().unwrap().value).unwrap()
}

/// The single action with this command.
pub fn only<'a>(actions: &'a [UserAction], command: &str) -> &'a UserAction {
    let found: Vec<_> = actions
        .iter()
        .filter(|a| a.command.as_deref() == Some(command))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {command} action in {actions:#?}"
    );
    found[0]
}

/// The Python interpreter with the test packages (set by scripts/test.sh), or a clear
/// failure telling how to get one.
pub fn python() -> String {
    match std::env::var("ACTIONLOG_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => panic!(
            "ACTIONLOG_PYTHON is not set: run the suite with scripts/test.sh, which installs the \
             Python packages the independent-implementation tests need"
        ),
    }
}

/// A sink that keeps every action it receives, in order.
#[derive(Debug, Default)]
pub struct Collect(pub Mutex<Vec<UserAction>>);

#[async_trait]
impl Sink for Collect {
    fn name(&self) -> &str {
        "collect"
    }
    async fn write(&self, actions: &[UserAction]) -> Result<(), SinkError> {
        self.0.lock().unwrap().extend_from_slice(actions);
        Ok(())
    }
}
