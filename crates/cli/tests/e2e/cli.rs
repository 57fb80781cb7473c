//! End-to-end tests of the `actionlog` binary.

use std::process::Command;

use actionlog::UserAction;
use actionlog::codec::encode_length_delimited;
use actionlog::proto::LongString;

use crate::harness::bin;

fn sample(i: i64) -> UserAction {
    UserAction {
        command: Some("_search_resources".into()),
        user: Some(format!("u{i}@example.com")),
        start_epoch_ms: Some(1_700_000_000_000 + i),
        keyword_args_json: Some(LongString::new(r#"{"search_term":"rides"}"#)),
        ..Default::default()
    }
}

#[test]
fn decode_prints_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.pb");
    let mut buf = Vec::new();
    for i in 0..3 {
        encode_length_delimited(&sample(i), &mut buf);
    }
    std::fs::write(&path, &buf).unwrap();
    let out = Command::new(bin())
        .arg("decode")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["user"], "u2@example.com");
    assert_eq!(lines[2]["start_epoch_ms"], 1_700_000_000_002_i64);
}

#[test]
fn decode_of_a_truncated_file_prints_good_records_then_names_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.pb");
    let mut buf = Vec::new();
    encode_length_delimited(&sample(0), &mut buf);
    let second_at = buf.len();
    encode_length_delimited(&sample(1), &mut buf);
    buf.truncate(buf.len() - 3);
    std::fs::write(&path, &buf).unwrap();
    let out = Command::new(bin())
        .arg("decode")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!("truncated record at byte offset {second_at}")),
        "{err}"
    );
}

#[test]
fn decode_of_garbage_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.pb");
    std::fs::write(&path, b"\x05\xff\xff\xff\xff\xff").unwrap();
    let out = Command::new(bin())
        .arg("decode")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("corrupt record at byte offset 0"), "{err}");

    let out = Command::new(bin())
        .arg("decode")
        .arg(dir.path().join("absent.pb"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("cannot open")
    );
}

#[test]
fn help_lists_the_subcommands() {
    let out = Command::new(bin()).arg("--help").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("decode") && text.contains("demo"), "{text}");
}
