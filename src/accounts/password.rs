//! Password hashing: argon2id with OWASP's parameters, stored as PHC strings.
//!
//! Signup calls [`hash_password`] once the validators pass; login calls [`authenticate`], which
//! is the one place that reads a stored hash: it verifies against the user's PHC string, or
//! against a dummy when the e-mail is unknown, so that both cases cost one argon2 evaluation
//! (no account enumeration by timing).
//!
//! Invariants:
//! - every hash we produce is argon2id v19, m = 19456 KiB, t = 2, p = 1, with a fresh 16-byte
//!   salt from [`crate::crypto`] and a 32-byte output;
//! - verification never panics on stored data and never runs argon2 with parameters above
//!   [`MAX_M_COST_KIB`], [`MAX_T_COST`] and [`MAX_P_COST`], so a corrupt or planted hash cannot
//!   make one login allocate gigabytes or spin for minutes;
//! - passwords longer than [`MAX_PASSWORD_BYTES`] are never hashed (an error) nor verified
//!   (`false`).

use std::hint::black_box;
use std::sync::{Mutex, OnceLock};

use argon2::password_hash::{self, Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;

use crate::crypto;
use crate::engine::Engine;
use crate::event::{PasswordHash as StoredHash, UserId};
use crate::state::User;

/// The longest password accepted, in bytes of UTF-8.
///
/// Like Django's historical 4096-character guard, this caps the work an anonymous request can
/// cause before any check; longer passwords are rejected by [`hash_password`] and never match
/// in [`verify_password`].
pub const MAX_PASSWORD_BYTES: usize = 4096;

/// Largest memory cost (KiB) [`verify_password`] accepts from a stored hash: 64 MiB, a bit over
/// three times ours, leaving room for a future parameter upgrade.
pub(crate) const MAX_M_COST_KIB: u32 = 65_536;

/// Largest time cost (passes) [`verify_password`] accepts from a stored hash.
pub(crate) const MAX_T_COST: u32 = 8;

/// Largest parallelism (lanes) [`verify_password`] accepts from a stored hash.
pub(crate) const MAX_P_COST: u32 = 4;

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The password is longer than [`MAX_PASSWORD_BYTES`]; it was not hashed.
    #[error("password is {len} bytes long, more than the {MAX_PASSWORD_BYTES} allowed")]
    TooLong {
        /// Length of the rejected password in bytes.
        len: usize,
    },
    /// argon2 itself failed (an internal fault: our parameters and salt are always valid).
    #[error("argon2 hashing failed")]
    Hashing(#[source] password_hash::Error),
}

/// Hashes `password` with argon2id (m = 19456 KiB, t = 2, p = 1) and a fresh random 16-byte
/// salt, returning the PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`).
///
/// Two calls with the same password give different strings (different salts).
///
/// # Errors
///
/// [`PasswordError::TooLong`] if `password` exceeds [`MAX_PASSWORD_BYTES`];
/// [`PasswordError::Hashing`] if argon2 fails, which our fixed parameters rule out in practice.
pub fn hash_password(password: &str) -> Result<StoredHash, PasswordError> {
    hash_phc(password).map(StoredHash::from_phc)
}

/// The user with normalized e-mail `email` if `password` is theirs; `None` for a wrong
/// password, an unknown e-mail or a user without a usable password, after the same work in
/// every case (one argon2 verification), so neither timing nor answer tells which.
pub fn authenticate(engine: &Engine, email: &str, password: &str) -> Option<User> {
    match engine.login_candidate(email) {
        Some((user, hash)) if hash.is_usable() => verify_password(password, &hash).then_some(user),
        _ => {
            verify_dummy(password);
            None
        }
    }
}

// --- password change and reset ---

/// Whether `password` is the current password of `user` (a password change checks it):
/// `false` for a wrong one, an unknown user, or a user without a usable password, the last two
/// without argon2 work (only the user's own session asks, so timing tells it nothing new).
pub(crate) fn verify_user_password(engine: &Engine, user: UserId, password: &str) -> bool {
    match engine.password_hash_of(user) {
        Some(hash) if hash.is_usable() => verify_password(password, &hash),
        _ => false,
    }
}

/// Whether `password` matches `hash`; see [`authenticate`] for the login path.
///
/// The output comparison is constant-time (argon2's verifier). Anything that is not an argon2id
/// PHC string within our parameter caps (64 MiB of memory, 8 passes, 4 lanes) is
/// `false` without running argon2, as is a password over [`MAX_PASSWORD_BYTES`]. Never panics.
pub fn verify_password(password: &str, hash: &StoredHash) -> bool {
    verify_phc(password, hash.phc())
}

/// [`hash_password`]'s PHC string.
fn hash_phc(password: &str) -> Result<String, PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong {
            len: password.len(),
        });
    }
    let salt = SaltString::encode_b64(&crypto::random_bytes::<SALT_BYTES>())
        .map_err(PasswordError::Hashing)?;
    let params = Params::new(M_COST_KIB, T_COST, P_COST, Some(OUTPUT_BYTES))
        .map_err(|e| PasswordError::Hashing(e.into()))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_buf)
        .map_err(PasswordError::Hashing)?;
    let mut out = [0u8; OUTPUT_BYTES];
    with_blocks(params.block_count(), |blocks| {
        argon.hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, blocks)
    })
    .map_err(|e| PasswordError::Hashing(e.into()))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(PasswordError::Hashing)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(PasswordError::Hashing)?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `phc` (see [`verify_password`]).
fn verify_phc(password: &str, phc: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES || phc.len() > MAX_PHC_BYTES {
        return false;
    }
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    if hash.algorithm != Algorithm::Argon2id.ident() {
        return false;
    }
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    if params.m_cost() > MAX_M_COST_KIB
        || params.t_cost() > MAX_T_COST
        || params.p_cost() > MAX_P_COST
    {
        return false;
    }
    let Ok(version) = hash.version.map_or(Ok(Version::V0x13), Version::try_from) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let argon = Argon2::new(Algorithm::Argon2id, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    let computed = with_blocks(params.block_count(), |blocks| {
        argon.hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, blocks)
    });
    computed.is_ok() && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

/// argon2's working memory, reused: each hash or check borrows a buffer of at least the blocks
/// it needs and gives it back. Allocating 19 MiB afresh per login made glibc keep the freed
/// buffers (its mmap threshold rises to their size after the first free), so a login flood
/// peaked at 1.4-1.8 GiB although only a few hashes ran at once; with reuse, memory is the
/// buffers of the most hashes that ever ran at once (the password gate's slots).
static BLOCKS: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

/// At most this many idle buffers are kept; more (callers beyond the gate, through the library)
/// are freed after use.
const MAX_IDLE_BUFFERS: usize = 16;

/// Runs `f` with `count` argon2 blocks from the pool, wiped afterwards (they hold values
/// derived from the password).
fn with_blocks<R>(count: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
    let taken = BLOCKS.lock().unwrap_or_else(|e| e.into_inner()).pop();
    let mut blocks = taken.unwrap_or_default();
    if blocks.len() < count {
        blocks.resize(count, Block::new());
    }
    let result = f(&mut blocks[..count]);
    blocks[..count].fill(Block::new());
    let mut idle = BLOCKS.lock().unwrap_or_else(|e| e.into_inner());
    if idle.len() < MAX_IDLE_BUFFERS {
        idle.push(blocks);
    }
    result
}

/// Spends the same time as [`verify_password`] on a real account, and discards the result.
///
/// Login calls this when no account has the e-mail, so an unknown e-mail and a wrong password
/// are indistinguishable by timing. It verifies `password` against a fixed hash of a constant
/// made with our parameters; that hash is computed on the first call, which therefore costs one
/// extra hash: call `verify_dummy("")` once at startup to keep the first login in line too.
fn verify_dummy(password: &str) {
    match dummy_phc() {
        Some(phc) => {
            black_box(verify_phc(password, phc));
        }
        // Unreachable in practice (hashing a constant with valid parameters); hashing the
        // password instead still costs one argon2 evaluation.
        None => {
            black_box(hash_phc(password).is_ok());
        }
    }
}

/// The hash [`verify_dummy`] verifies against, made with our parameters on first use; `None`
/// only if argon2 failed on a constant input.
fn dummy_phc() -> Option<&'static str> {
    static DUMMY_PHC: OnceLock<Option<String>> = OnceLock::new();
    DUMMY_PHC
        .get_or_init(|| hash_phc(DUMMY_PASSWORD).ok())
        .as_deref()
}

/// OWASP's argon2id recommendation: 19 MiB of memory ...
const M_COST_KIB: u32 = 19_456;
/// ... two passes ...
const T_COST: u32 = 2;
/// ... one lane.
const P_COST: u32 = 1;

/// Salt length in bytes (128 bits, as the PHC string format recommends).
const SALT_BYTES: usize = 16;

/// Hash output length in bytes (argon2's default).
const OUTPUT_BYTES: usize = 32;

/// Longest PHC string worth parsing; ours are 97 bytes. Keeps parsing cheap on junk input.
const MAX_PHC_BYTES: usize = 512;

/// What the dummy hash is a hash of; no account ever has it, and its result is discarded.
const DUMMY_PASSWORD: &str = "hallpass dummy password for timing equalization";

#[cfg(test)]
mod tests {
    use super::*;

    /// One real-parameter hash for the whole module: each costs tens of milliseconds (far more
    /// in debug builds).
    fn real_hash() -> &'static str {
        static HASH: OnceLock<String> = OnceLock::new();
        HASH.get_or_init(|| hash_phc("correct horse battery staple").unwrap())
    }

    #[test]
    fn round_trip_with_real_parameters() {
        let phc = real_hash();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let parsed = PasswordHash::new(phc).unwrap();
        assert_eq!(parsed.salt.unwrap().len(), 22); // 16 bytes, unpadded base64
        assert_eq!(parsed.hash.unwrap().len(), 32);
        assert!(verify_phc("correct horse battery staple", phc));
        assert!(!verify_phc("correct horse battery stapl", phc));
        assert!(!verify_phc("", phc));
    }

    #[test]
    fn salts_differ() {
        // Cheap parameters: this test is about the salt, not the cost.
        let params = Params::new(8, 1, 1, None).unwrap();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salts: Vec<String> = (0..2)
            .map(|_| {
                use argon2::password_hash::PasswordHasher;
                let salt = SaltString::encode_b64(&crypto::random_bytes::<SALT_BYTES>()).unwrap();
                argon.hash_password(b"pw", &salt).unwrap().to_string()
            })
            .collect();
        assert_ne!(salts[0], salts[1]);
    }

    #[test]
    fn too_long_password_is_rejected_before_hashing() {
        let long = "a".repeat(MAX_PASSWORD_BYTES + 1);
        assert!(matches!(
            hash_password(&long),
            Err(PasswordError::TooLong { len }) if len == MAX_PASSWORD_BYTES + 1
        ));
        assert!(!verify_phc(&long, real_hash()));
        verify_dummy(&long);
    }

    #[test]
    fn malformed_phc_is_false() {
        let real = real_hash();
        let cases = [
            String::new(),
            "$".to_owned(),
            "not a hash".to_owned(),
            "$argon2id$".to_owned(),
            "$argon2id$v=19$m=19456,t=2,p=1$".to_owned(),
            "$argon2id$v=19$m=abc,t=2,p=1$c2FsdHNhbHQ$aGFzaA".to_owned(),
            "$argon2id$v=99$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
            "$argon2id$v=19$m=19456,t=2,p=1,x=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
            "$argon2id$v=19$m=19456,t=0,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$!!!!".to_owned(),
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0".to_owned(),
            format!("{real}$extra"),
            real.replacen("argon2id", "argon2i", 1),
            real.replacen("argon2id", "pbkdf2-sha256", 1),
            format!("{real}{}", "A".repeat(MAX_PHC_BYTES)),
            "$argon2id$\u{0}$é$".to_owned(),
            real[..real.len() - 1].to_owned(),
        ];
        for phc in &cases {
            assert!(!verify_phc("correct horse battery staple", phc), "{phc:?}");
        }
    }

    #[test]
    fn parameters_above_caps_are_refused_without_running_argon2() {
        let real = real_hash();
        // Correct salt and hash, but costs that would take seconds or gigabytes if honoured.
        for params in [
            "m=4194304,t=2,p=1", // 4 GiB
            "m=19456,t=4000000000,p=1",
            "m=19456,t=2,p=16777215",
            "m=65537,t=2,p=1",
            "m=19456,t=9,p=1",
            "m=19456,t=2,p=5",
        ] {
            let planted = real.replacen("m=19456,t=2,p=1", params, 1);
            assert!(
                !verify_phc("correct horse battery staple", &planted),
                "{params}"
            );
        }
    }

    #[test]
    fn dummy_verify_runs_against_a_hash_with_our_parameters() {
        verify_dummy("some password");
        let phc = dummy_phc().unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert_eq!(phc.len(), real_hash().len());
    }

    /// Our hashes and the argon2 crate's own are the same PHC strings: hashes made before the
    /// buffer pool (by `PasswordHasher`) still verify, and ours verify with `PasswordVerifier`.
    #[test]
    fn pooled_hashing_matches_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let params = Params::new(M_COST_KIB, T_COST, P_COST, None).unwrap();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::encode_b64(&[7u8; SALT_BYTES]).unwrap();
        let theirs = argon.hash_password(b"pw one", &salt).unwrap().to_string();
        assert!(verify_phc("pw one", &theirs));
        assert!(!verify_phc("pw two", &theirs));
        let ours = real_hash();
        let parsed = PasswordHash::new(ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery staple", &parsed)
                .is_ok()
        );
        assert_eq!(ours.len(), theirs.len());
    }

    #[test]
    fn error_display_has_no_secret() {
        let err = hash_password(&"s".repeat(5000)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "password is 5000 bytes long, more than the 4096 allowed"
        );
    }
}
