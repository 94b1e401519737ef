//! HTTP timeouts and the connection cap (`ServerLimits`, `serve_with`): a client slow to send
//! its head or body, or a kept-alive connection left idle, is cut off; crowds of idle or slow
//! connections never keep a normal request waiting; shutdown still lets requests in progress
//! finish.
//!
//! Before `serve` owned its accept loop (warp 0.4's server: no timer, no cap), the stalled
//! clients here were never disconnected, shutdown waited forever on a partial head, and under
//! `ulimit -n 1024` 2,000 idle connections used up the server's descriptors, so that a normal
//! request was never answered. (In process, where the test's limit is high, warp held 2,000
//! idle connections too: that test guards against the cap or the timers slowing requests.)

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hallpass::ServerLimits;
use serde_json::json;

use crate::web_util::{Response, parse_response, spawn_web, spawn_web_with_limits};

const CONFIG: &str = "/_allauth/app/v1/config";

/// Short timeouts so that the tests take seconds: header 500 ms, body 500 ms, idle 1.5 s.
fn short() -> ServerLimits {
    ServerLimits::default()
        .with_header_read_timeout(Duration::from_millis(500))
        .with_body_read_timeout(Duration::from_millis(500))
        .with_idle_timeout(Duration::from_millis(1500))
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Reads until the server closes the connection (EOF or reset): what arrived, and how long
/// after `since` the close came. Panics if the connection is still open after 10 s.
fn read_until_closed(stream: &mut TcpStream, since: Instant) -> (Vec<u8>, Duration) {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("still open {:?} after the start", since.elapsed())
            }
            Err(_) => break,
        }
    }
    (bytes, since.elapsed())
}

/// Whether the server still holds `stream` open (nothing to read, no EOF, no reset).
fn is_open(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1];
    let open = matches!((&*stream).read(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock);
    stream.set_nonblocking(false).unwrap();
    open
}

fn assert_closed_near(what: &str, after: Duration, timeout: Duration) {
    assert!(
        after + Duration::from_millis(100) >= timeout && after < timeout + Duration::from_secs(2),
        "{what}: closed after {after:?}, timeout {timeout:?}"
    );
}

/// Sends a keep-alive `GET /config` on `stream` and reads exactly its response.
fn get_kept_alive(stream: &mut TcpStream) -> Response {
    stream
        .write_all(format!("GET {CONFIG} HTTP/1.1\r\nHost: hallpass\r\n\r\n").as_bytes())
        .unwrap();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .expect("a Content-Length")
                .trim()
                .parse()
                .unwrap();
            if bytes.len() >= end + 4 + length {
                assert_eq!(bytes.len(), end + 4 + length, "one response");
                return parse_response(&bytes);
            }
        }
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed mid-response");
        bytes.extend_from_slice(&buf[..n]);
    }
}

/// One `GET /config` on a new connection: its latency, or `None` if it was not answered 200
/// within 5 s (connect included).
fn timed_get(addr: SocketAddr) -> Option<Duration> {
    let started = Instant::now();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let head = format!("GET {CONFIG} HTTP/1.1\r\nHost: hallpass\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).ok()?;
    let elapsed = started.elapsed();
    (bytes.starts_with(b"HTTP/1.1 200")).then_some(elapsed)
}

/// The best of three [`timed_get`]s: on a shared, noisy machine one slow sample is not the
/// server's doing.
fn best_of_three(addr: SocketAddr) -> Option<Duration> {
    (0..3).filter_map(|_| timed_get(addr)).min()
}

/// Writes a request head and the first 10 of a declared 100 body bytes.
fn start_slow_body(addr: SocketAddr) -> TcpStream {
    let mut stream = connect(addr);
    stream
        .write_all(
            b"POST /_allauth/app/v1/auth/signup HTTP/1.1\r\nHost: hallpass\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":\"",
        )
        .unwrap();
    stream
}

#[test]
fn a_partial_head_is_cut_off_at_the_header_timeout() {
    let limits = short();
    let server = spawn_web_with_limits(&[], limits);
    let started = Instant::now();
    let mut stalled = connect(server.addr);
    stalled
        .write_all(format!("GET {CONFIG} HTTP/1.1\r\nHost: hallpass\r\n").as_bytes())
        .unwrap();
    let mut silent = connect(server.addr);
    // Activity does not extend the header deadline: one byte every 50 ms is still too slow.
    let mut trickling = connect(server.addr);
    let mut writer = trickling.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        let head = format!("GET {CONFIG} HTTP/1.1\r\nHost: hallpass\r\nX-Slow: ");
        for byte in head.bytes().chain(std::iter::repeat(b'a')).take(200) {
            if writer.write_all(&[byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    for (what, stream) in [
        ("a stalled head", &mut stalled),
        ("a connection sending nothing", &mut silent),
        ("a head sent a byte at a time", &mut trickling),
    ] {
        let (bytes, after) = read_until_closed(stream, started);
        assert!(
            bytes.is_empty(),
            "{what}: no response, got {:?}",
            String::from_utf8_lossy(&bytes)
        );
        assert_closed_near(what, after, limits.header_read_timeout());
    }
    trickle.join().unwrap();
}

#[test]
fn a_stalled_body_gets_the_408_envelope_at_the_body_timeout() {
    let limits = short();
    let server = spawn_web_with_limits(&[], limits);
    let started = Instant::now();
    let mut stream = start_slow_body(server.addr);
    let (bytes, after) = read_until_closed(&mut stream, started);
    let response = parse_response(&bytes);
    let body = response.assert_envelope(408);
    assert_eq!(
        body,
        json!({"status": 408, "errors": [{"message": "Request timeout.", "code": "timeout"}]})
    );
    assert_eq!(response.header("connection"), Some("close"));
    assert_closed_near("a stalled body", after, limits.body_read_timeout());
}

#[test]
fn an_idle_kept_alive_connection_is_closed_at_the_idle_timeout_an_active_one_is_not() {
    let limits = short();
    let server = spawn_web_with_limits(&[], limits);
    let mut idle = connect(server.addr);
    assert_eq!(get_kept_alive(&mut idle).status, 200);
    let answered = Instant::now();
    let idle_closed = std::thread::spawn(move || read_until_closed(&mut idle, answered));
    // Requests every 100 ms for twice the idle timeout, all on one connection.
    let mut active = connect(server.addr);
    let mut served = 0;
    while answered.elapsed() < 2 * limits.idle_timeout() {
        assert_eq!(get_kept_alive(&mut active).status, 200, "request {served}");
        served += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(served >= 15, "{served} requests");
    assert!(is_open(&active), "the active connection is still open");
    let (bytes, after) = idle_closed.join().unwrap();
    assert!(bytes.is_empty());
    // The idle timeout, not the shorter header timeout, closed it.
    assert_closed_near("an idle connection", after, limits.idle_timeout());
}

#[test]
fn at_the_cap_a_new_connection_closes_the_longest_waiting_one() {
    let server = spawn_web_with_limits(&[], ServerLimits::default().with_max_connections(8));
    let idle: Vec<TcpStream> = (0..13)
        .map(|_| {
            let stream = connect(server.addr);
            // Accepted in order, so "longest waiting" is well defined.
            std::thread::sleep(Duration::from_millis(20));
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let latency = timed_get(server.addr).expect("served");
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    std::thread::sleep(Duration::from_millis(100));
    let open: Vec<bool> = idle.iter().map(is_open).collect();
    // The 9th to 13th connections and the request each closed the oldest idle one.
    let mut expected = vec![false; 6];
    expected.extend([true; 7]);
    assert_eq!(open, expected);
}

#[test]
fn when_every_held_connection_is_busy_a_new_one_waits_for_a_slot() {
    let limits = ServerLimits::default()
        .with_max_connections(2)
        .with_body_read_timeout(Duration::from_secs(1));
    let server = spawn_web_with_limits(&[], limits);
    let started = Instant::now();
    let mut busy = [start_slow_body(server.addr), start_slow_body(server.addr)];
    std::thread::sleep(Duration::from_millis(100));
    // Requests in progress are never evicted: this one waits in the backlog for a slot.
    let latency = timed_get(server.addr).expect("served once a slot freed");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "served after {latency:?}, before the busy connections' body timeout"
    );
    for stream in &mut busy {
        let (bytes, _) = read_until_closed(stream, started);
        parse_response(&bytes).assert_envelope(408);
    }
}

#[test]
fn shutdown_finishes_requests_in_progress_and_closes_the_rest() {
    let mut server = spawn_web_with_limits(&[], ServerLimits::default());
    let mut busy = connect(server.addr);
    let body = br#"{"email": "ann@example.com"}"#;
    busy.write_all(
        format!(
            "POST /_allauth/app/v1/auth/signup HTTP/1.1\r\nHost: hallpass\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    busy.write_all(&body[..5]).unwrap();
    let mut idle = connect(server.addr);
    assert_eq!(get_kept_alive(&mut idle).status, 200);
    let mut slow_head = connect(server.addr);
    slow_head.write_all(b"GET / HTTP/1.1\r\nHost: h").unwrap();
    std::thread::sleep(Duration::from_millis(100));

    let stopped = Instant::now();
    server.stop();
    for (what, stream) in [
        ("an idle connection", &mut idle),
        ("a partial head", &mut slow_head),
    ] {
        let (bytes, after) = read_until_closed(stream, stopped);
        assert!(bytes.is_empty(), "{what}");
        assert!(
            after < Duration::from_secs(1),
            "{what}: closed after {after:?}"
        );
    }
    busy.write_all(&body[5..]).unwrap();
    let (bytes, _) = read_until_closed(&mut busy, stopped);
    parse_response(&bytes).assert_envelope(400);
    assert!(
        server.wait_stopped(Duration::from_secs(5)),
        "serve returned"
    );
    assert!(
        TcpStream::connect(server.addr).is_err(),
        "no longer accepting"
    );
}

/// `n` connections that send nothing, or (`slow`) a partial head and then a byte per
/// connection every 200 ms (slowloris), until dropped.
struct Crowd {
    streams: Arc<Vec<TcpStream>>,
    stop: Arc<AtomicBool>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Crowd {
    fn open(addr: SocketAddr, n: usize, slow: bool) -> Crowd {
        // A server out of descriptors leaves connections in its backlog, and a full backlog
        // drops SYNs: bounded connects, 10 s in all, keep such a server from hanging the test.
        let started = Instant::now();
        let streams: Vec<TcpStream> = (0..n)
            .take_while(|_| started.elapsed() < Duration::from_secs(10))
            .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok())
            .collect();
        let streams = Arc::new(streams);
        let stop = Arc::new(AtomicBool::new(false));
        let writer = slow.then(|| {
            let (streams, stop) = (Arc::clone(&streams), Arc::clone(&stop));
            std::thread::spawn(move || {
                let head = format!("GET {CONFIG} HTTP/1.1\r\nHost: hallpass\r\nX-Slow: ");
                let mut bytes: &[u8] = head.as_bytes();
                while !stop.load(Ordering::Relaxed) {
                    for mut stream in streams.iter() {
                        let _ = stream.write(bytes);
                    }
                    bytes = b"a";
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        });
        Crowd {
            streams,
            stop,
            writer,
        }
    }

    /// How many connections the server still holds open.
    fn open_count(&self) -> usize {
        self.streams.iter().filter(|s| is_open(s)).count()
    }
}

impl Drop for Crowd {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Makes sure this process may hold `needed` descriptors, raising the soft limit toward the
/// hard one if it must; `false` (skip the test) if the hard limit is lower.
#[cfg(target_os = "linux")]
fn allow_descriptors(needed: u64) -> bool {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_none_or(|soft| soft >= needed) {
        return true;
    }
    if limit.maximum.is_some_and(|hard| hard < needed) {
        eprintln!("skipped: needs {needed} descriptors, RLIMIT_NOFILE hard limit is {limit:?}");
        return false;
    }
    let raised = Rlimit {
        current: Some(needed),
        maximum: limit.maximum,
    };
    setrlimit(Resource::Nofile, raised).is_ok()
}

#[cfg(target_os = "linux")]
fn count_fds(pid: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

#[cfg(target_os = "linux")]
fn rss_kib(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The requirement, in process with the default limits (on this machine a cap above 2,000):
/// with 2,000 idle connections, or 2,000 slowly sending a head, a normal request is answered
/// within a second.
#[cfg(target_os = "linux")]
#[test]
fn two_thousand_idle_or_slow_connections_do_not_delay_a_request() {
    // Both ends of 2,000 connections, plus the rest of the suite running beside this test.
    if !allow_descriptors(6_000) {
        return;
    }
    for slow in [false, true] {
        let server = spawn_web(&[]);
        let crowd = Crowd::open(server.addr, 2_000, slow);
        std::thread::sleep(Duration::from_millis(300));
        let best = best_of_three(server.addr);
        eprintln!(
            "in process, slow={slow}: {} of 2000 held open, best of 3: {best:?}",
            crowd.open_count()
        );
        assert!(
            best.is_some_and(|d| d < Duration::from_secs(1)),
            "slow={slow}: {best:?}"
        );
    }
}

/// A `hallpass serve` child, killed when dropped.
#[cfg(target_os = "linux")]
struct Child {
    child: std::process::Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

#[cfg(target_os = "linux")]
impl Child {
    /// Starts `hallpass serve` (the default `ServerLimits`) with `ulimit -n` set to `nofile`.
    fn serve(nofile: u64) -> Child {
        use std::io::{BufRead, BufReader};
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_hallpass"))
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--set",
                "HALLPASS_DURABILITY=none",
                "--data-dir",
            ])
            .arg(dir.path())
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "warn,hallpass=info")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr: SocketAddr = crate::web_util::listening_addr(&mut lines);
        // Keep reading its log so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
        Child {
            child,
            addr,
            _dir: dir,
        }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

#[cfg(target_os = "linux")]
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The requirement as deployed: `hallpass serve` with its defaults under the common
/// `ulimit -n 1024`, so the default cap (896) is below 2,000 and at-the-cap eviction does the
/// work. The server never runs out of descriptors, and a normal request is answered within a
/// second. Also prints the server's RSS and descriptors with 2,000 connections all held (the
/// machine's own limit).
#[cfg(target_os = "linux")]
#[test]
fn hallpass_serve_under_ulimit_1024_serves_beside_2000_idle_or_slow_connections() {
    if !allow_descriptors(6_000) {
        return;
    }
    for slow in [false, true] {
        let server = Child::serve(1024);
        let crowd = Crowd::open(server.addr, 2_000, slow);
        std::thread::sleep(Duration::from_millis(300));
        let best = best_of_three(server.addr);
        let fds = count_fds(&server.pid());
        eprintln!(
            "ulimit 1024, slow={slow}: server fds {fds}, RSS {} KiB, {} of {} held open, \
             best of 3: {best:?}",
            rss_kib(&server.pid()),
            crowd.open_count(),
            crowd.streams.len(),
        );
        assert!(
            best.is_some_and(|d| d < Duration::from_secs(1)),
            "slow={slow}: {best:?}"
        );
        assert!(fds < 1024, "descriptors {fds}");
    }
    let server = Child::serve(4096);
    let (pid, baseline) = (server.pid(), rss_kib(&server.pid()));
    let crowd = Crowd::open(server.addr, 2_000, false);
    std::thread::sleep(Duration::from_millis(500));
    eprintln!(
        "ulimit 4096, 2000 idle: server fds {}, RSS {} KiB (idle server {baseline} KiB), \
         {} held open, best of 3: {:?}",
        count_fds(&pid),
        rss_kib(&pid),
        crowd.open_count(),
        best_of_three(server.addr),
    );
}
