//! The algorithms a key set can be pinned to, the kind of key each needs, and why a key or
//! algorithm could not be used.

use std::fmt;
use std::str::FromStr;

/// A JWT signature algorithm hallpass can sign and verify with.
///
/// Invariant: the names ([`Algorithm::as_str`], `FromStr`, `Display`) are exactly the JOSE
/// `alg` values, case-sensitive, as allauth's `HEADLESS_JWT_ALGORITHM` takes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC with SHA-256 over a shared secret.
    HS256,
    /// HMAC with SHA-384 over a shared secret.
    HS384,
    /// HMAC with SHA-512 over a shared secret.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (allauth's default).
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

impl Algorithm {
    /// Every supported algorithm, in declaration order.
    pub const ALL: [Algorithm; 8] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ];

    /// The JOSE `alg` name, e.g. `"RS256"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::ES256 => "ES256",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// Whether this is an HMAC algorithm (a shared secret, no `kid`, no JWKS entry).
    pub const fn is_symmetric(self) -> bool {
        matches!(self, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
    }

    /// The same algorithm in jsonwebtoken's terms.
    pub(crate) const fn to_jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Algorithm::HS256 => jsonwebtoken::Algorithm::HS256,
            Algorithm::HS384 => jsonwebtoken::Algorithm::HS384,
            Algorithm::HS512 => jsonwebtoken::Algorithm::HS512,
            Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
            Algorithm::RS384 => jsonwebtoken::Algorithm::RS384,
            Algorithm::RS512 => jsonwebtoken::Algorithm::RS512,
            Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
            Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        }
    }

    pub(super) const fn family(self) -> Family {
        match self {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Family::Hmac,
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 => Family::Rsa,
            Algorithm::ES256 => Family::P256,
            Algorithm::EdDSA => Family::Ed25519,
        }
    }
}

impl FromStr for Algorithm {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|alg| alg.as_str() == s)
            .ok_or_else(|| KeyError::UnsupportedAlgorithm {
                name: s.chars().take(32).collect(),
            })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a key or algorithm could not be used.
///
/// Invariant: no variant carries key material; `Display` is safe to log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The algorithm name is not one of [`Algorithm`]'s (compared case-sensitively).
    #[error("unsupported jwt algorithm {name:?}")]
    UnsupportedAlgorithm {
        /// The name as given, cut to 32 characters.
        name: String,
    },
    /// The kind of key does not fit the algorithm (a secret for RS256, a PEM for HS256).
    #[error("{algorithm} needs {needs}")]
    WrongKeyKind {
        /// The algorithm of the key set.
        algorithm: Algorithm,
        /// What it needs instead.
        needs: &'static str,
    },
    /// An HMAC secret of zero bytes.
    #[error("jwt secret is empty")]
    EmptySecret,
    /// The input is not a PEM block we can read.
    #[error("cannot read pem key: {reason}")]
    Pem {
        /// What was wrong with it.
        reason: &'static str,
    },
    /// The PEM holds a key, but not one usable for the algorithm.
    #[error("not a usable {algorithm} key: {reason}")]
    InvalidKey {
        /// The algorithm of the key set.
        algorithm: Algorithm,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// jsonwebtoken has no crypto backend (none or both of its backend features are enabled).
    #[error("no jwt crypto backend: jsonwebtoken needs exactly one of aws_lc_rs and rust_crypto")]
    NoCryptoBackend,
    /// The OS or aws-lc failed to generate a key.
    #[error("{algorithm} key generation failed")]
    Generation {
        /// The algorithm asked for.
        algorithm: Algorithm,
    },
    /// The private key did not verify its own signature with the public key derived from it.
    #[error("{algorithm} key failed its sign-and-verify self-test")]
    SelfTest {
        /// The algorithm of the key set.
        algorithm: Algorithm,
    },
}

/// The kind of key an [`Algorithm`] needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Family {
    /// A shared secret (HS*).
    Hmac,
    /// RSA (RS*).
    Rsa,
    /// ECDSA P-256 (ES256).
    P256,
    /// Ed25519 (EdDSA).
    Ed25519,
}
