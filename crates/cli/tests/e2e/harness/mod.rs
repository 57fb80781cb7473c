//! The end-to-end tests' one harness: the `actionlog` binary, free ports, a minimal HTTP
//! client, and the one way to start `actionlog serve` ([`Launch`] → [`Serve`]). Test modules
//! use this and `support`, never each other's helpers.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actionlog::UserAction;
use actionlog::codec::LengthDelimitedReader;

#[cfg(feature = "kafka")]
pub(crate) mod kafka;
pub(crate) mod otlp;

pub(crate) use crate::support::python;

/// The workspace root (where `tests/python`, `kpis/`, `collector-config/` live).
pub(crate) const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// A script of `tests/python/`.
pub(crate) fn python_script(name: &str) -> PathBuf {
    Path::new(ROOT).join("tests/python").join(name)
}

/// Path to the built `actionlog` binary.
pub(crate) fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_actionlog")
}

/// A loopback address whose port was free a moment ago (bound to port 0, then let go).
pub(crate) fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr")
}

/// A loopback port that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    free_addr().port()
}

/// Whether a server started on ports found free has exited because another process took
/// one in between: its harness then starts it again on new ports instead of failing.
pub(crate) fn lost_port_race(child: &mut Option<Child>, log: &Path) -> bool {
    matches!(child.as_mut().map(|c| c.try_wait()), Some(Ok(Some(_))))
        && std::fs::read_to_string(log).is_ok_and(|l| l.contains("Address already in use"))
}

/// Sends `sig` (`KILL`, `TERM`, `STOP`, ...) to `pid`.
pub(crate) fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(st.success(), "kill -{sig} {pid}");
}

/// Reads a length-delimited UserAction file (the file sink's format).
pub(crate) fn read_actions(path: &Path) -> Vec<UserAction> {
    let f = std::fs::File::open(path).expect("open sink file");
    LengthDelimitedReader::new(f)
        .map(|r| r.expect("sink file decodes"))
        .collect()
}

/// Gets a metric sample's value (0 when absent).
pub(crate) fn metric(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(sample).and_then(|v| v.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().expect("metric value"))
}

/// An HTTP response as [`http_request`] read it.
pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: Vec<u8>,
}

/// A minimal HTTP/1.1 client (one request per connection), so the tests send exactly the
/// bytes they mean to, broken ones included.
pub(crate) fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(req.as_bytes())?;
    // The server may answer (413) before reading the whole body and close: ignore that.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect::<BTreeMap<_, _>>();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t == "chunked")
    {
        body = dechunk(&body);
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 2 + n + 2..];
    }
}

/// How to start `actionlog serve`: the flags, and what the harness adds or waits for.
pub(crate) struct Launch<'a> {
    args: &'a [&'a str],
    env: &'a [(&'a str, &'a str)],
    addrs: Option<(SocketAddr, SocketAddr)>,
    dir: Option<&'a Path>,
    log: Option<&'a Path>,
    own_sinks: bool,
    ready_by_log_line: bool,
    rust_log: &'a str,
}

impl<'a> Launch<'a> {
    /// `actionlog serve ARGS` on free loopback ports, with a file sink in a temporary
    /// directory unless `ARGS` has `--file`, `--otlp-log-endpoint` or `--config`.
    pub(crate) fn new(args: &'a [&'a str]) -> Self {
        Self {
            args,
            env: &[],
            addrs: None,
            dir: None,
            log: None,
            own_sinks: false,
            ready_by_log_line: false,
            rust_log: "info",
        }
    }

    /// Extra environment variables for the server.
    pub(crate) fn env(mut self, env: &'a [(&'a str, &'a str)]) -> Self {
        self.env = env;
        self
    }

    /// Listen addresses the test chose (a restart on the same ports, or addresses a
    /// `--config` file names: then no address flags are added).
    pub(crate) fn addrs(mut self, grpc: SocketAddr, http: SocketAddr) -> Self {
        self.addrs = Some((grpc, http));
        self
    }

    /// The sink file and the log go to `dir` (kept after the server stops).
    pub(crate) fn in_dir(mut self, dir: &'a Path) -> Self {
        self.dir = Some(dir);
        self
    }

    /// The server's stderr goes to `log`.
    pub(crate) fn log(mut self, log: &'a Path) -> Self {
        self.log = Some(log);
        self
    }

    /// `ARGS` configure every sink: no file sink is added.
    pub(crate) fn own_sinks(mut self) -> Self {
        self.own_sinks = true;
        self
    }

    /// Ready when the log says "listening" (for TLS receivers, which the plaintext probe of
    /// `/readyz` cannot reach).
    pub(crate) fn ready_by_log_line(mut self) -> Self {
        self.ready_by_log_line = true;
        self
    }

    /// `RUST_LOG` of the server (default `info`).
    pub(crate) fn rust_log(mut self, level: &'a str) -> Self {
        self.rust_log = level;
        self
    }

    /// Starts the server and waits until it is ready. Ports the harness picked may be
    /// taken by another process before the server binds them: then it starts again on new
    /// ones (five times at most); ports the test chose are tried once.
    pub(crate) fn start(self) -> Serve {
        let tries = if self.addrs.is_none() { 5 } else { 1 };
        for _ in 0..tries {
            if let Some(s) = self.try_start() {
                return s;
            }
        }
        panic!("actionlog serve lost its free ports to other processes {tries} time(s)");
    }

    fn try_start(&self) -> Option<Serve> {
        static STARTS: AtomicU64 = AtomicU64::new(0);
        let (tmp, dir) = match self.dir {
            Some(d) => (None, d.to_path_buf()),
            None => {
                let t = tempfile::tempdir().expect("tempdir");
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let n = STARTS.fetch_add(1, Ordering::Relaxed);
        let out = dir.join("actions.pb");
        let log = self
            .log
            .map_or_else(|| dir.join(format!("bridge-{n}.log")), Path::to_path_buf);
        let (grpc, http) = self.addrs.unwrap_or_else(|| (free_addr(), free_addr()));
        let mut cmd = Command::new(bin());
        cmd.arg("serve");
        if self.addrs.is_none() {
            cmd.args(["--grpc-addr", &grpc.to_string()])
                .args(["--http-addr", &http.to_string()]);
        }
        // A `--file` flag would replace the sinks of a configuration file (flags win).
        let names_sinks = ["--otlp-log-endpoint", "--file", "--config"]
            .iter()
            .any(|f| self.args.contains(f));
        if !self.own_sinks && !names_sinks {
            cmd.arg("--file").arg(&out);
        }
        let child = cmd
            .args(self.args)
            .env("RUST_LOG", self.rust_log)
            .env_remove("ACTIONLOG_CONFIG")
            .envs(self.env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start actionlog serve");
        let mut s = Serve {
            child: Some(child),
            grpc,
            http,
            out,
            log,
            _dir: tmp,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let ready = if self.ready_by_log_line {
                s.log_text().contains("actionlog bridge listening")
            } else {
                http_request(s.http, "GET", "/readyz", &[], b"").is_ok_and(|r| r.status == 200)
                    && TcpStream::connect(s.grpc).is_ok()
            };
            if ready {
                return Some(s);
            }
            if lost_port_race(&mut s.child, &s.log) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("bridge did not become ready; log:\n{}", s.log_text());
    }
}

/// A running `actionlog serve` (killed on drop).
pub(crate) struct Serve {
    child: Option<Child>,
    pub(crate) grpc: SocketAddr,
    pub(crate) http: SocketAddr,
    /// The file sink's file (when the harness added it).
    pub(crate) out: PathBuf,
    log: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Serve {
    /// `Launch::new(args).start()`: the common case.
    pub(crate) fn start(args: &[&str]) -> Self {
        Launch::new(args).start()
    }

    /// The server's log so far.
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The actions in the file sink's file.
    pub(crate) fn actions(&self) -> Vec<UserAction> {
        read_actions(&self.out)
    }

    /// `GET /metrics`.
    pub(crate) fn metrics(&self) -> String {
        let r = http_request(self.http, "GET", "/metrics", &[], b"").expect("GET /metrics");
        assert_eq!(r.status, 200);
        String::from_utf8(r.body).expect("utf-8 metrics")
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("running")
    }

    /// Sends `sig` (`KILL`, `TERM`) and waits for the exit status.
    pub(crate) fn signal_and_wait(&mut self, sig: &str) -> ExitStatus {
        signal(self.pid(), sig);
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "bridge did not exit after SIG{sig}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then the exit status.
    pub(crate) fn terminate(&mut self) -> ExitStatus {
        self.signal_and_wait("TERM")
    }

    /// Resident set size of the server process, from /proc.
    pub(crate) fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("/proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
