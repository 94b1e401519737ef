//! Rotation under a race, measured over HTTP (hardening item 10). In each trial a fresh JWT
//! session's refresh token is presented by 32 clients at once, each on its own connection and
//! released together by a barrier, and the answers are counted; 50 trials per setting, and
//! every trial must come out exactly as the grace window, its replay cap and reuse detection
//! say, however the writer happened to batch the 32 presentations.
//!
//! The engine once handed the successor of a rotation to every other presentation of the token
//! in the same writer batch, window or not: with no grace window 22 of 40 such races gave 2-23
//! successes. The histogram of outcomes is printed per setting: `cargo test --test it
//! web_refresh_race -- --nocapture`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Barrier;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde_json::{Value, json};

use crate::web_auth::{PASSWORD, login, signup};
use crate::web_jwt::{jwt_server, refresh, session_by_bearer, session_by_token, tokens};
use crate::web_util::{Response, TestServer};

/// Concurrent presentations of one refresh token per trial.
const CLIENTS: usize = 32;
/// Trials per setting, each with a fresh session.
const TRIALS: usize = 50;
const EMAIL: &str = "race@example.com";

/// What one trial came to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Trial {
    /// 200s with a token pair.
    ok: usize,
    /// 400s with allauth's bare `{"status": 400}`: a refresh token that does not refresh.
    refused: usize,
    /// Any other answer (kept for the failure message).
    other: usize,
    /// Distinct (access, refresh) pairs among the 200s.
    pairs: usize,
    /// Rotations the engine committed during the race.
    rotations: u64,
    /// Sessions the engine revoked for reuse during the race.
    reuses: u64,
    /// Afterwards, `GET auth/session` with the session token.
    session: u16,
    /// Afterwards, `GET auth/session` with the winner's access token as Bearer (0: no winner).
    access: u16,
    /// Afterwards, the winner's refresh token presented once (0: no winner).
    successor: u16,
}

impl Trial {
    /// One rotation whose pair `ok` presentations got, the rest refused; with `reuse`, one
    /// presentation beyond what the window allows ended the session, so that neither the
    /// session token nor the winner's pair works afterwards.
    const fn expected(ok: usize, reuse: bool) -> Trial {
        Trial {
            ok,
            refused: CLIENTS - ok,
            other: 0,
            pairs: 1,
            rotations: 1,
            reuses: if reuse { 1 } else { 0 },
            session: if reuse { 410 } else { 200 },
            access: if reuse { 410 } else { 200 },
            successor: if reuse { 400 } else { 200 },
        }
    }
}

impl fmt::Display for Trial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "200x{} 400x{} otherx{} pairs={} rotations={} reuse={}; then session {}, bearer {}, \
             successor {}",
            self.ok,
            self.refused,
            self.other,
            self.pairs,
            self.rotations,
            self.reuses,
            self.session,
            self.access,
            self.successor
        )
    }
}

/// Logs in once more (a fresh session), races its refresh token and looks at what is left.
/// Answers that are neither a pair nor the bare 400 are added to `odd`.
fn trial(server: &TestServer, odd: &mut Vec<String>) -> Trial {
    let t = tokens(&login(server, EMAIL, PASSWORD).assert_envelope(200));
    let stats = server.engine.stats();
    let rotations = stats.rotations.load(Ordering::Relaxed);
    let reuses = stats.reuse_detections.load(Ordering::Relaxed);
    let barrier = Barrier::new(CLIENTS);
    let answers: Vec<Response> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    refresh(server, &t.refresh)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let rotations = stats.rotations.load(Ordering::Relaxed) - rotations;
    let reuses = stats.reuse_detections.load(Ordering::Relaxed) - reuses;

    let mut pairs = BTreeSet::new();
    let (mut ok, mut refused, mut other) = (0, 0, 0);
    for r in &answers {
        let body: Option<Value> = serde_json::from_slice(&r.body).ok();
        match r.status {
            200 => {
                let data = &r.assert_envelope(200)["data"];
                let token = |name: &str| data[name].as_str().unwrap().to_owned();
                pairs.insert((token("access_token"), token("refresh_token")));
                ok += 1;
            }
            400 if body == Some(json!({"status": 400})) => {
                r.assert_envelope(400);
                refused += 1;
            }
            _ => {
                other += 1;
                odd.push(format!("{} {}", r.status, String::from_utf8_lossy(&r.body)));
            }
        }
    }
    let session = session_by_token(server, &t.session).status;
    let (access, successor) = match pairs.first() {
        Some((access, next)) => (
            session_by_bearer(server, access).status,
            refresh(server, next).status,
        ),
        None => (0, 0),
    };
    Trial {
        ok,
        refused,
        other,
        pairs: pairs.len(),
        rotations,
        reuses,
        session,
        access,
        successor,
    }
}

/// Runs [`TRIALS`] trials on a JWT server with `settings`, prints the histogram and asserts
/// that every trial is `expected` (`claim` says what that is in words).
fn measure(name: &str, settings: &[(&str, &str)], expected: &Trial, claim: &str) {
    let server = jwt_server(settings);
    signup(&server, EMAIL);
    let started = Instant::now();
    let mut odd = Vec::new();
    let trials: Vec<Trial> = (0..TRIALS)
        .map(|_| {
            let trial = trial(&server, &mut odd);
            // A fresh minute for the limiter (60 refreshes per address); every session is new,
            // so no window of an earlier trial matters.
            server.clock.advance_secs(61);
            trial
        })
        .collect();
    let elapsed = started.elapsed();

    let mut histogram: BTreeMap<&Trial, usize> = BTreeMap::new();
    let mut successes: BTreeMap<usize, usize> = BTreeMap::new();
    for t in &trials {
        *histogram.entry(t).or_default() += 1;
        *successes.entry(t.ok).or_default() += 1;
    }
    let matching = trials.iter().filter(|t| *t == expected).count();
    eprintln!(
        "{name}: {matching}/{TRIALS} trials {claim} ({CLIENTS} clients, {:.1} s)",
        elapsed.as_secs_f64()
    );
    eprintln!("{name}: trials by number of 200s: {successes:?}");
    for (t, n) in &histogram {
        eprintln!("{name}: {n:>3} x {t}");
    }
    assert!(odd.is_empty(), "{name}: unexpected answers: {odd:?}");
    assert_eq!(
        matching, TRIALS,
        "{name}: every trial should be \"{expected}\"; see the histogram above"
    );
}

/// allauth's behaviour: a refresh token refreshes once. One client wins; the other 31 get the
/// bare 400 of a spent token, the session lives on and the winner's refresh token works.
#[test]
fn grace0_without_reuse_detection_has_exactly_one_winner() {
    measure(
        "grace0/no-detection",
        &[
            ("HALLPASS_REFRESH_GRACE_SECONDS", "0"),
            ("HALLPASS_REFRESH_REUSE_DETECTION", "false"),
        ],
        &Trial::expected(1, false),
        "exactly one 200, 31 bare 400s, session and successor alive",
    );
}

/// No window, detection on: the first presentation after the rotation is a reuse (RFC 9700
/// 4.14.2), whether in the winner's batch or a later one, so every trial ends the session; the
/// winner's pair dies with it.
#[test]
fn grace0_with_reuse_detection_has_one_winner_and_ends_the_session() {
    measure(
        "grace0/detection",
        &[("HALLPASS_REFRESH_GRACE_SECONDS", "0")],
        &Trial::expected(1, true),
        "exactly one 200, 31 bare 400s, one reuse, session and successor dead",
    );
}

/// The defaults (10 s window, 32 replays): one rotation and 31 replays, so every client gets
/// the identical pair and the session goes on with it.
#[test]
fn default_grace_gives_all_thirty_two_the_one_successor() {
    measure(
        "grace10/replays32",
        &[],
        &Trial::expected(CLIENTS, false),
        "32 200s with one identical pair, one rotation, successor alive",
    );
}

/// A cap of 5 replays: 1 + 5 clients get the pair; the 7th presentation is one too many, a
/// reuse that ends the session (detection is on by default), and the rest find it ended.
#[test]
fn grace_replay_cap_of_five_then_reuse_ends_the_session() {
    measure(
        "grace10/replays5/detection",
        &[("HALLPASS_REFRESH_GRACE_REPLAYS", "5")],
        &Trial::expected(6, true),
        "exactly 6 200s with one pair, 26 bare 400s, one reuse, session and successor dead",
    );
}

/// A cap of 5 replays without detection: 1 + 5 clients get the pair, the rest a plain 400,
/// and the session goes on.
#[test]
fn grace_replay_cap_of_five_without_detection_refuses_the_rest() {
    measure(
        "grace10/replays5/no-detection",
        &[
            ("HALLPASS_REFRESH_GRACE_REPLAYS", "5"),
            ("HALLPASS_REFRESH_REUSE_DETECTION", "false"),
        ],
        &Trial::expected(6, false),
        "exactly 6 200s with one pair, 26 bare 400s, session and successor alive",
    );
}
