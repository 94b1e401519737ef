//! Heap bytes per live session, counted by the global allocator while events are folded into
//! a fresh `State`.

use criterion::Criterion;

use hallpass::testing::{Envelope, Event, Session, State};
use hallpass::{AuthMethod, SessionHash};

use crate::data::{DATASET_SESSIONS, GRACE_MS, session_created, user_signed_up};

/// Prints bytes per session for N = 200,000 (with and without user agent and IP, with 10 and
/// 1 sessions per user, since the per-user index is a set per user) and for N = 1,000,000
/// (a hash table's size steps with N, so the figure does too).
pub(crate) fn memory(_c: &mut Criterion) {
    let n = 200_000;
    let ua = "M".repeat(100);
    eprintln!(
        "memory: size_of::<Session>() = {} bytes, (SessionHash, Session) = {} bytes",
        size_of::<Session>(),
        size_of::<(SessionHash, Session)>()
    );
    for (label, users, user_agent, ip) in [
        ("index+refresh, 10 sessions/user", n / 10, None, None),
        ("index+refresh, 1 session/user", n, None, None),
        (
            "index+refresh+100 B user agent+IP, 10 sessions/user",
            n / 10,
            Some(ua.as_str()),
            Some("203.0.113.195"),
        ),
    ] {
        let (bytes, allocs) = bytes_per_session(n, users, user_agent, ip);
        eprintln!(
            "memory: {bytes:.0} bytes per live session ({label}; N={n}, \
             {allocs:.2} heap blocks per session)"
        );
    }
    let big = DATASET_SESSIONS;
    let (bytes, allocs) = bytes_per_session(big, big / 10, None, None);
    eprintln!(
        "memory: {bytes:.0} bytes per live session (index+refresh, 10 sessions/user; N={big}, \
         {allocs:.2} heap blocks per session)"
    );
}

/// Heap bytes and blocks per session that folding `n` `SessionCreated` events into a state
/// (whose `users` have already signed up) adds.
fn bytes_per_session(n: u64, users: u64, user_agent: Option<&str>, ip: Option<&str>) -> (f64, f64) {
    let mut state = State::new(GRACE_MS);
    let mut seq = 0;
    for user in 1..=users {
        seq += 1;
        state.apply(&user_signed_up(seq, user));
    }
    let events: Vec<Envelope> = (0..n)
        .map(|i| {
            let mut envelope = session_created(seq + 1 + i, i, users);
            if let Event::SessionCreated {
                user_agent: ua,
                ip: addr,
                method,
                ..
            } = &mut envelope.event
            {
                *ua = user_agent.map(str::to_owned);
                *addr = ip.map(str::to_owned);
                // Without client details the session is the bare index a library user gets.
                if ua.is_none() && addr.is_none() {
                    *method = AuthMethod::Unknown;
                }
            }
            envelope
        })
        .collect();
    counting_alloc::start();
    for envelope in &events {
        state.apply(envelope);
    }
    let counts = counting_alloc::stop();
    assert_eq!(state.session_count() as u64, n);
    let n = n as f64;
    (counts.bytes as f64 / n, counts.allocs as f64 / n)
}
