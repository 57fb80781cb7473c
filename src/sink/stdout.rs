//! A sink that prints actions as JSON lines on standard output, for people watching.

use std::io::Write;

use async_trait::async_trait;

use super::{Durability, Sink, SinkError};
use crate::json::to_json_line;
use crate::proto::UserAction;

/// Prints each action as one line of JSON (see [`crate::json`]) on stdout.
#[derive(Debug, Default)]
pub struct StdoutSink;

#[async_trait]
impl Sink for StdoutSink {
    fn name(&self) -> &str {
        "stdout"
    }

    async fn write(&self, actions: &[UserAction]) -> Result<(), SinkError> {
        let mut text = String::with_capacity(actions.len() * 256);
        for a in actions {
            text.push_str(&to_json_line(a));
            text.push('\n');
        }
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|source| SinkError::Io {
                sink: "stdout".into(),
                source,
            })
    }

    /// Each batch is flushed to the reader of stdout before `write` returns.
    fn durability(&self) -> Durability {
        Durability::OnWrite
    }
}
