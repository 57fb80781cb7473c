//! Replays the committed fuzz corpus (fuzz/corpus) and every input a fuzz run crashed on
//! (fuzz/regressions) through the very checks the fuzz targets run (fuzz/src/lib.rs), so
//! the normal suite keeps each fixed crash fixed without nightly or cargo-fuzz.

use std::path::{Path, PathBuf};

use crate::fuzz_checks as checks;

const TARGETS: [&str; 4] = ["otlp_proto", "otlp_json", "length_delimited", "kafka_value"];

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(crate::harness::ROOT).join("fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) {
            files.extend(entries.map(|e| e.expect("a readable directory entry").path()));
        }
    }
    files.sort();
    files
}

fn run(target: &str, data: &[u8]) {
    match target {
        "otlp_proto" => checks::check_otlp_body(false, data),
        "otlp_json" => checks::check_otlp_body(true, data),
        "length_delimited" => checks::check_length_delimited(data),
        "kafka_value" => checks::check_kafka_value(data),
        other => unreachable!("no fuzz target {other}"),
    }
}

#[test]
fn every_corpus_and_regression_input_passes_the_fuzz_checks() {
    for target in TARGETS {
        let files = inputs(target);
        // The seeds are committed: an empty list means the corpus went missing.
        assert!(
            files.len() >= 2,
            "{target}: only {} input(s) found",
            files.len()
        );
        for file in files {
            let data = std::fs::read(&file).expect("a readable corpus file");
            let outcome = std::panic::catch_unwind(|| run(target, &data));
            assert!(
                outcome.is_ok(),
                "{target}: {} fails the fuzz checks",
                file.display()
            );
        }
    }
}

#[test]
fn the_seeds_are_real_actions() {
    // The checks accept bad input silently by design; this makes sure the seeds reach the
    // deep paths (a decoded request with action spans, decodable records), not just errors.
    let seed = |path: &str| std::fs::read(Path::new(crate::harness::ROOT).join(path)).unwrap();
    let req = actionlog_bridge::http::decode_traces_body(
        false,
        &seed("fuzz/corpus/otlp_proto/seed-3-actions"),
    )
    .expect("valid OTLP/protobuf");
    assert_eq!(
        req.resource_spans[0].scope_spans[0].spans.len(),
        4,
        "3 action spans and one plain span"
    );
    let req = actionlog_bridge::http::decode_traces_body(
        true,
        &seed("fuzz/corpus/otlp_json/seed-3-actions"),
    )
    .expect("valid OTLP/JSON");
    assert_eq!(req.resource_spans[0].scope_spans[0].spans.len(), 4);
    let ld = seed("fuzz/corpus/length_delimited/seed-3-records");
    let records: Vec<_> = actionlog::codec::LengthDelimitedReader::new(ld.as_slice())
        .collect::<Result<_, _>>()
        .expect("the seed stream decodes");
    assert_eq!(records.len(), 3);
    assert_eq!(records[1].command.as_deref(), Some("_search_table"));
}
