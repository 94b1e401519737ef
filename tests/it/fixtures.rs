//! Committed event bytes that must decode forever.
//!
//! `tests/fixtures/events/v1/<kind>.bin` holds one envelope per event kind, written by this
//! build's encoder. They are never edited: a new encoding is a new version with new files.
//! To add fixtures for a new version: `HALLPASS_WRITE_FIXTURES=1 cargo test fixtures`.

use std::path::PathBuf;

use hallpass::clock::Timestamp;
use hallpass::event::codec::{decode_envelope, encode_envelope};
use hallpass::event::{Envelope, Event, Jti, RevokeReason, Seq, SessionHash, UserId};

fn v1_cases() -> Vec<(&'static str, Envelope)> {
    let at = Timestamp::from_millis(1_767_225_600_123);
    let env = |seq, event| Envelope {
        version: 1,
        seq: Seq(seq),
        at,
        event,
    };
    let session = SessionHash([0xab; 32]);
    let jti = Jti([0x11; 16]);
    let jti2 = Jti([0x22; 16]);
    vec![
        (
            "user_signed_up",
            env(
                1,
                Event::UserSignedUp {
                    user: UserId(1),
                    email: "ann@example.com".into(),
                    username: "ann".into(),
                    password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
                },
            ),
        ),
        (
            "session_created",
            env(
                2,
                Event::SessionCreated {
                    session,
                    user: UserId(1),
                    expires_at: at.plus_secs(1_209_600),
                    user_agent: Some("okhttp/4.12".into()),
                    ip: Some("203.0.113.7".into()),
                    refresh: Some((jti, at.plus_secs(86_400))),
                },
            ),
        ),
        (
            "session_created_bare",
            env(
                3,
                Event::SessionCreated {
                    session,
                    user: UserId(1),
                    expires_at: at.plus_secs(60),
                    user_agent: None,
                    ip: None,
                    refresh: None,
                },
            ),
        ),
        (
            "refresh_rotated",
            env(
                4,
                Event::RefreshRotated {
                    session,
                    old: jti,
                    new: jti2,
                    expires_at: at.plus_secs(86_400),
                },
            ),
        ),
        (
            "sessions_seen",
            env(
                5,
                Event::SessionsSeen {
                    seen: vec![(session, at.plus_secs(61))],
                },
            ),
        ),
        ("expired_swept", env(6, Event::ExpiredSwept { now: at })),
        (
            "revoked_logout",
            env(
                7,
                Event::SessionRevoked {
                    session,
                    reason: RevokeReason::Logout,
                },
            ),
        ),
        (
            "revoked_revoke_all",
            env(
                8,
                Event::SessionRevoked {
                    session,
                    reason: RevokeReason::RevokeAll,
                },
            ),
        ),
        (
            "revoked_expired",
            env(
                9,
                Event::SessionRevoked {
                    session,
                    reason: RevokeReason::Expired,
                },
            ),
        ),
        (
            "revoked_reuse_detected",
            env(
                10,
                Event::SessionRevoked {
                    session,
                    reason: RevokeReason::ReuseDetected,
                },
            ),
        ),
        (
            "revoked_admin",
            env(
                11,
                Event::SessionRevoked {
                    session,
                    reason: RevokeReason::Admin,
                },
            ),
        ),
        (
            "revoked_user_request",
            env(
                12,
                Event::SessionRevoked {
                    session,
                    reason: RevokeReason::UserRequest,
                },
            ),
        ),
    ]
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events/v1")
}

#[test]
fn v1_fixtures_decode_forever() {
    if std::env::var_os("HALLPASS_WRITE_FIXTURES").is_some() {
        std::fs::create_dir_all(dir()).unwrap();
        for (name, envelope) in v1_cases() {
            let path = dir().join(format!("{name}.bin"));
            if !path.exists() {
                let mut bytes = Vec::new();
                encode_envelope(&envelope, &mut bytes);
                std::fs::write(path, bytes).unwrap();
            }
        }
    }
    for (name, expected) in v1_cases() {
        let path = dir().join(format!("{name}.bin"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let (decoded, used) = decode_envelope(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(used, bytes.len(), "{name}: trailing bytes");
        assert_eq!(decoded, expected, "{name}");
        // This build still writes version 1 byte for byte.
        let mut again = Vec::new();
        encode_envelope(&decoded, &mut again);
        assert_eq!(again, bytes, "{name}: re-encoding changed");
    }
}

/// The state a fixed v1 event history folds into.
fn fixture_state() -> hallpass::state::State {
    let mut state = hallpass::state::State::new(10_000);
    for (_, envelope) in v1_cases() {
        state.apply(&envelope);
    }
    let at = Timestamp::from_millis(1_767_225_600_123);
    for (i, n) in [3u8, 5, 9].into_iter().enumerate() {
        state.apply(&Envelope {
            version: 1,
            seq: Seq(100 + i as u64),
            at,
            event: Event::SessionCreated {
                session: SessionHash([n; 32]),
                user: UserId(1),
                expires_at: at.plus_secs(3_600),
                user_agent: None,
                ip: Some("192.0.2.1".into()),
                refresh: Some((Jti([n; 16]), at.plus_secs(60))),
            },
        });
    }
    state
}

/// `tests/fixtures/snapshots/v1.bin`: a snapshot must load forever, and this build writes the
/// same bytes for the same state (snapshots are deterministic).
#[test]
fn v1_snapshot_fixture_loads_forever() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/snapshots/v1.bin");
    let state = fixture_state();
    if std::env::var_os("HALLPASS_WRITE_FIXTURES").is_some() && !path.exists() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, state.to_snapshot()).unwrap();
    }
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let loaded = hallpass::state::State::from_snapshot(&bytes, 10_000).unwrap();
    if let Some(diff) = loaded.first_difference(&state) {
        panic!("snapshot fixture differs: {diff}");
    }
    assert_eq!(state.to_snapshot(), bytes, "snapshot encoding changed");
}
