//! `collector-config/`: every file parses, and the ports, endpoints and attribute names the
//! collector configurations use are the ones the bridge documents and implements.

use std::path::{Path, PathBuf};
use std::process::Command;

use actionlog::convention;
use actionlog_bridge::config::{DEFAULT_GRPC_ADDR, DEFAULT_HTTP_ADDR, ServeConfig, SinkConfig};
use actionlog_otlp::{DEFAULT_EVENT_NAME, LogProtocol};
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(crate::harness::ROOT).join("collector-config")
}

/// Parses a YAML file with PyYAML (an independent parser) and returns it as JSON.
fn yaml(path: &Path) -> Value {
    let python = std::env::var("ACTIONLOG_PYTHON").unwrap_or_else(|_| {
        panic!("ACTIONLOG_PYTHON is not set: run the tests through scripts/test.sh (it installs PyYAML)")
    });
    let out = Command::new(python)
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
        ])
        .arg(path)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{} does not parse: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from python")
}

fn port(addr: &str) -> &str {
    addr.rsplit(':').next().expect("port")
}

fn files(ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir())
        .expect("collector-config/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(ext))
        .collect();
    v.sort();
    v
}

#[test]
fn every_file_parses_and_is_explained_in_the_readme() {
    let readme = std::fs::read_to_string(dir().join("README.md")).expect("README.md");
    let docs = std::fs::read_to_string(dir().join("../docs/bridge.md")).expect("docs/bridge.md");
    for documented in [
        DEFAULT_GRPC_ADDR,
        DEFAULT_HTTP_ADDR,
        convention::COMMAND,
        DEFAULT_EVENT_NAME,
        "otlp_proto",
        "collector-config/",
    ] {
        assert!(
            docs.contains(documented),
            "docs/bridge.md does not document {documented}"
        );
    }
    let yamls = files(".yaml");
    assert_eq!(yamls.len(), 2, "{yamls:?}");
    for f in yamls.iter().chain(files(".toml").iter()) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(readme.contains(&name), "README.md does not explain {name}");
    }
    for f in &yamls {
        let doc = yaml(f);
        // Every exporter and processor a pipeline names is defined.
        for (_, p) in doc["service"]["pipelines"].as_object().expect("pipelines") {
            for kind in ["receivers", "processors", "exporters"] {
                for name in p[kind].as_array().into_iter().flatten() {
                    let name = name.as_str().unwrap();
                    assert!(
                        doc[kind].get(name).is_some(),
                        "{}: {kind} {name} undefined",
                        f.display()
                    );
                }
            }
        }
    }
    for f in files(".toml") {
        let text = std::fs::read_to_string(&f).unwrap();
        ServeConfig::from_toml(&text, &f).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn apps_to_collector_to_bridge_filters_on_the_command_and_the_event_name_and_targets_the_bridge_port()
 {
    let doc = yaml(&dir().join("apps-to-collector-to-bridge.yaml"));
    let filter = &doc["processors"]["filter/action_spans_only"]["traces"]["span"][0];
    assert_eq!(
        filter.as_str().unwrap(),
        format!("attributes[\"{}\"] == nil", convention::COMMAND)
    );
    let bridge = doc["exporters"]["otlp/actionlog_bridge"]["endpoint"]
        .as_str()
        .unwrap();
    assert_eq!(
        port(bridge),
        port(DEFAULT_GRPC_ADDR),
        "the bridge's documented gRPC port"
    );
    let recv = &doc["receivers"]["otlp"]["protocols"];
    assert_eq!(
        port(recv["grpc"]["endpoint"].as_str().unwrap()),
        port(DEFAULT_GRPC_ADDR)
    );
    assert_eq!(
        port(recv["http"]["endpoint"].as_str().unwrap()),
        port(DEFAULT_HTTP_ADDR)
    );
    let actions = &doc["service"]["pipelines"]["traces/actions"];
    assert_eq!(
        actions["exporters"],
        serde_json::json!(["otlp/actionlog_bridge"])
    );
    assert_eq!(actions["processors"][0], "filter/action_spans_only");
    // The logs pipeline keeps exactly the records the bridge converts: named as the
    // convention names an action event.
    let filter = &doc["processors"]["filter/action_events_only"]["logs"]["log_record"][0];
    assert_eq!(
        filter.as_str().unwrap(),
        format!("event_name != \"{}\"", convention::EVENT_NAME)
    );
    let events = &doc["service"]["pipelines"]["logs/actions"];
    assert_eq!(
        events["exporters"],
        serde_json::json!(["otlp/actionlog_bridge"])
    );
    assert_eq!(events["processors"][0], "filter/action_events_only");
}

#[test]
fn bridge_to_collector_matches_the_bridge_sink_configuration() {
    let doc = yaml(&dir().join("bridge-to-collector.yaml"));
    let path = dir().join("bridge-to-collector.bridge.toml");
    let cfg = ServeConfig::from_toml(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
    let [SinkConfig::OtlpLog(sink)] = &cfg.sinks[..] else {
        panic!("one otlp_log sink expected: {:?}", cfg.sinks);
    };
    assert_eq!(sink.protocol, Some(LogProtocol::Grpc));
    assert_eq!(sink.event_name, DEFAULT_EVENT_NAME);
    let grpc = doc["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
        .as_str()
        .unwrap();
    assert_eq!(port(sink.endpoint.as_deref().unwrap()), port(grpc));
    assert_eq!(doc["exporters"]["kafka"]["logs"]["encoding"], "otlp_proto");
    assert!(doc["exporters"]["file"]["path"].is_string());
    let filter = &doc["processors"]["filter/user_actions_only"]["logs"]["log_record"][0];
    assert_eq!(
        filter.as_str().unwrap(),
        format!("attributes[\"{}\"] == nil", convention::COMMAND)
    );
    let p = &doc["service"]["pipelines"]["logs/user_actions"];
    assert_eq!(p["exporters"], serde_json::json!(["kafka", "file"]));
}
