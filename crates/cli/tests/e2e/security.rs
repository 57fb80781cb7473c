//! Privacy and security, end to end (docs/security.md): pseudonymised users and the KPIs
//! over them, TLS and bearer-token authentication of `actionlog serve` with the Python
//! OpenTelemetry SDK configured only through the standard OTEL_EXPORTER_OTLP_* variables,
//! bad security settings, the Kafka TLS/SASL pass-through, and a search for leaked secrets
//! in everything the real binary prints or writes.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::harness::{Launch, bin, python};

const TOKEN: &str = "tok-3f9a1c7e5b2d4a6f8e0c";
const PSEUDONYM_KEY: &str = "key-9d8c7b6a5f4e3d2c1b0a";
const SASL_PASSWORD: &str = "sasl-pw-71c2e9a4b8d3";

/// The pseudonym of `user`, computed here with the RustCrypto crates directly (not through
/// actionlog) from the formula in docs/security.md.
fn expected_pseudonym(key: &str, user: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).expect("hmac key");
    mac.update(user.trim().to_lowercase().as_bytes());
    format!("hmac:{}", const_hex::encode(mac.finalize().into_bytes()))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write test file");
    p
}

/// A test CA and a `localhost` server certificate it signed, generated for this test (a
/// self-signed leaf would fail the strict X.509 checks of current Python clients):
/// (CA cert, server cert, server key) paths.
fn test_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{
        BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
        KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "actionlog test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("CA cert");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("server key");
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    let cert = leaf.signed_by(&key, &issuer).expect("server cert");
    (
        write(dir, "ca.crt", &ca_cert.pem()),
        write(dir, "tls.crt", &cert.pem()),
        write(dir, "tls.key", &key.serialize_pem()),
    )
}

fn test_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let (_, cert, key) = test_pki(dir);
    (cert, key)
}

/// Runs tests/python/otlp_env_client.py: one action span per user, exported with the
/// SDK's own configuration from `env`. Returns whether every export succeeded.
fn python_export(protocol: &str, env: &[(&str, String)], users: &[&str]) -> bool {
    let script = Path::new(crate::harness::ROOT).join("tests/python/otlp_env_client.py");
    let mut cmd = Command::new(python());
    cmd.arg(script).arg(protocol).args(users);
    for k in [
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_INSECURE",
        // `requests` lets these override the exporter's own CA file (its `verify`).
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    ] {
        cmd.env_remove(k);
    }
    cmd.env("OTEL_EXPORTER_OTLP_TIMEOUT", "10");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the Python OTLP client");
    assert!(
        out.status.success(),
        "python client crashed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("client JSON: {e}: {}", String::from_utf8_lossy(&out.stdout)));
    doc["exported"].as_bool().expect("exported flag")
}

/// GET over HTTPS with Python's standard library, trusting `ca`: (status, body).
fn https_get(url: &str, ca: &Path) -> (u16, String) {
    let code = r#"
import ssl, sys, urllib.request, urllib.error
ctx = ssl.create_default_context(cafile=sys.argv[2])
try:
    r = urllib.request.urlopen(sys.argv[1], context=ctx, timeout=10)
    print(r.status); print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code); print(e.read().decode())
"#;
    let out = Command::new(python())
        .args(["-c", code, url])
        .arg(ca)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "https GET failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (status, body) = text.split_once('\n').expect("status line");
    (status.trim().parse().expect("status"), body.to_owned())
}

/// One plaintext HTTP/1.1 request; returns the raw answer.
fn raw_http(addr: SocketAddr, head: &str, body: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let req = format!(
        "{head}\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(req.as_bytes());
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    raw
}

fn metric(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(sample).and_then(|v| v.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().expect("metric value"))
}

fn plain_metrics(http: SocketAddr) -> String {
    let raw = raw_http(http, "GET /metrics HTTP/1.1", b"");
    let text = String::from_utf8_lossy(&raw).into_owned();
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "/metrics must stay open: {text}"
    );
    text
}

// ---- pseudonymisation --------------------------------------------------------------------

fn run_ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(bin())
        .args(args)
        .env_remove("ACTIONLOG_PSEUDONYM_KEY")
        .env_remove("ACTIONLOG_PSEUDONYM_KEY_FILE")
        .envs(env.iter().copied())
        .output()
        .expect("run actionlog");
    assert!(
        out.status.success(),
        "actionlog {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A KPI table's rows in a comparable form: e-mails replaced by `map`, floats rounded,
/// sorted (pseudonyms sort differently from e-mails).
fn canonical_rows(table: &Value, map: &dyn Fn(&str) -> String) -> Vec<String> {
    let mut rows: Vec<String> = table["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            let o = r.as_object().expect("row object");
            let cells: Vec<String> = o
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) if s.contains('@') => Value::String(map(s)).to_string(),
                        Value::Number(n) if n.is_f64() => {
                            format!("{:.9e}", n.as_f64().unwrap_or(0.0))
                        }
                        other => other.to_string(),
                    };
                    format!("{k}={v}")
                })
                .collect();
            cells.join("|")
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn pseudonymised_warehouse_gives_the_same_kpis_and_holds_no_clear_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (clear, pseudo) = (dir.path().join("clear"), dir.path().join("pseudo"));
    let employees = dir.path().join("employees.csv");
    let key_file = write(dir.path(), "pseudonym.key", &format!("{PSEUDONYM_KEY}\n"));
    let gen_args = ["generate", "--users", "15", "--days", "9", "--seed", "11"];
    let w = |p: &Path| p.to_str().expect("utf-8 path").to_owned();
    let mut a = gen_args.to_vec();
    let (c, e) = (w(&clear), w(&employees));
    a.extend([
        "--path",
        "real",
        "--warehouse",
        c.as_str(),
        "--employees-out",
        e.as_str(),
    ]);
    run_ok(&a, &[]);
    // The pseudonymised run takes the key from the environment, the KPI run from the flag.
    let mut a = gen_args.to_vec();
    let p = w(&pseudo);
    a.extend(["--path", "real", "--warehouse", p.as_str()]);
    run_ok(&a, &[("ACTIONLOG_PSEUDONYM_KEY", PSEUDONYM_KEY)]);

    let kpi = |wh: &str, extra: &[&str]| -> Value {
        let mut a = vec![
            "kpi",
            "--warehouse",
            wh,
            "--employees",
            e.as_str(),
            "--exclude-user",
            actionlog_cli::generate::SERVICE_ACCOUNT,
            "--min-role-headcount",
            "1",
            "--format",
            "json",
        ];
        a.extend(extra);
        serde_json::from_str(&run_ok(&a, &[])).expect("kpi JSON")
    };
    let kf = w(&key_file);
    let on_clear = kpi(&c, &[]);
    let on_pseudo = kpi(&p, &["--pseudonym-key-file", kf.as_str()]);

    let clear_kpis = on_clear["kpis"].as_object().expect("kpis");
    let pseudo_kpis = on_pseudo["kpis"].as_object().expect("kpis");
    assert_eq!(
        clear_kpis.keys().collect::<Vec<_>>(),
        pseudo_kpis.keys().collect::<Vec<_>>()
    );
    let to_pseudonym = |s: &str| expected_pseudonym(PSEUDONYM_KEY, s);
    let unchanged = |s: &str| s.to_owned();
    for (name, t) in clear_kpis {
        let want = canonical_rows(t, &to_pseudonym);
        let got = canonical_rows(&pseudo_kpis[name], &unchanged);
        assert_eq!(
            got, want,
            "KPI {name} differs on the pseudonymised warehouse"
        );
    }
    // The comparisons meant something: users were active, every role matched someone.
    let dau = canonical_rows(&clear_kpis["dau"], &unchanged);
    assert!(!dau.is_empty());
    let roles = &clear_kpis["users_per_role"]["rows"];
    assert!(
        roles
            .as_array()
            .expect("rows")
            .iter()
            .any(|r| r["role"] != "unknown" && r["active_users"].as_i64().unwrap_or(0) > 0),
        "{roles}"
    );
    assert!(
        clear_kpis["top_active_users"]["rows"]
            .to_string()
            .contains('@')
    );

    // No clear user is left in the pseudonymised Parquet files.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let counts = |wh: &Path| -> (i64, i64, i64) {
        rt.block_on(async {
            let ctx = datafusion::prelude::SessionContext::new();
            ctx.register_parquet(
                "a",
                &format!("{}/", wh.display()),
                datafusion::prelude::ParquetReadOptions::default(),
            )
            .await
            .expect("register parquet");
            let df = ctx
                .sql(
                    "SELECT CAST(COUNT(*) AS BIGINT), \
                     CAST(SUM(CASE WHEN \"user\" LIKE '%@%' OR user_norm LIKE '%@%' THEN 1 ELSE 0 END) AS BIGINT), \
                     CAST(SUM(CASE WHEN \"user\" IS NOT NULL AND trim(\"user\") <> '' AND \"user\" NOT LIKE 'hmac:%' THEN 1 ELSE 0 END) AS BIGINT) \
                     FROM a",
                )
                .await
                .expect("sql");
            let b = df.collect().await.expect("collect");
            let col = |i: usize| {
                b[0].column(i)
                    .as_any()
                    .downcast_ref::<arrow::array::Int64Array>()
                    .expect("int64")
                    .value(0)
            };
            (col(0), col(1), col(2))
        })
    };
    let (rows, with_at, clear_users) = counts(&clear);
    assert!(
        rows > 100 && with_at > 0 && clear_users > 0,
        "{rows} {with_at} {clear_users}"
    );
    let (rows_p, with_at, clear_users) = counts(&pseudo);
    assert_eq!(rows_p, rows);
    assert_eq!(with_at, 0, "clear e-mails left in user/user_norm");
    assert_eq!(clear_users, 0, "users that are not pseudonyms");
}

// ---- TLS and bearer tokens ---------------------------------------------------------------

#[test]
fn tls_receivers_serve_real_clients_with_the_token_and_refuse_plaintext() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, cert, key) = test_pki(dir.path());
    let key_file = write(dir.path(), "pseudonym.key", PSEUDONYM_KEY);
    let (c, k) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let mut bridge = Launch::new(&[
        "--tls-cert",
        c,
        "--tls-key",
        k,
        "--pseudonym-key-file",
        key_file.to_str().unwrap(),
    ])
    .in_dir(dir.path())
    .env(&[("ACTIONLOG_AUTH_TOKEN", TOKEN)])
    .ready_by_log_line()
    .rust_log("debug")
    .start();
    let sdk_env = |endpoint: String, token: &str| {
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            (
                "OTEL_EXPORTER_OTLP_CERTIFICATE",
                ca.to_str().unwrap().to_owned(),
            ),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                format!("authorization=Bearer {token}"),
            ),
        ]
    };
    let grpc_url = format!("https://localhost:{}", bridge.grpc.port());
    let http_url = format!("https://localhost:{}", bridge.http.port());
    assert!(python_export(
        "grpc",
        &sdk_env(grpc_url.clone(), TOKEN),
        &["Ada@Example.com"]
    ));
    assert!(python_export(
        "http",
        &sdk_env(http_url.clone(), TOKEN),
        &["bob@example.com"]
    ));
    // TLS is not authentication: a wrong token over a good TLS session is still refused.
    assert!(!python_export(
        "grpc",
        &sdk_env(grpc_url, "wrong-token-0123456789"),
        &["eve@example.com"]
    ));
    assert!(!python_export(
        "http",
        &sdk_env(http_url.clone(), "wrong-token-0123456789"),
        &["eve@example.com"]
    ));

    // A plaintext client on the TLS ports gets no answer, only a closed connection.
    let raw = raw_http(bridge.http, "GET /healthz HTTP/1.1", b"");
    assert!(
        !String::from_utf8_lossy(&raw).contains("HTTP/1.1"),
        "plaintext HTTP was answered on the TLS port"
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let grpc_plain = rt.block_on(async {
        let ep = format!("http://{}", bridge.grpc);
        tokio::time::timeout(Duration::from_secs(20), async move {
            let mut c = opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient::connect(ep).await?;
            c.export(opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::default())
                .await
                .map(|_| ())
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        })
        .await
    });
    assert!(
        matches!(grpc_plain, Ok(Err(_))),
        "plaintext gRPC must fail (not hang, not succeed): {grpc_plain:?}"
    );

    // Operational endpoints over TLS, without a token.
    let (st, _) = https_get(&format!("{http_url}/healthz"), &ca);
    assert_eq!(st, 200);
    let (st, metrics) = https_get(&format!("{http_url}/metrics"), &ca);
    assert_eq!(st, 200);
    assert_eq!(
        metric(
            &metrics,
            "actionlog_requests_unauthenticated_total{protocol=\"grpc\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &metrics,
            "actionlog_requests_unauthenticated_total{protocol=\"http\"}"
        ),
        1.0
    );
    let _ = bridge.terminate();

    // Exactly the two authenticated actions arrived, users pseudonymised.
    let got: BTreeMap<String, String> = bridge
        .actions()
        .into_iter()
        .map(|a| {
            (
                a.user.clone().unwrap_or_default(),
                a.command.unwrap_or_default(),
            )
        })
        .collect();
    let want: BTreeMap<String, String> = ["ada@example.com", "bob@example.com"]
        .iter()
        .map(|u| {
            (
                expected_pseudonym(PSEUDONYM_KEY, u),
                "_get_table_metadata".to_owned(),
            )
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn without_the_token_both_receivers_refuse_and_count_while_probes_stay_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = write(dir.path(), "token", &format!("{TOKEN}\n"));
    let bridge = Launch::new(&["--auth-token-file", token_file.to_str().unwrap()])
        .in_dir(dir.path())
        .ready_by_log_line()
        .rust_log("debug")
        .start();
    let grpc = format!("http://{}", bridge.grpc);
    let http = format!("http://{}", bridge.http);
    let env = |ep: &str, headers: Option<&str>| {
        let mut e = vec![("OTEL_EXPORTER_OTLP_ENDPOINT", ep.to_owned())];
        if let Some(h) = headers {
            e.push(("OTEL_EXPORTER_OTLP_HEADERS", h.to_owned()));
        }
        e
    };
    let good = format!("authorization=Bearer {TOKEN}");
    for ep in [&grpc, &http] {
        let protocol = if ep == &grpc { "grpc" } else { "http" };
        assert!(!python_export(protocol, &env(ep, None), &["x@example.com"]));
        assert!(!python_export(
            protocol,
            &env(ep, Some("authorization=Basic dXNlcjpwYXNz")),
            &["x@example.com"]
        ));
        assert!(python_export(
            protocol,
            &env(ep, Some(&good)),
            &[format!("{protocol}@example.com").as_str()]
        ));
    }

    // Raw HTTP without a token: 401, WWW-Authenticate, a google.rpc.Status JSON body.
    let raw = raw_http(
        bridge.http,
        "POST /v1/traces HTTP/1.1\r\nContent-Type: application/json",
        b"{}",
    );
    let text = String::from_utf8_lossy(&raw).into_owned();
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{text}"
    );
    let body: Value =
        serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap_or("")).expect("JSON body");
    assert_eq!(body["code"], 16);
    let health =
        String::from_utf8_lossy(&raw_http(bridge.http, "GET /healthz HTTP/1.1", b"")).into_owned();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");

    let m = plain_metrics(bridge.http);
    assert_eq!(
        metric(
            &m,
            "actionlog_requests_unauthenticated_total{protocol=\"grpc\"}"
        ),
        2.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            "actionlog_requests_unauthenticated_total{protocol=\"http\"}"
        ),
        3.0,
        "{m}"
    );
    let users: Vec<String> = bridge
        .actions()
        .into_iter()
        .filter_map(|a| a.user)
        .collect();
    assert_eq!(users.len(), 2, "only the authenticated exports landed");
    assert!(users.contains(&"grpc@example.com".to_owned()));
    assert!(users.contains(&"http@example.com".to_owned()));
}

// ---- bad settings ------------------------------------------------------------------------

fn serve_fails(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(["serve", "--print-config"]);
    cmd.args(args)
        .env_remove("ACTIONLOG_CONFIG")
        .envs(env.iter().copied());
    let out = cmd.output().expect("run actionlog serve");
    assert!(!out.status.success(), "{args:?} {env:?} should fail");
    out
}

#[test]
fn bad_keys_tokens_and_certificates_stop_the_bridge_with_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = test_cert(dir.path());
    let (_, other_key) = {
        let d = dir.path().join("other");
        std::fs::create_dir(&d).expect("mkdir");
        test_cert(&d)
    };
    let short = write(dir.path(), "short.key", "tiny");
    let empty = write(dir.path(), "empty.token", "\n");
    let garbage = write(dir.path(), "garbage.pem", "not a certificate\n");
    let p = |p: &Path| p.to_str().expect("utf-8").to_owned();
    // (arguments, environment, the message expected on stderr)
    type Case<'a> = (Vec<String>, Vec<(&'a str, String)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![
                "--pseudonym-key-file".into(),
                "/nonexistent/pseudonym.key".into(),
            ],
            vec![],
            "cannot read pseudonym key file /nonexistent/pseudonym.key",
        ),
        (
            vec!["--pseudonym-key-file".into(), p(&short)],
            vec![],
            "too short",
        ),
        (
            vec![],
            vec![
                ("ACTIONLOG_PSEUDONYM_KEY", PSEUDONYM_KEY.into()),
                ("ACTIONLOG_PSEUDONYM_KEY_FILE", p(&short)),
            ],
            "use one",
        ),
        (
            vec!["--auth-token-file".into(), p(&empty)],
            vec![],
            "bearer token from",
        ),
        (
            vec!["--auth-token-file".into(), "/nonexistent/token".into()],
            vec![],
            "cannot read bearer token file /nonexistent/token",
        ),
        (
            vec![],
            vec![("ACTIONLOG_TLS_CERT_FILE", p(&cert))],
            "TLS needs both",
        ),
        (
            vec![
                "--tls-cert".into(),
                p(&garbage),
                "--tls-key".into(),
                p(&key),
            ],
            vec![],
            "no CERTIFICATE block",
        ),
        (
            vec![
                "--tls-cert".into(),
                p(&cert),
                "--tls-key".into(),
                p(&garbage),
            ],
            vec![],
            "no usable PEM private key",
        ),
        (
            vec![
                "--tls-cert".into(),
                p(&cert),
                "--tls-key".into(),
                p(&other_key),
            ],
            vec![],
            "does not fit certificate",
        ),
    ];
    for (args, env, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = serve_fails(&args, &env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(want),
            "{args:?} {env:?}: want {want:?} in {err}"
        );
        assert!(!err.contains(PSEUDONYM_KEY), "{err}");
    }
}

// ---- Kafka over TLS and SASL -------------------------------------------------------------

#[cfg(feature = "kafka")]
fn kafka_config_toml(file_sink: &Path, sink_timeout_secs: f64) -> String {
    format!(
        r#"
[server]
sink_timeout_secs = {sink_timeout_secs}

[[sinks]]
type = "file"
path = "{}"

[[sinks]]
type = "kafka"
brokers = "127.0.0.1:9"
topic = "user_actions"
message_timeout_ms = 1000

[sinks.librdkafka_options]
"security.protocol" = "sasl_plaintext"
"sasl.mechanism" = "PLAIN"
"sasl.username" = "actionlog"
"sasl.password" = "{SASL_PASSWORD}"
"#,
        file_sink.display()
    )
}

#[cfg(feature = "kafka")]
#[test]
fn kafka_tls_and_sasl_settings_reach_librdkafka_and_the_password_is_masked() {
    use actionlog_bridge::config::{ServeConfig, SinkConfig};
    let text = r#"
[[sinks]]
type = "kafka"
brokers = "kafka-1:9093"
topic = "user_actions"

[sinks.librdkafka_options]
"security.protocol" = "sasl_ssl"
"sasl.mechanism" = "SCRAM-SHA-512"
"sasl.username" = "actionlog"
"sasl.password" = "s3cr3t-sasl-password"
"ssl.ca.location" = "/etc/ssl/certs/kafka-ca.pem"
"#;
    let cfg = ServeConfig::from_toml(text, Path::new("kafka.toml")).expect("parses");
    let SinkConfig::Kafka(k) = &cfg.sinks[0] else {
        panic!("a kafka sink: {:?}", cfg.sinks)
    };
    let client = k.producer_config().expect("producer config");
    for (key, value) in [
        ("security.protocol", "sasl_ssl"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.username", "actionlog"),
        ("sasl.password", "s3cr3t-sasl-password"),
        ("ssl.ca.location", "/etc/ssl/certs/kafka-ca.pem"),
    ] {
        assert_eq!(client.get(key), Some(value), "{key} reaches librdkafka");
    }

    // --print-config of the real binary shows the settings but not the password.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "bridge.toml", text);
    let out = Command::new(bin())
        .args(["serve", "--print-config", "--config"])
        .arg(&path)
        .env_remove("ACTIONLOG_CONFIG")
        .output()
        .expect("run");
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("sasl_ssl") && printed.contains("SCRAM-SHA-512"),
        "{printed}"
    );
    assert!(printed.contains("/etc/ssl/certs/kafka-ca.pem"), "{printed}");
    assert!(!printed.contains("s3cr3t-sasl-password"), "{printed}");
    assert!(printed.contains("[REDACTED]"), "{printed}");
}

// ---- no secret leaks ---------------------------------------------------------------------

/// Every file below `dir` but `except`, as text.
fn all_files_text(dir: &Path, except: &[&Path]) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if !except.contains(&p.as_path()) {
                let bytes = std::fs::read(&p).unwrap_or_default();
                out.push((p, String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
    }
    out
}

#[cfg(feature = "kafka")]
#[test]
fn no_secret_appears_in_anything_the_bridge_prints_or_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = write(dir.path(), "token", TOKEN);
    let key_file = write(dir.path(), "pseudonym.key", PSEUDONYM_KEY);
    let config = write(
        dir.path(),
        "bridge.toml",
        &kafka_config_toml(&dir.path().join("actions.pb"), 1.0),
    );
    let mut printed = Vec::new();
    let mut record = |o: Output| {
        printed.push(String::from_utf8_lossy(&o.stdout).into_owned());
        printed.push(String::from_utf8_lossy(&o.stderr).into_owned());
    };
    let run = |args: &[&str], env: &[(&str, &str)]| {
        Command::new(bin())
            .args(args)
            .env("RUST_LOG", "debug")
            .env_remove("ACTIONLOG_CONFIG")
            .envs(env.iter().copied())
            .output()
            .expect("run actionlog")
    };
    let (cfg, kf, tf) = (
        config.to_str().unwrap(),
        key_file.to_str().unwrap(),
        token_file.to_str().unwrap(),
    );
    // 1. --print-config, with the token and key both from files and from variables.
    let out = run(
        &[
            "serve",
            "--print-config",
            "--config",
            cfg,
            "--auth-token-file",
            tf,
            "--pseudonym-key-file",
            kf,
        ],
        &[],
    );
    assert!(out.status.success());
    record(out);
    let out = run(
        &["serve", "--print-config", "--config", cfg],
        &[
            ("ACTIONLOG_AUTH_TOKEN", TOKEN),
            ("ACTIONLOG_PSEUDONYM_KEY", PSEUDONYM_KEY),
        ],
    );
    assert!(out.status.success());
    record(out);
    // 2. Bad configurations next to the secrets: an ambiguous token, an unknown key, a
    // token under a key the schema does not have, a KPI run on a missing warehouse.
    let bad = write(
        dir.path(),
        "bad.toml",
        &format!(
            "{}\n[auth]\ntoken = \"{TOKEN}\"\n",
            kafka_config_toml(&dir.path().join("x.pb"), 1.0)
        ),
    );
    for (args, env) in [
        (
            vec!["serve", "--config", cfg, "--auth-token-file", tf],
            vec![("ACTIONLOG_AUTH_TOKEN", TOKEN)],
        ),
        (vec!["serve", "--config", bad.to_str().unwrap()], vec![]),
        (
            vec![
                "kpi",
                "--warehouse",
                "/nonexistent",
                "--pseudonym-key-file",
                kf,
            ],
            vec![],
        ),
    ] {
        let out = run(&args, &env);
        assert!(!out.status.success(), "{args:?} should fail");
        record(out);
    }
    // 3. A normal run at debug level: refused requests on both receivers, one accepted
    // request whose Kafka delivery fails (no broker), then SIGTERM.
    let mut bridge = Launch::new(&["--config", cfg, "--pseudonym-key-file", kf])
        .in_dir(dir.path())
        .env(&[("ACTIONLOG_AUTH_TOKEN", TOKEN)])
        .ready_by_log_line()
        .rust_log("debug")
        .start();
    let ep = format!("http://{}", bridge.grpc);
    assert!(!python_export(
        "grpc",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", ep.clone()),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=Bearer nearly-the-token".into()
            )
        ],
        &["leak@example.com"]
    ));
    let _ = raw_http(
        bridge.http,
        "POST /v1/traces HTTP/1.1\r\nContent-Type: application/json\r\nAuthorization: Bearer tok-3f9a1c7e5b2d4a6f8e0",
        b"{}",
    );
    let body = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"x","startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000005000000","attributes":[{"key":"action_log.command","value":{"stringValue":"_search"}},{"key":"enduser.id","value":{"stringValue":"ada@example.com"}}]}]}]}]}"#;
    let answer = raw_http(
        bridge.http,
        &format!(
            "POST /v1/traces HTTP/1.1\r\nContent-Type: application/json\r\nAuthorization: Bearer {TOKEN}"
        ),
        body.as_bytes(),
    );
    assert!(
        !String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 401"),
        "the right token is let in"
    );
    let _ = plain_metrics(bridge.http);
    let _ = bridge.terminate();

    // Everything printed, and every file written except the secret files themselves.
    let mut texts: Vec<(String, String)> = printed
        .into_iter()
        .enumerate()
        .map(|(i, t)| (format!("command output #{i}"), t))
        .collect();
    for (p, t) in all_files_text(dir.path(), &[&token_file, &key_file, &config, &bad]) {
        texts.push((p.display().to_string(), t));
    }
    assert!(
        texts
            .iter()
            .any(|(_, t)| t.contains("actionlog bridge listening")),
        "the debug log was captured"
    );
    for secret in [TOKEN, PSEUDONYM_KEY, SASL_PASSWORD] {
        for (what, text) in &texts {
            assert!(
                !text.contains(secret),
                "secret {secret:?} leaked in {what}:\n{text}"
            );
        }
    }
}
