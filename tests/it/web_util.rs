//! A real server on `127.0.0.1:0` and a tiny HTTP/1.1 client for the web tests.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use hallpass::testing::{FaultPlan, FaultyStore, ManualClock};
use hallpass::{App, Config, Engine, EngineConfig, MemStore, RawConfig, ServerLimits};

use crate::util::mem_engine;

/// The example's own filter, so the tests exercise exactly what it serves.
#[path = "../../examples/protected_service/api.rs"]
mod protected_service;

/// The `SECRET_KEY` test servers get unless a test sets one.
pub(crate) const TEST_SECRET_KEY: &str = "django-insecure-test-secret-key-for-hallpass-tests";

/// A running facade: its address, engine and clock, plus a protected resource API (`GET
/// /api/me` behind `web::authenticated`) at `api_addr`. Dropping it stops both servers.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    pub(crate) api_addr: SocketAddr,
    pub(crate) engine: Engine,
    pub(crate) clock: ManualClock,
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    stop_api: Option<tokio::sync::oneshot::Sender<()>>,
    /// The facade's `serve` task, to see it return after [`TestServer::stop`].
    served: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// Resolves the facade's shutdown future: `serve` stops accepting and drains.
    pub(crate) fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits up to `within` for the facade's `serve` to return; whether it did.
    pub(crate) fn wait_stopped(&mut self, within: std::time::Duration) -> bool {
        let (Some(runtime), Some(served)) = (self.runtime.as_ref(), self.served.take()) else {
            return false;
        };
        runtime.block_on(async { tokio::time::timeout(within, served).await.is_ok() })
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        for stop in [self.stop.take(), self.stop_api.take()]
            .into_iter()
            .flatten()
        {
            let _ = stop.send(());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(std::time::Duration::from_secs(5));
        }
    }
}

/// Starts the facade over a MemStore/ManualClock engine with these settings (`NAME`, value).
pub(crate) fn spawn_web(settings: &[(&str, &str)]) -> TestServer {
    spawn_web_on(settings, None, None)
}

/// As [`spawn_web`], with the store failing as `plan` says.
pub(crate) fn spawn_web_faulty(settings: &[(&str, &str)], plan: FaultPlan) -> TestServer {
    spawn_web_on(settings, Some(plan), None)
}

/// As [`spawn_web`], served by `serve_with` under `limits`.
pub(crate) fn spawn_web_with_limits(settings: &[(&str, &str)], limits: ServerLimits) -> TestServer {
    spawn_web_on(settings, None, Some(limits))
}

fn spawn_web_on(
    settings: &[(&str, &str)],
    plan: Option<FaultPlan>,
    limits: Option<ServerLimits>,
) -> TestServer {
    let mut raw = RawConfig::new();
    raw.set("SECRET_KEY", TEST_SECRET_KEY).unwrap();
    for (name, value) in settings {
        raw.set(name, *value).unwrap();
    }
    let config: Config = raw.validate().unwrap();
    let engine_config = EngineConfig {
        ..config.engine_config()
    };
    let (engine, clock) = match plan {
        None => {
            let (engine, _store, clock) = mem_engine(engine_config);
            (engine, clock)
        }
        Some(plan) => {
            let clock = ManualClock::new(crate::util::T0);
            let store = FaultyStore::new(MemStore::new(), plan);
            let (engine, _) = crate::util::open(store, &clock, engine_config);
            (engine, clock)
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Arc::new(App::new(engine.clone(), config).unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let served = match limits {
        None => runtime.spawn(hallpass::serve(listener, Arc::clone(&app), shutdown)),
        Some(limits) => runtime.spawn(hallpass::serve_with(
            listener,
            Arc::clone(&app),
            limits,
            shutdown,
        )),
    };
    let api_listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let api_addr = api_listener.local_addr().unwrap();
    let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
    runtime.spawn(
        warp::serve(protected_service::resource_api(app))
            .incoming(api_listener)
            .graceful(async move {
                let _ = api_stopped.await;
            })
            .run(),
    );
    TestServer {
        addr,
        api_addr,
        stop_api: Some(stop_api),
        engine,
        clock,
        runtime: Some(runtime),
        stop: Some(stop),
        served: Some(served),
    }
}

/// A parsed response.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts the envelope: HTTP status equals body status, and allauth's headers.
    pub(crate) fn assert_envelope(&self, status: u16) -> serde_json::Value {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        let json = self.json();
        assert_eq!(json["status"], status);
        assert_eq!(self.header("content-type"), Some("application/json"));
        assert_eq!(
            self.header("cache-control"),
            Some("max-age=0, no-cache, no-store, must-revalidate, private")
        );
        assert!(self.header("expires").is_some_and(|v| v.ends_with(" GMT")));
        json
    }
}

/// Sends one raw request (`Connection: close`) and parses the response.
pub(crate) fn raw_request(addr: SocketAddr, head: &str, body: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(body);
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    parse_response(&bytes)
}

/// Sends `method path` with `headers` and an optional body.
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Response {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() || method == "POST" || method == "DELETE" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let response = raw_request(addr, &head, body);
    record(method, path, &response);
    response
}

/// With `HALLPASS_RECORD_RESPONSES=FILE`, appends `{method, path, status, body}` as one JSON
/// line per response, for `tests/openapi/validate_responses.py` to check against allauth's
/// OpenAPI schemas (`.ci/run` does).
fn record(method: &str, path: &str, response: &Response) {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let Some(file) = std::env::var_os("HALLPASS_RECORD_RESPONSES") else {
        return;
    };
    let body: serde_json::Value =
        serde_json::from_slice(&response.body).unwrap_or(serde_json::Value::Null);
    let line = serde_json::json!({
        "method": method, "path": path, "status": response.status, "body": body,
    });
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .unwrap();
    writeln!(out, "{line}").unwrap();
}

/// Parses one whole response (head and body, chunked or not).
pub(crate) fn parse_response(bytes: &[u8]) -> Response {
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(bytes)));
    let head = std::str::from_utf8(&bytes[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = bytes[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
}

/// The address `hallpass serve` logs it listens on (`addr=127.0.0.1:PORT`), read from its
/// stderr lines; panics if the server exits first.
pub(crate) fn listening_addr(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
) -> SocketAddr {
    loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .expect("read the server's stderr");
        if let Some(at) = line.find("addr=127.0.0.1:") {
            let rest = &line[at + 5..];
            let end = rest.find(|c: char| c != '.' && c != ':' && !c.is_ascii_digit());
            return rest[..end.unwrap_or(rest.len())]
                .parse()
                .expect("a socket address");
        }
    }
}

/// A `hallpass serve` child on `127.0.0.1:0` over a throwaway data directory, its stderr
/// collected line by line; killed when dropped.
pub(crate) struct ServeChild {
    child: std::process::Child,
    pub(crate) addr: SocketAddr,
    log: Arc<std::sync::Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl ServeChild {
    /// Starts `hallpass serve` with `--set NAME=VALUE` for each of `settings` (and
    /// `HALLPASS_DURABILITY=none`); returns once it listens.
    pub(crate) fn start(settings: &[(&str, &str)]) -> ServeChild {
        use std::io::{BufRead, BufReader};
        let dir = tempfile::tempdir().unwrap();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hallpass"));
        command.args(["serve", "--bind", "127.0.0.1:0", "--data-dir"]);
        command.arg(dir.path());
        command.args(["--set", "HALLPASS_DURABILITY=none"]);
        for (name, value) in settings {
            command.arg("--set").arg(format!("{name}={value}"));
        }
        let mut child = command
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut addr = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            log.lock().unwrap().push(line.clone());
            if line.contains("listening") {
                addr = Some(listening_addr(&mut std::iter::once(Ok(line))));
                break;
            }
        }
        let addr = addr.unwrap_or_else(|| panic!("exited: {:?}", log.lock().unwrap()));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        ServeChild {
            child,
            addr,
            log,
            _dir: dir,
        }
    }

    /// The first log line containing `needle`, waiting up to 10 s for it.
    pub(crate) fn wait_for_log(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(line) = self.log.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no log line with {needle:?}: {:?}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// How many log lines so far contain `needle`.
    pub(crate) fn log_count(&self, needle: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
