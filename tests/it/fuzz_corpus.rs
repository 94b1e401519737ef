//! Replays every committed fuzz corpus file (`fuzz/corpus/<target>/*`) through the same
//! `hallpass::testing::fuzz` functions the cargo-fuzz targets call, so `cargo test` covers them.
//! `HALLPASS_WRITE_CORPUS=1 cargo test fuzz_corpus` (re)writes the hand-made seed files.

use std::path::PathBuf;

use hallpass::testing::fuzz::{FUZZ_NOW, FUZZ_SECRET};
use hallpass::testing::{Envelope, Event, encode_envelope, encode_record, fuzz};
use hallpass::{
    Algorithm, Claims, Jti, JwtCodec, KeySet, PasswordHash, RevokeReason, Seq, SessionHash,
    SidCipher, Timestamp, TokenUse, UserId,
};

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn replay(target: &str, f: fn(&[u8])) -> usize {
    let dir = corpus(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| f(&data));
        assert!(result.is_ok(), "{target}: {path:?} fails");
        n += 1;
    }
    assert!(n > 0, "{target}: empty corpus");
    n
}

fn write_seeds() {
    let write = |target: &str, name: &str, data: &[u8]| {
        let dir = corpus(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
    };
    let codec = JwtCodec::new(KeySet::from_secret(Algorithm::HS256, FUZZ_SECRET).unwrap());
    let sid = SidCipher::from_secret_key(FUZZ_SECRET);
    let claims = |token_use, exp| Claims {
        sub: "1".into(),
        iat: FUZZ_NOW - 10,
        exp,
        jti: "0b8c5d0e-7a3f-4c8e-9d51-2f7b1f4c2a10".into(),
        sid: sid.encrypt("abcdefghijklmnopqrstuvwxyz012345"),
        token_use,
    };
    let access = codec
        .sign(&claims(TokenUse::Access, FUZZ_NOW + 300), None)
        .unwrap();
    let refresh = codec
        .sign(&claims(TokenUse::Refresh, FUZZ_NOW + 86_400), None)
        .unwrap();
    let expired = codec
        .sign(&claims(TokenUse::Access, FUZZ_NOW - 1), None)
        .unwrap();
    write("jwt_parse", "access", access.as_bytes());
    write("jwt_parse", "refresh", refresh.as_bytes());
    write("jwt_parse", "expired", expired.as_bytes());
    write(
        "jwt_parse",
        "alg_none",
        b"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIn0.",
    );
    write("jwt_parse", "garbage", b"not.a.jwt");
    write(
        "sid_decode",
        "valid",
        sid.encrypt("abcdefghijklmnopqrstuvwxyz012345").as_bytes(),
    );
    write("sid_decode", "short", b"AAAA");
    write("sid_decode", "iv_only", b"AAAAAAAAAAAAAAAAAAAAAA==");
    let mut headers = b"\0Bearer ".to_vec();
    headers.extend_from_slice(access.as_bytes());
    write("auth_headers", "bearer", &headers);
    write(
        "auth_headers",
        "session_token",
        b"abcdefghijklmnopqrstuvwxyz012345",
    );
    write("auth_headers", "both", b"x\0bearer abc");
    let at = Timestamp::from_secs(FUZZ_NOW);
    let session = SessionHash([7; 32]);
    let events = vec![
        Event::UserSignedUp {
            user: UserId(1),
            email: "a@example.com".into(),
            username: "a".into(),
            password_hash: PasswordHash::unusable(),
        },
        Event::SessionCreated {
            session,
            user: UserId(1),
            expires_at: at.plus_secs(60),
            user_agent: Some("ua".into()),
            ip: None,
            refresh: Some((Jti([1; 16]), at.plus_secs(60))),
            method: hallpass::AuthMethod::Password,
        },
        Event::RefreshRotated {
            session,
            old: Jti([1; 16]),
            new: Jti([2; 16]),
            expires_at: at,
        },
        Event::SessionsSeen {
            seen: vec![(session, at)],
        },
        Event::SessionRevoked {
            session,
            reason: RevokeReason::ReuseDetected,
        },
        Event::ExpiredSwept { now: at },
    ];
    let envelopes: Vec<Envelope> = events
        .into_iter()
        .enumerate()
        .map(|(i, event)| Envelope {
            version: 1,
            seq: Seq(i as u64 + 1),
            at,
            event,
        })
        .collect();
    write(
        "event_decode",
        "record",
        &encode_record(&envelopes).unwrap(),
    );
    for (i, envelope) in envelopes.iter().enumerate() {
        let mut bytes = Vec::new();
        encode_envelope(envelope, &mut bytes).unwrap();
        write("event_decode", &format!("envelope_{i}"), &bytes);
    }
    write(
        "http_body",
        "login",
        br#"{"email": "a@example.com", "password": "correct horse"}"#,
    );
    write(
        "http_body",
        "refresh",
        br#"{"refresh_token": "eyJ.eyJ.sig"}"#,
    );
    write("http_body", "sessions", br#"{"sessions": [1, 2, 3]}"#);
    write(
        "http_body",
        "wrong_types",
        br#"{"email": 1, "password": null, "sessions": "x"}"#,
    );
    write("http_body", "not_json", b"\xff\xfe{");
    // --- password change and reset ---
    write(
        "http_body",
        "password_change",
        br#"{"current_password": "old horse", "new_password": ["x", {"y": null}]}"#,
    );
    write(
        "http_body",
        "password_request",
        br#"{"email": "  Ann@Example.COM  ", "extra": 1}"#,
    );
    write(
        "http_body",
        "password_reset",
        br#"{"key": 5, "password": "it's \u0000 \"quoted\" \\ \u2028"}"#,
    );
    // --- e-mail addresses and verification ---
    write(
        "http_body",
        "email_primary",
        br#"{"email": "a@example.com", "primary": "yes"}"#,
    );
    write(
        "http_body",
        "email_primary_falsy",
        br#"{"email": ["a"], "primary": "FALSE"}"#,
    );
    write("http_body", "verify_key", br#"{"key": "  BCDF-GHJK  "}"#);
    write("http_body", "verify_key_number", br#"{"key": 5}"#);
    write("http_body", "empty", b"");
    // Two bytes per op: sign up, log in, refresh, concurrent refresh, advance, restart, reuse.
    write(
        "engine_ops",
        "login_refresh_retry",
        &[0, 0, 1, 0, 3, 0, 6, 0, 9, 20, 3, 0, 12, 0, 3, 0],
    );
    write(
        "engine_ops",
        "reuse_after_window",
        &[0, 0, 1, 0, 3, 0, 9, 50, 3, 0, 14, 0, 7, 0],
    );
    write(
        "engine_ops",
        "expiry_sweep",
        &[0, 0, 1, 0, 1, 0, 11, 200, 14, 0, 13, 0, 12, 0, 3, 1],
    );
}

#[test]
fn fuzz_corpora_replay() {
    if std::env::var_os("HALLPASS_WRITE_CORPUS").is_some() {
        write_seeds();
    }
    let targets: [(&str, fn(&[u8])); 6] = [
        ("http_body", fuzz::http_body),
        ("jwt_parse", fuzz::jwt_parse),
        ("sid_decode", fuzz::sid_decode),
        ("auth_headers", fuzz::auth_headers),
        ("event_decode", fuzz::event_decode),
        ("engine_ops", fuzz::engine_ops),
    ];
    for (target, f) in targets {
        let n = replay(target, f);
        eprintln!("{target}: {n} corpus files replayed");
    }
}
