//! Committed event bytes that must decode forever.
//!
//! `tests/fixtures/events/v1/<kind>.bin` holds one envelope per event kind, written by this
//! build's encoder. They are never edited: a new encoding is a new version with new files.
//! To add fixtures for a new version: `HALLPASS_WRITE_FIXTURES=1 cargo test fixtures`.

use std::path::PathBuf;

use hallpass::testing::{Envelope, Event, FORMAT_VERSION, decode_envelope, encode_envelope};
use hallpass::{
    AuthMethod, FlowKind, Jti, KeyPurpose, PasswordChange, PasswordHash, RevokeReason,
    SecretDigest, Seq, SessionHash, Timestamp, UserId,
};

/// A session-created event of user 1 as format `version` writes it: format 1 has only the
/// variant without a method.
fn session_created(
    version: u16,
    session: SessionHash,
    expires_at: Timestamp,
    user_agent: Option<&str>,
    ip: Option<&str>,
    refresh: Option<(Jti, Timestamp)>,
    method: AuthMethod,
) -> Event {
    let (user_agent, ip) = (user_agent.map(Into::into), ip.map(Into::into));
    if version == 1 {
        Event::SessionCreatedV1 {
            session,
            user: UserId(1),
            expires_at,
            user_agent,
            ip,
            refresh,
        }
    } else {
        Event::SessionCreated {
            session,
            user: UserId(1),
            expires_at,
            user_agent,
            ip,
            refresh,
            method,
        }
    }
}

fn cases(version: u16) -> Vec<(&'static str, Envelope)> {
    let at = Timestamp::from_millis(1_767_225_600_123);
    let env = |seq, event| Envelope {
        version,
        seq: Seq(seq),
        at,
        event,
    };
    let session = SessionHash([0xab; 32]);
    let jti = Jti([0x11; 16]);
    let jti2 = Jti([0x22; 16]);
    let created = |expires_at, user_agent, ip, refresh, method| {
        session_created(
            version, session, expires_at, user_agent, ip, refresh, method,
        )
    };
    let mut cases = vec![
        (
            "user_signed_up",
            env(
                1,
                Event::UserSignedUp {
                    user: UserId(1),
                    email: "ann@example.com".into(),
                    username: "ann".into(),
                    password_hash: PasswordHash::from_phc(
                        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
                    ),
                },
            ),
        ),
        (
            "session_created",
            env(
                2,
                created(
                    at.plus_secs(1_209_600),
                    Some("okhttp/4.12"),
                    Some("203.0.113.7"),
                    Some((jti, at.plus_secs(86_400))),
                    AuthMethod::Password,
                ),
            ),
        ),
        (
            "session_created_bare",
            env(
                3,
                created(at.plus_secs(60), None, None, None, AuthMethod::Unknown),
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
    ];
    if version >= 3 {
        cases.push((
            "revoked_evicted",
            env(
                15,
                Event::SessionRevoked {
                    session,
                    reason: RevokeReason::Evicted,
                },
            ),
        ));
    }
    if version >= 2 {
        cases.push((
            "refresh_tokens_expired",
            env(
                14,
                Event::RefreshTokensExpired {
                    sessions: vec![session, SessionHash([0xcd; 32])],
                    now: at.plus_secs(86_400),
                },
            ),
        ));
        cases.push((
            "session_created_signup",
            env(
                13,
                created(
                    at.plus_secs(600),
                    None,
                    Some("2001:db8::1"),
                    None,
                    AuthMethod::SignUp,
                ),
            ),
        ));
    }
    if version >= 4 {
        cases.extend(v4_cases(version, at, session));
    }
    cases
}

/// Format 4's events: addresses, passwords, keys, flows, reauthentication, the outbox. In an
/// order that folds: the new address becomes primary before the sign-up one is removed.
fn v4_cases(version: u16, at: Timestamp, session: SessionHash) -> Vec<(&'static str, Envelope)> {
    let env = |seq, event| Envelope {
        version,
        seq: Seq(seq),
        at,
        event,
    };
    let (user, work, home) = (UserId(1), "ann.work@example.com", "ann@example.com");
    let anonymous = SessionHash([0xef; 32]);
    let pending = SessionHash([0xee; 32]);
    vec![
        (
            "email_added",
            env(
                20,
                Event::EmailAdded {
                    user,
                    email: work.into(),
                },
            ),
        ),
        (
            "email_verified",
            env(
                21,
                Event::EmailVerified {
                    user,
                    email: work.into(),
                },
            ),
        ),
        (
            "primary_email_set",
            env(
                22,
                Event::PrimaryEmailSet {
                    user,
                    email: work.into(),
                },
            ),
        ),
        (
            "email_removed",
            env(
                23,
                Event::EmailRemoved {
                    user,
                    email: home.into(),
                },
            ),
        ),
        (
            "password_changed",
            env(
                24,
                Event::PasswordChanged {
                    user,
                    password_hash: PasswordHash::from_phc(
                        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdDI$aGFzaDI".into(),
                    ),
                    change: PasswordChange::Reset,
                },
            ),
        ),
        (
            "revoked_password_changed",
            env(
                25,
                Event::SessionRevoked {
                    session,
                    reason: RevokeReason::PasswordChanged,
                },
            ),
        ),
        (
            "session_created_code",
            env(
                26,
                Event::SessionCreated {
                    session,
                    user,
                    expires_at: at.plus_secs(1_209_600),
                    user_agent: Some("Dart/3.5 (dart:io)".into()),
                    ip: Some("198.51.100.4".into()),
                    refresh: None,
                    method: AuthMethod::Code,
                },
            ),
        ),
        (
            "key_issued",
            env(
                27,
                Event::KeyIssued {
                    key: SecretDigest([0x31; 32]),
                    purpose: KeyPurpose::VerifyEmail,
                    user,
                    email: work.into(),
                    expires_at: at.plus_secs(259_200),
                },
            ),
        ),
        (
            "key_issued_reset",
            env(
                28,
                Event::KeyIssued {
                    key: SecretDigest([0x32; 32]),
                    purpose: KeyPurpose::ResetPassword,
                    user,
                    email: work.into(),
                    expires_at: at.plus_secs(259_200),
                },
            ),
        ),
        (
            "key_spent",
            env(
                29,
                Event::KeySpent {
                    key: SecretDigest([0x31; 32]),
                },
            ),
        ),
        (
            "flow_started",
            env(
                30,
                Event::FlowStarted {
                    holder: anonymous,
                    kind: FlowKind::LoginByCode,
                    user: Some(user),
                    email: Some(work.into()),
                    code: Some(SecretDigest([0x41; 32])),
                    method: AuthMethod::Unknown,
                    expires_at: at.plus_secs(180),
                },
            ),
        ),
        (
            "flow_attempt_failed",
            env(
                31,
                Event::FlowAttemptFailed {
                    holder: anonymous,
                    kind: FlowKind::LoginByCode,
                },
            ),
        ),
        (
            "flow_code_resent",
            env(
                32,
                Event::FlowCodeResent {
                    holder: anonymous,
                    kind: FlowKind::LoginByCode,
                    code: SecretDigest([0x42; 32]),
                },
            ),
        ),
        (
            "flow_started_pending_login",
            env(
                33,
                Event::FlowStarted {
                    holder: pending,
                    kind: FlowKind::LoginVerifyEmail,
                    user: Some(user),
                    email: Some(work.into()),
                    code: None,
                    method: AuthMethod::Password,
                    expires_at: at.plus_secs(900),
                },
            ),
        ),
        (
            "flow_ended",
            env(
                34,
                Event::FlowEnded {
                    holder: pending,
                    kind: FlowKind::LoginVerifyEmail,
                },
            ),
        ),
        (
            "session_reauthenticated",
            env(
                35,
                Event::SessionReauthenticated {
                    session,
                    method: AuthMethod::Password,
                },
            ),
        ),
        (
            "mail_queued",
            env(
                36,
                Event::MailQueued {
                    mail: 1,
                    sealed: vec![0x5a; 48],
                },
            ),
        ),
        (
            "mail_queued_second",
            env(
                37,
                Event::MailQueued {
                    mail: 2,
                    sealed: vec![0x5b; 40],
                },
            ),
        ),
        (
            "mail_attempt_failed",
            env(38, Event::MailAttemptFailed { mail: 1 }),
        ),
        (
            "mail_ended",
            env(
                39,
                Event::MailEnded {
                    mail: 2,
                    sent: true,
                },
            ),
        ),
    ]
}

fn dir(version: u16) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/events/v{version}"))
}

/// Every format's fixtures decode to the same events forever. The current format re-encodes
/// byte for byte; an older one re-encodes to the same body under the current version (format 2
/// only added a variant).
#[test]
fn event_fixtures_decode_forever() {
    for version in 1..=FORMAT_VERSION {
        if std::env::var_os("HALLPASS_WRITE_FIXTURES").is_some() {
            std::fs::create_dir_all(dir(version)).unwrap();
            for (name, envelope) in cases(version) {
                let path = dir(version).join(format!("{name}.bin"));
                if !path.exists() && version == FORMAT_VERSION {
                    let mut bytes = Vec::new();
                    encode_envelope(&envelope, &mut bytes).unwrap();
                    std::fs::write(path, bytes).unwrap();
                }
            }
        }
        for (name, expected) in cases(version) {
            let path = dir(version).join(format!("{name}.bin"));
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            let (decoded, used) =
                decode_envelope(&bytes).unwrap_or_else(|e| panic!("v{version} {name}: {e}"));
            assert_eq!(used, bytes.len(), "v{version} {name}: trailing bytes");
            assert_eq!(decoded, expected, "v{version} {name}");
            let mut again = Vec::new();
            encode_envelope(&decoded, &mut again).unwrap();
            assert_eq!(
                again[..2],
                FORMAT_VERSION.to_le_bytes(),
                "v{version} {name}"
            );
            assert_eq!(
                again[2..],
                bytes[2..],
                "v{version} {name}: body re-encoding changed"
            );
        }
    }
}

/// The state a fixed event history of `version` folds into.
fn fixture_state(version: u16) -> hallpass::testing::State {
    let mut state = hallpass::testing::State::new(10_000);
    for (_, envelope) in cases(version) {
        state.apply(&envelope);
    }
    let at = Timestamp::from_millis(1_767_225_600_123);
    for (i, n) in [3u8, 5, 9].into_iter().enumerate() {
        let method = [
            AuthMethod::Password,
            AuthMethod::SignUp,
            AuthMethod::Unknown,
        ][i];
        let event = session_created(
            version,
            SessionHash([n; 32]),
            at.plus_secs(3_600),
            None,
            Some("192.0.2.1"),
            Some((Jti([n; 16]), at.plus_secs(60))),
            method,
        );
        state.apply(&Envelope {
            version,
            seq: Seq(100 + i as u64),
            at,
            event,
        });
    }
    state
}

/// `tests/fixtures/snapshots/v<N>.bin`: every snapshot version loads forever into the state it
/// was written from, and this build writes the current version's bytes exactly (snapshots are
/// deterministic).
#[test]
fn snapshot_fixtures_load_forever() {
    // Snapshot version, and the event format whose history it holds.
    for (version, format) in [(1u16, 1u16), (2, 2), (3, 4)] {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/fixtures/snapshots/v{version}.bin"));
        let state = fixture_state(format);
        if std::env::var_os("HALLPASS_WRITE_FIXTURES").is_some() && !path.exists() && version == 3 {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, state.to_snapshot()).unwrap();
        }
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        assert_eq!(bytes[..2], version.to_le_bytes());
        let loaded = hallpass::testing::State::from_snapshot(&bytes, 10_000).unwrap();
        if let Some(diff) = loaded.first_difference(&state) {
            panic!("snapshot fixture v{version} differs: {diff}");
        }
        if version == 3 {
            assert_eq!(state.to_snapshot(), bytes, "snapshot encoding changed");
        }
    }
}
