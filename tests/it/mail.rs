//! Real e-mail delivery: the outbox sent by the delivery worker to a real SMTP server
//! (aiosmtpd, started by each test on a free port of 127.0.0.1 through `tests/smtp_sink.py`),
//! written as files, or printed; retries, give-ups, and what survives `kill -9`.
//!
//! Tests that need aiosmtpd skip, saying so, when `python3 -c 'import aiosmtpd'` fails, unless
//! `HALLPASS_REQUIRE_AIOSMTPD=1` (as `.ci/run` sets) makes that a failure.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use hallpass::mail::{Backend, Context, Delivery, DeliveryOptions, DeliveryStats, Kind};
use hallpass::{
    App, AuthMethod, Config, FlowKind, RawConfig, SecretDigest, SessionHash, SessionKey,
};

const SECRET_KEY: &str = "mail-tests-3f9c2b7a1d5e8f0a4c6b2d9e7f1a3c5b8d0e2f4a6c8b1d3e5f7a9c0b2";
const CODE: &str = "QX7P-R2KD";

// --- the SMTP sink ---

/// Whether aiosmtpd can run here; prints why `test` is skipped when it cannot.
fn smtp_available(test: &str) -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    let available = *AVAILABLE.get_or_init(|| {
        Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !available {
        assert!(
            std::env::var_os("HALLPASS_REQUIRE_AIOSMTPD").is_none(),
            "{test}: HALLPASS_REQUIRE_AIOSMTPD is set but python3 cannot import aiosmtpd"
        );
        eprintln!("skipping {test}: python3 cannot import aiosmtpd (pip install aiosmtpd)");
    }
    available
}

/// A port nothing listens on (just now).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `tests/smtp_sink.py` on 127.0.0.1:`port`, killed on drop.
struct Sink {
    child: Child,
    dir: tempfile::TempDir,
}

impl Sink {
    fn start(port: u16) -> Sink {
        let dir = tempfile::tempdir().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert_eq!(ready.trim(), "ready", "the SMTP sink did not start");
        Sink { child, dir }
    }

    /// Every message accepted so far, in order.
    fn messages(&self) -> Vec<serde_json::Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }

    /// The messages once there are `n`, waiting up to `within`.
    fn wait_for(&self, n: usize, within: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + within;
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} messages arrived",
                messages.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// --- in-process: an App over a sled data directory ---

fn config(settings: &[(&str, &str)]) -> Config {
    let mut raw = RawConfig::new();
    raw.set("SECRET_KEY", SECRET_KEY).unwrap();
    for (name, value) in settings {
        raw.set(name, *value).unwrap();
    }
    raw.validate().unwrap()
}

fn smtp_settings(port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("EMAIL_BACKEND", "smtp".to_owned()),
        ("EMAIL_HOST", "127.0.0.1".to_owned()),
        ("EMAIL_PORT", port.to_string()),
        ("EMAIL_TIMEOUT", "5".to_owned()),
    ]
}

/// The app (engine on `dir`) and the backend its settings name.
fn app(dir: &Path, settings: &[(&str, String)]) -> (App, Backend) {
    let app = app_only(dir, settings);
    let backend = Backend::from_config(app.config(), dir).unwrap();
    (app, backend)
}

/// The app alone: nothing created for the backend.
fn app_only(dir: &Path, settings: &[(&str, String)]) -> App {
    let settings: Vec<(&str, &str)> = settings.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let config = config(&settings);
    let (engine, _) = hallpass::open_engine(dir, &config).unwrap();
    App::new(engine, config).unwrap()
}

/// Queues a sign-in code for `to` the way an endpoint does: sealed, in the write that starts
/// the flow. Answers the message's id.
fn queue(app: &App, to: &str) -> u64 {
    let context = Context {
        code: Some(CODE.to_owned()),
        email: to.to_owned(),
        ..Context::default()
    };
    let sealed = app.mailer().seal(Kind::LoginCode, to, &context);
    let id = app
        .engine()
        .start_flow(
            SessionHash::of(&SessionKey::generate()),
            FlowKind::LoginByCode,
            None,
            Some(to),
            Some(SecretDigest([7; 32])),
            AuthMethod::Unknown,
            600_000,
            Some(sealed),
        )
        .unwrap()
        .unwrap();
    app.mailer().wake();
    id
}

fn fast() -> DeliveryOptions {
    DeliveryOptions {
        first_retry: Duration::from_millis(100),
        max_retry: Duration::from_millis(400),
        poll: Duration::from_millis(100),
        ..DeliveryOptions::default()
    }
}

fn start(app: &App, backend: Backend, options: DeliveryOptions) -> Delivery {
    Delivery::start(app.engine().clone(), app.mailer().clone(), backend, options).unwrap()
}

/// Waits up to `within` for `done(stats)`.
fn wait_stats(delivery: &Delivery, within: Duration, done: impl Fn(DeliveryStats) -> bool) {
    let deadline = Instant::now() + within;
    while !done(delivery.stats()) {
        assert!(Instant::now() < deadline, "{:?}", delivery.stats());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn smtp_delivers_a_queued_message_with_djangos_headers() {
    if !smtp_available("smtp_delivers_a_queued_message_with_djangos_headers") {
        return;
    }
    let port = free_port();
    let sink = Sink::start(port);
    let dir = tempfile::tempdir().unwrap();
    let mut settings = smtp_settings(port);
    settings.push((
        "DEFAULT_FROM_EMAIL",
        "Hallpass <noreply@example.org>".to_owned(),
    ));
    settings.push(("HALLPASS_SITE_NAME", "Café Zoë".to_owned()));
    let (app, backend) = app(dir.path(), &settings);
    let first = queue(&app, "alice@example.com");
    // A minute between polls: only the wake can send the second message in time.
    let options = DeliveryOptions {
        poll: Duration::from_secs(60),
        ..DeliveryOptions::default()
    };
    let delivery = start(&app, backend, options);
    sink.wait_for(1, Duration::from_secs(10));
    let second = queue(&app, "bob@example.net");
    assert_eq!(second, first + 1);
    let got = sink.wait_for(2, Duration::from_secs(10));
    wait_stats(&delivery, Duration::from_secs(5), |s| s.sent == 2);
    delivery.stop();

    let m = &got[0];
    assert_eq!(m["mail_from"], "noreply@example.org");
    assert_eq!(m["rcpt_tos"], serde_json::json!(["alice@example.com"]));
    assert_eq!(m["from"], "Hallpass <noreply@example.org>");
    assert_eq!(m["to"], "alice@example.com");
    // Python's parser decodes the RFC 2047 subject back to the UTF-8 we rendered.
    assert_eq!(m["subject"], "[Café Zoë] Sign-In Code");
    assert_eq!(m["content_type"], "text/plain");
    assert_eq!(m["charset"], "utf-8");
    let body = m["body"].as_str().unwrap();
    assert!(body.starts_with("Hello from Café Zoë!\n"), "{body}");
    assert!(body.contains(&format!("\n{CODE}\n")), "{body:?}");
    assert!(m["date"].as_str().unwrap().ends_with("+0000"), "{m}");
    let id = m["message_id"].as_str().unwrap();
    assert!(id.starts_with('<') && id.ends_with("@example.org>"), "{id}");
    assert_ne!(got[1]["message_id"], m["message_id"]);
    assert_eq!(got[1]["to"], "bob@example.net");
    assert!(m["raw"].as_str().unwrap().contains("MIME-Version: 1.0\r\n"));
    assert!(
        app.engine().outbox().is_empty(),
        "sent messages leave the outbox"
    );
}

#[test]
fn transient_failures_are_retried_until_the_server_takes_the_message() {
    if !smtp_available("transient_failures_are_retried_until_the_server_takes_the_message") {
        return;
    }
    // No server at first: the attempts fail, each one counted in the log.
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let (app, backend) = app(dir.path(), &smtp_settings(port));
    queue(&app, "carol@example.com");
    let options = DeliveryOptions {
        max_attempts: 1000,
        ..fast()
    };
    let delivery = start(&app, backend, options);
    wait_stats(&delivery, Duration::from_secs(5), |s| {
        s.failed_attempts >= 2
    });
    let counted = app.engine().outbox()[0].failed_attempts;
    assert!(counted >= 1, "failed attempts are durable: {counted}");
    let sink = Sink::start(port);
    let got = sink.wait_for(1, Duration::from_secs(10));
    assert_eq!(got[0]["to"], "carol@example.com");

    // A server answering 451 twice, then 250: three attempts, one message.
    queue(&app, "defer2@example.com");
    let got = sink.wait_for(2, Duration::from_secs(10));
    assert_eq!(got[1]["deferred_before"], 2);
    wait_stats(&delivery, Duration::from_secs(5), |s| s.sent == 2);
    let stats = delivery.stats();
    assert!(stats.failed_attempts >= 4, "{stats:?}");
    assert_eq!(stats.given_up, 0);
    delivery.stop();
    assert!(app.engine().outbox().is_empty());
    assert_eq!(sink.messages().len(), 2, "each message arrived once");
}

#[test]
fn a_permanent_refusal_gives_up_at_once_and_the_attempts_are_bounded() {
    if !smtp_available("a_permanent_refusal_gives_up_at_once_and_the_attempts_are_bounded") {
        return;
    }
    let port = free_port();
    let sink = Sink::start(port);
    let dir = tempfile::tempdir().unwrap();
    let mut settings = smtp_settings(port);
    settings.push(("HALLPASS_EMAIL_MAX_ATTEMPTS", "3".to_owned()));
    let (app, backend) = app(dir.path(), &settings);
    queue(&app, "reject@example.com");
    queue(&app, "defer9@example.com");
    queue(&app, "dave@example.com");
    let options = DeliveryOptions {
        max_attempts: 3,
        ..fast()
    };
    let delivery = start(&app, backend, options);
    wait_stats(&delivery, Duration::from_secs(10), |s| {
        s.given_up == 2 && s.sent == 1
    });
    let stats = delivery.stats();
    // 550 at RCPT: given up with no retry; 451 every time: given up at the third failure.
    assert_eq!(stats.failed_attempts, 3, "{stats:?}");
    delivery.stop();
    assert!(
        app.engine().outbox().is_empty(),
        "given-up messages leave the outbox"
    );
    let got = sink.messages();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["to"], "dave@example.com");
}

#[test]
fn starttls_required_never_falls_back_to_plain_text() {
    if !smtp_available("starttls_required_never_falls_back_to_plain_text") {
        return;
    }
    let port = free_port();
    let sink = Sink::start(port);
    let dir = tempfile::tempdir().unwrap();
    let mut settings = smtp_settings(port);
    settings.push(("EMAIL_USE_TLS", "true".to_owned()));
    let (app, backend) = app(dir.path(), &settings);
    queue(&app, "erin@example.com");
    let delivery = start(&app, backend, fast());
    wait_stats(&delivery, Duration::from_secs(5), |s| {
        s.failed_attempts >= 2
    });
    delivery.stop();
    assert!(
        sink.messages().is_empty(),
        "the sink offers no STARTTLS: nothing may be sent"
    );
    assert_eq!(app.engine().outbox().len(), 1, "kept for when TLS works");
}

#[test]
fn an_unreachable_server_costs_only_the_oldest_message_its_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let (app, backend) = app(dir.path(), &smtp_settings(free_port()));
    for n in 0..3 {
        queue(&app, &format!("user{n}@example.com"));
    }
    let delivery = start(&app, backend, fast());
    wait_stats(&delivery, Duration::from_secs(5), |s| {
        s.failed_attempts >= 3
    });
    delivery.stop();
    let attempts: Vec<u32> = app
        .engine()
        .outbox()
        .iter()
        .map(|m| m.failed_attempts)
        .collect();
    assert!(attempts[0] >= 3, "{attempts:?}");
    assert_eq!(&attempts[1..], [0, 0], "the others wait behind the oldest");
}

#[test]
fn a_message_sealed_under_another_key_is_given_up() {
    let dir = tempfile::tempdir().unwrap();
    let (app, backend) = app(dir.path(), &[]);
    // Sealed by a deployment with another SECRET_KEY.
    let other = {
        let other_dir = tempfile::tempdir().unwrap();
        let mut raw = RawConfig::new();
        raw.set(
            "SECRET_KEY",
            "another-key-7c1e9a3f5b2d8e4a6c0f1b3d5e7a9c2e4f6a8b0d1c3e5",
        )
        .unwrap();
        let config = raw.validate().unwrap();
        let (engine, _) = hallpass::open_engine(other_dir.path(), &config).unwrap();
        let other = App::new(engine, config).unwrap();
        other
            .mailer()
            .seal(Kind::LoginCode, "frank@example.com", &Context::default())
    };
    app.engine()
        .start_flow(
            SessionHash::of(&SessionKey::generate()),
            FlowKind::LoginByCode,
            None,
            Some("frank@example.com"),
            None,
            AuthMethod::Unknown,
            600_000,
            Some(other),
        )
        .unwrap();
    queue(&app, "grace@example.com");
    let delivery = start(&app, backend, fast());
    wait_stats(&delivery, Duration::from_secs(5), |s| {
        s.given_up == 1 && s.sent == 1
    });
    delivery.stop();
    assert!(app.engine().outbox().is_empty());
    let files: Vec<_> = std::fs::read_dir(dir.path().join("mail"))
        .unwrap()
        .collect();
    assert_eq!(files.len(), 1, "only the message that opens is written");
}

// --- `hallpass serve` as a child process ---

/// `hallpass serve` on `data_dir` with `--set` `settings`, its log collected.
struct Serve {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    fn start(data_dir: &Path, settings: &[(&str, String)]) -> Serve {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hallpass"));
        command.args(["serve", "--bind", "127.0.0.1:0", "--data-dir"]);
        command.arg(data_dir);
        command.arg("--set").arg(format!("SECRET_KEY={SECRET_KEY}"));
        for (name, value) in settings {
            command.arg("--set").arg(format!("{name}={value}"));
        }
        let mut child = command
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Serve { child, log }
    }

    /// The first log line containing `needle`, waiting up to 15 s.
    fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(line) = self.log.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in {:#?}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// SIGKILL: no shutdown, no last write.
    fn kill_hard(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM and wait for a clean exit; answers the whole log.
    fn terminate(mut self) -> String {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status:?}: {}", self.log());
        // The log reader ends at EOF, just after the exit.
        std::thread::sleep(Duration::from_millis(100));
        self.log()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Queues a message for `to` in `data_dir` with the library, then closes the engine.
fn queue_offline(data_dir: &Path, to: &str) -> u64 {
    let app = app_only(data_dir, &[]);
    queue(&app, to)
}

/// The outbox of `data_dir` (the server stopped).
fn outbox(data_dir: &Path) -> Vec<hallpass::Mail> {
    let app = app_only(data_dir, &[]);
    app.engine().outbox()
}

#[test]
fn mail_queued_before_a_crash_is_sent_once_after_the_restart() {
    if !smtp_available("mail_queued_before_a_crash_is_sent_once_after_the_restart") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let id = queue_offline(dir.path(), "heidi@example.com");
    // The server is down: attempts fail; then hallpass is killed mid-retries.
    let serve = Serve::start(dir.path(), &smtp_settings(port));
    serve.wait_for_log("mail attempt failed");
    serve.kill_hard();
    let waiting = outbox(dir.path());
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].id, id);
    assert!(
        waiting[0].failed_attempts >= 1,
        "the failed attempt is durable"
    );

    let sink = Sink::start(port);
    let serve = Serve::start(dir.path(), &smtp_settings(port));
    let sent = serve.wait_for_log("mail sent");
    assert!(sent.contains(&format!("id={id}")), "{sent}");
    assert!(
        sent.contains("kind=\"login_code\"") || sent.contains("kind=login_code"),
        "{sent}"
    );
    // A few more passes: nothing is sent twice.
    std::thread::sleep(Duration::from_millis(2500));
    let log = serve.terminate();
    let got = sink.messages();
    assert_eq!(got.len(), 1, "exactly one copy: {got:?}");
    assert_eq!(got[0]["to"], "heidi@example.com");
    assert!(outbox(dir.path()).is_empty());
    assert!(!log.contains(CODE), "{log}");
    assert!(!log.contains("heidi@"), "{log}");
}

#[test]
fn a_crash_after_the_server_took_the_message_sends_it_again_with_the_same_message_id() {
    if !smtp_available(
        "a_crash_after_the_server_took_the_message_sends_it_again_with_the_same_message_id",
    ) {
        return;
    }
    // At-least-once: the sink writes the message, then waits 3 s before its 250; hallpass is
    // killed in between, so it never learns the message was taken.
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sink = Sink::start(port);
    queue_offline(dir.path(), "slow@example.com");
    let serve = Serve::start(dir.path(), &smtp_settings(port));
    sink.wait_for(1, Duration::from_secs(15));
    serve.kill_hard();
    assert_eq!(outbox(dir.path()).len(), 1, "not recorded as sent");

    let serve = Serve::start(dir.path(), &smtp_settings(port));
    serve.wait_for_log("mail sent");
    serve.terminate();
    let got = sink.messages();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        got[0]["message_id"], got[1]["message_id"],
        "a duplicate recognisable as one"
    );
    assert_eq!(got[0]["raw"], got[1]["raw"], "the same bytes");
    assert!(outbox(dir.path()).is_empty());
}

#[test]
fn serve_writes_mail_files_under_the_data_dir_by_default_and_logs_no_code() {
    let dir = tempfile::tempdir().unwrap();
    let id = queue_offline(dir.path(), "ivan@example.com");
    let serve = Serve::start(dir.path(), &[]);
    let sent = serve.wait_for_log("mail sent");
    let log = serve.terminate();
    let mail_dir = dir.path().join("mail");
    let files: Vec<PathBuf> = std::fs::read_dir(&mail_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let file = &files[0];
    let name = file.file_name().unwrap().to_str().unwrap();
    assert!(
        name.ends_with(&format!("-{id}.eml")) && name.len() == 15 + 1 + id.to_string().len() + 4,
        "{name}"
    );
    assert!(
        sent.contains(&file.display().to_string()),
        "the log names the file: {sent}"
    );
    assert!(
        sent.contains("to_domain=example.com") || sent.contains("to_domain=\"example.com\""),
        "{sent}"
    );
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains("To: ivan@example.com\r\n"), "{text}");
    assert!(text.contains(CODE), "{text}");
    assert!(!log.contains(CODE), "no code in the log: {log}");
    assert!(!log.contains("ivan@"), "no address in the log: {log}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(file), 0o600);
        assert_eq!(mode(&mail_dir), 0o700);
    }
    assert!(outbox(dir.path()).is_empty());
}

#[test]
fn the_console_backend_prints_the_message_to_stderr() {
    let dir = tempfile::tempdir().unwrap();
    queue_offline(dir.path(), "judy@example.com");
    let serve = Serve::start(dir.path(), &[("EMAIL_BACKEND", "console".to_owned())]);
    serve.wait_for_log("mail sent");
    let log = serve.terminate();
    assert!(log.contains("Subject: [hallpass] Sign-In Code"), "{log}");
    assert!(log.contains("To: judy@example.com"), "{log}");
    assert!(log.contains(CODE), "{log}");
    assert!(log.contains(&"-".repeat(79)), "{log}");
    assert!(
        !dir.path().join("mail").exists(),
        "nothing written as files"
    );
}

#[test]
fn mail_settings_that_cannot_work_refuse_to_start() {
    for (setting, value, expected) in [
        ("DEFAULT_FROM_EMAIL", "not an address", "DEFAULT_FROM_EMAIL"),
        ("EMAIL_USE_SSL", "true", "mutually exclusive"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_hallpass"))
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(["--set", "EMAIL_BACKEND=smtp", "--set", "EMAIL_USE_TLS=true"])
            .arg("--set")
            .arg(format!("{setting}={value}"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{stderr}");
    }
}

/// Messages per second to the aiosmtpd sink (not run by default):
/// `cargo test --release --test it mail::throughput -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement"]
fn throughput_to_the_smtp_sink() {
    if !smtp_available("throughput_to_the_smtp_sink") {
        return;
    }
    const N: usize = 500;
    let port = free_port();
    let sink = Sink::start(port);
    let dir = tempfile::tempdir().unwrap();
    let (app, backend) = app(dir.path(), &smtp_settings(port));
    for n in 0..N {
        queue(&app, &format!("user{n}@example.com"));
    }
    let started = Instant::now();
    let delivery = start(&app, backend, DeliveryOptions::default());
    wait_stats(&delivery, Duration::from_secs(120), |s| s.sent == N as u64);
    let took = started.elapsed();
    delivery.stop();
    assert_eq!(sink.messages().len(), N);
    eprintln!(
        "{N} messages in {:.2} s: {:.0} messages/s",
        took.as_secs_f64(),
        N as f64 / took.as_secs_f64()
    );
}
