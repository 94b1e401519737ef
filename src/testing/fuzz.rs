//! Entry points shared by the cargo-fuzz targets in `fuzz/` and by the corpus-replay test.
//!
//! Each target is a one-line call into a function here, so `cargo test` (which replays every
//! committed corpus file through the same functions) and `cargo fuzz` exercise the same code.
//! Every function panics only when it finds a bug: a crash in the code under test, or a
//! violated property (a forged token accepted, a decode that does not re-encode, a model
//! mismatch).
//!
//! Not part of the public API.

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::clock::{ManualClock, Timestamp};
use crate::crypto::SidCipher;
use crate::engine::{Engine, EngineConfig, SessionMeta};
use crate::event::codec::{decode_envelope, decode_record, encode_envelope, encode_record};
use crate::event::{Envelope, FORMAT_VERSION, PasswordHash};
use crate::store::MemStore;
use crate::testing::model;
use crate::token::{
    Algorithm, JwtCodec, JwtSettings, JwtTokenStrategy, KeySet, RequestCredentials, Resolved,
    SessionTokenStrategy, TokenStrategy, TokenUse, resolve,
};

/// The HMAC secret of the fuzzing key set (test-only, public by design).
pub const FUZZ_SECRET: &[u8] = b"hallpass-fuzzing-secret-not-for-production";

/// The time the fuzz targets verify at: 2026-01-01T00:00:00Z.
pub const FUZZ_NOW: i64 = 1_767_225_600;

fn hs256() -> &'static JwtCodec {
    static CODEC: OnceLock<JwtCodec> = OnceLock::new();
    CODEC.get_or_init(|| {
        // why: a fixed, non-empty secret with a supported algorithm cannot fail to load.
        #[expect(clippy::expect_used, reason = "constant input, see why")]
        let keys = KeySet::from_secret(Algorithm::HS256, FUZZ_SECRET).expect("fuzz key set");
        JwtCodec::new(keys)
    })
}

/// Arbitrary bytes as a bearer token: never panics, and never accepts a token whose signature
/// an independent HMAC-SHA256 does not confirm.
pub fn jwt_parse(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    for expected in [TokenUse::Access, TokenUse::Refresh] {
        if hs256().verify(token, expected, FUZZ_NOW).is_ok() {
            assert!(
                independently_signed(token),
                "accepted a token the key did not sign"
            );
        }
    }
}

/// Whether `token`'s signature is HMAC-SHA256 over its signing input under [`FUZZ_SECRET`],
/// computed without jsonwebtoken.
fn independently_signed(token: &str) -> bool {
    let Some((input, signature)) = token.rsplit_once('.') else {
        return false;
    };
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    signature == hmac_sha256(FUZZ_SECRET, input.as_bytes())
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// Arbitrary text as a `sid` claim: never panics; what decrypts re-encrypts to the same text
/// under the same IV.
pub fn sid_decode(data: &[u8]) {
    let Ok(sid) = std::str::from_utf8(data) else {
        return;
    };
    let cipher = SidCipher::from_secret_key(FUZZ_SECRET);
    if let Some(key) = cipher.decrypt(sid) {
        let raw = base64::engine::general_purpose::STANDARD.decode(sid.trim());
        if let Ok(raw) = raw
            && let Ok(iv) = <[u8; 16]>::try_from(&raw[..16.min(raw.len())])
        {
            let again = cipher.encrypt_with_iv(&key, iv);
            assert_eq!(
                base64::engine::general_purpose::STANDARD
                    .decode(&again)
                    .ok(),
                Some(raw),
                "sid round trip"
            );
        }
    }
}

struct HeaderRig {
    engine: Engine,
    jwt: JwtTokenStrategy,
    session_key: String,
}

fn header_rig() -> &'static HeaderRig {
    static RIG: OnceLock<HeaderRig> = OnceLock::new();
    RIG.get_or_init(|| {
        let clock = ManualClock::new(Timestamp::from_secs(FUZZ_NOW));
        #[expect(
            clippy::expect_used,
            reason = "an in-memory engine on a fresh store opens"
        )]
        let (engine, _) =
            Engine::open(MemStore::new(), Arc::new(clock), EngineConfig::default()).expect("open");
        let jwt = JwtTokenStrategy::new(
            hs256().clone(),
            SidCipher::from_secret_key(FUZZ_SECRET),
            JwtSettings::default(),
        );
        #[expect(clippy::expect_used, reason = "fresh engine, fresh user")]
        let user = engine
            .sign_up("fuzz@example.com", "fuzz", PasswordHash::unusable())
            .expect("user");
        #[expect(clippy::expect_used, reason = "fresh engine, known user")]
        let session = engine
            .create_session(user.id, SessionMeta::default(), None)
            .expect("s");
        let session_key = session.key.expose().to_owned();
        HeaderRig {
            engine,
            jwt,
            session_key,
        }
    })
}

/// Arbitrary `X-Session-Token` and `Authorization` values (split at the first NUL byte):
/// never panics, and authenticates only with the rig's real session key or a token it signed.
pub fn auth_headers(data: &[u8]) {
    let rig = header_rig();
    let (a, b) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let session_token = std::str::from_utf8(a).ok().filter(|s| !s.is_empty());
    let authorization = b.and_then(|b| std::str::from_utf8(b).ok());
    let credentials = RequestCredentials {
        session_token,
        authorization,
    };
    let strategies: [&dyn TokenStrategy; 2] = [&SessionTokenStrategy, &rig.jwt];
    for strategy in strategies {
        if let Resolved::Authenticated(auth) = resolve(strategy, &rig.engine, &credentials) {
            match session_token {
                Some(token) => assert_eq!(token, rig.session_key, "authenticated a wrong key"),
                None => {
                    let token = authorization.and_then(|a| rig.jwt.bearer(a)).unwrap_or("");
                    assert!(
                        independently_signed(token),
                        "authenticated an unsigned bearer"
                    );
                    assert!(auth.claims.is_some());
                }
            }
        }
    }
}

/// Arbitrary bytes as a log record and as an envelope: never panics; what decodes re-encodes
/// to the same bytes, except that an older format's version field becomes the current one.
pub fn event_decode(data: &[u8]) {
    if let Ok(batch) = decode_record(data) {
        #[expect(clippy::expect_used, reason = "a property: what decoded encodes again")]
        let again = encode_record(&batch).expect("what decoded encodes again");
        if batch.iter().all(|e| e.version == FORMAT_VERSION) {
            assert_eq!(again, data, "record re-encoding differs");
        } else {
            let strip = |b: Vec<Envelope>| -> Vec<Envelope> {
                b.into_iter()
                    .map(|e| Envelope {
                        version: FORMAT_VERSION,
                        ..e
                    })
                    .collect()
            };
            let redecoded = decode_record(&again).map(strip);
            assert_eq!(redecoded, Ok(strip(batch)), "record re-encoding differs");
        }
    }
    if let Ok((envelope, used)) = decode_envelope(data) {
        let mut again = Vec::new();
        #[expect(clippy::expect_used, reason = "a property: what decoded encodes again")]
        encode_envelope(&envelope, &mut again).expect("what decoded encodes again");
        assert_eq!(again[..2], FORMAT_VERSION.to_le_bytes(), "version written");
        assert_eq!(again[2..], data[2..used], "envelope re-encoding differs");
        assert_eq!(data[..2], envelope.version.to_le_bytes(), "version decoded");
    }
}

/// Arbitrary bytes as an operation sequence against the engine and the reference model.
pub fn engine_ops(data: &[u8]) {
    model::run(&model::ops_from_bytes(data), model::Backend::Memory);
}

/// Arbitrary bytes as the JSON body of `auth/login` / `auth/signup`, `tokens/refresh`,
/// `DELETE auth/sessions`, and the login-code and reauthentication endpoints: never panics,
/// and every rejection is a 4xx envelope whose body carries `errors` or nothing besides
/// `status`.
pub fn http_body(data: &[u8]) {
    use crate::web::input;
    let rejections = [
        input::credentials(data).err(),
        input::refresh_token(data).err(),
        input::session_ids(data).err(),
        // --- password change and reset ---
        input::password_change(data).err(),
        input::password_reset_request(data).err(),
        input::password_reset(data).err(),
        // --- login by code and reauthentication ---
        input::login_code_email(data).err(),
        input::typed_code(data).err(),
        input::reauthentication_password(data).err(),
        input::reauthentication_code_recipient(data).err(),
        input::email_address(data).err(),
        input::mark_primary(data).err(),
        input::verification_key(data).err(),
    ];
    for error in rejections.into_iter().flatten() {
        let reply = error.reply();
        assert!(
            reply.status.is_client_error(),
            "input caused {}",
            reply.status
        );
        let members = reply.envelope_members();
        assert!(
            members.is_some_and(|m| m.is_empty() || m.get("errors").is_some_and(|e| e.is_array())),
            "not an envelope: {:?}",
            reply.body
        );
    }
}
