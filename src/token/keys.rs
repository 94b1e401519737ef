//! JWT algorithms and keys: the signing key, older verification-only keys, the JWKS document,
//! and key generation.
//!
//! A [`KeySet`] is built once from configuration and shared (behind an `Arc` in
//! [`JwtCodec`](super::jwt::JwtCodec)). It owns these invariants:
//!
//! - **One algorithm.** Every key in a set is a key for the set's [`Algorithm`]; a token's own
//!   header never chooses the algorithm or the key type.
//! - **Public halves are derived, then proven.** The verification key of the signing key is
//!   computed from the private key (never configured separately), and construction signs and
//!   verifies a probe message with the pair, so a set that exists can sign tokens it accepts.
//! - **`kid` is the RFC 7638 thumbprint.** Asymmetric keys are named by the base64url SHA-256
//!   thumbprint of their public JWK, as allauth names them; HMAC keys have no `kid`.
//! - **No key material leaks.** `Debug` shows the algorithm and kids only; jsonwebtoken's key
//!   types zeroize on drop and our intermediate DER buffers are [`Zeroizing`].
//!
//! Keys are read from unencrypted PEM: PKCS#8 (`BEGIN PRIVATE KEY`) for every algorithm, plus
//! PKCS#1 (`BEGIN RSA PRIVATE KEY`) for RSA and SEC1 (`BEGIN EC PRIVATE KEY`) for ES256.

mod algorithm;
mod material;

pub use algorithm::{Algorithm, KeyError};

use std::fmt;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::signature as aws_sig;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use self::algorithm::Family;
use self::material::{PemBlock, VerificationKey, load_private, load_public, pem_encode};

/// One signing key plus older verification-only keys, all for one [`Algorithm`].
///
/// Invariants: one algorithm for every key; the signing
/// key's public half is derived and self-tested; asymmetric keys are found by their RFC 7638
/// `kid`, unique within the set; HMAC sets hold exactly one secret and no `kid`.
pub struct KeySet {
    algorithm: Algorithm,
    provider: &'static CryptoProvider,
    signing: EncodingKey,
    /// The verification half of `signing`; the first key [`KeySet::jwks`] lists.
    current: VerificationKey,
    /// Older keys that still verify tokens but never sign.
    older: Vec<VerificationKey>,
    /// base64url of the header JSON of every token this set signs (constant per signing key).
    header_b64: String,
    /// The private key parsed once for asymmetric algorithms. jsonwebtoken re-parses and
    /// re-validates the DER on every signature (about a third of an RS256 signing here).
    prepared: Option<Prepared>,
}

/// An asymmetric private key, parsed once, that signs without jsonwebtoken.
enum Prepared {
    Rsa(aws_sig::RsaKeyPair, &'static dyn aws_sig::RsaEncoding),
    Ec(aws_sig::EcdsaKeyPair),
    Ed(aws_sig::Ed25519KeyPair),
}

impl Prepared {
    fn new(algorithm: Algorithm, der: &[u8]) -> Option<Prepared> {
        match algorithm {
            Algorithm::RS256 => Some(Prepared::Rsa(
                aws_sig::RsaKeyPair::from_der(der).ok()?,
                &aws_sig::RSA_PKCS1_SHA256,
            )),
            Algorithm::RS384 => Some(Prepared::Rsa(
                aws_sig::RsaKeyPair::from_der(der).ok()?,
                &aws_sig::RSA_PKCS1_SHA384,
            )),
            Algorithm::RS512 => Some(Prepared::Rsa(
                aws_sig::RsaKeyPair::from_der(der).ok()?,
                &aws_sig::RSA_PKCS1_SHA512,
            )),
            Algorithm::ES256 => Some(Prepared::Ec(
                aws_sig::EcdsaKeyPair::from_pkcs8(&aws_sig::ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .ok()?,
            )),
            Algorithm::EdDSA => Some(Prepared::Ed(aws_sig::Ed25519KeyPair::from_pkcs8(der).ok()?)),
            _ => None,
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match self {
            Prepared::Rsa(pair, encoding) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(*encoding, &rng, message, &mut signature)?;
                Ok(signature)
            }
            Prepared::Ec(pair) => Ok(pair.sign(&rng, message)?.as_ref().to_vec()),
            Prepared::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

impl KeySet {
    /// A key set for an HMAC algorithm with the shared `secret`.
    ///
    /// allauth signs with `HEADLESS_JWT_PRIVATE_KEY`, or `SECRET_KEY` when that is empty; the
    /// caller picks which bytes to pass. HMAC tokens carry no `kid`.
    ///
    /// # Errors
    ///
    /// [`KeyError::WrongKeyKind`] for a non-HMAC algorithm, [`KeyError::EmptySecret`],
    /// [`KeyError::NoCryptoBackend`], [`KeyError::SelfTest`].
    pub fn from_secret(algorithm: Algorithm, secret: &[u8]) -> Result<KeySet, KeyError> {
        if !algorithm.is_symmetric() {
            return Err(KeyError::WrongKeyKind {
                algorithm,
                needs: "a PEM private key",
            });
        }
        if secret.is_empty() {
            return Err(KeyError::EmptySecret);
        }
        let signing = EncodingKey::from_secret(secret).map_err(|_| KeyError::EmptySecret)?;
        let decoding = DecodingKey::from_secret(secret).map_err(|_| KeyError::EmptySecret)?;
        let current = VerificationKey {
            kid: None,
            decoding,
            jwk: None,
        };
        KeySet::assemble(algorithm, signing, current)
    }

    /// A key set for an asymmetric algorithm from an unencrypted PEM private key.
    ///
    /// Accepts PKCS#8 (`BEGIN PRIVATE KEY`) for RS*, ES256 and EdDSA, PKCS#1 (`BEGIN RSA
    /// PRIVATE KEY`) for RS*, and SEC1 (`BEGIN EC PRIVATE KEY`) for ES256. RSA keys must have
    /// 2048 to 8192 bits; ES256 keys must be on P-256. The signing `kid` is the RFC 7638
    /// SHA-256 thumbprint of the derived public JWK, base64url without padding.
    ///
    /// # Errors
    ///
    /// [`KeyError::WrongKeyKind`] for an HMAC algorithm, [`KeyError::Pem`] if the input is not
    /// PEM, [`KeyError::InvalidKey`] if it holds the wrong kind of key, [`KeyError::SelfTest`],
    /// [`KeyError::NoCryptoBackend`].
    pub fn from_private_pem(algorithm: Algorithm, pem: &[u8]) -> Result<KeySet, KeyError> {
        if algorithm.is_symmetric() {
            return Err(KeyError::WrongKeyKind {
                algorithm,
                needs: "a shared secret",
            });
        }
        let block = PemBlock::parse(pem)?;
        let (signing, public) = load_private(algorithm, pem, &block)?;
        KeySet::assemble(algorithm, signing, public.into_verification_key())
    }

    /// Adds an older key that verifies tokens (found by its `kid`) but never signs.
    ///
    /// `pem` is that key's PEM private key (in any form [`KeySet::from_private_pem`] takes) or
    /// its public key (`BEGIN PUBLIC KEY`, or `BEGIN RSA PUBLIC KEY` for RSA). Adding a key
    /// whose `kid` is already in the set changes nothing.
    ///
    /// # Errors
    ///
    /// [`KeyError::WrongKeyKind`] for an HMAC set (it has exactly one secret),
    /// [`KeyError::Pem`], [`KeyError::InvalidKey`] (including a key for another algorithm).
    pub fn with_verification_pem(mut self, pem: &[u8]) -> Result<KeySet, KeyError> {
        let algorithm = self.algorithm;
        if algorithm.is_symmetric() {
            return Err(KeyError::WrongKeyKind {
                algorithm,
                needs: "its one shared secret (no verification-only keys)",
            });
        }
        let block = PemBlock::parse(pem)?;
        let public = if block.is_private() {
            load_private(algorithm, pem, &block)?.1
        } else {
            load_public(algorithm, pem, &block)?
        };
        let key = public.into_verification_key();
        if self.keys().all(|known| known.kid != key.kid) {
            self.older.push(key);
        }
        Ok(self)
    }

    /// The algorithm every key in this set is for.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The `kid` tokens signed by this set carry; `None` for HMAC.
    pub fn signing_kid(&self) -> Option<&str> {
        self.current.kid.as_deref()
    }

    /// The JWKS document `{"keys": [...]}` of every public key, signing key first.
    ///
    /// Each entry has its key members plus `kid`, `alg` and `"use": "sig"`, and no private
    /// member. HMAC sets publish nothing: `{"keys": []}`.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .keys()
            .filter_map(|key| {
                Some(
                    key.jwk
                        .as_ref()?
                        .to_json(key.kid.as_deref()?, self.algorithm),
                )
            })
            .collect();
        json!({ "keys": keys })
    }

    /// The base64url header segment of tokens this set signs.
    pub(crate) fn header_b64(&self) -> &str {
        &self.header_b64
    }

    /// Signs `message` (the `header.payload` ASCII) with the signing key; raw signature bytes.
    pub(crate) fn sign_message(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        if let Some(prepared) = &self.prepared {
            return prepared.sign(message);
        }
        let signer = (self.provider.signer_factory)(&self.algorithm.to_jwt(), &self.signing)?;
        Ok(signer.try_sign(message)?)
    }

    /// The key that verifies a token whose header named `kid`.
    ///
    /// HMAC sets accept only tokens without a `kid` (neither allauth nor hallpass writes one,
    /// so a `kid` means the token was not made for this set). Asymmetric sets require a `kid`
    /// naming one of their keys.
    pub(crate) fn verification_key(&self, kid: Option<&str>) -> Result<&DecodingKey, KeyLookup> {
        match (self.algorithm.is_symmetric(), kid) {
            (true, None) => Ok(&self.current.decoding),
            (true, Some(_)) => Err(KeyLookup::UnknownKid),
            (false, None) => Err(KeyLookup::MissingKid),
            (false, Some(kid)) => self
                .keys()
                .find(|key| key.kid.as_deref() == Some(kid))
                .map(|key| &key.decoding)
                .ok_or(KeyLookup::UnknownKid),
        }
    }

    /// Whether `signature` is this set's algorithm's signature of `message` under `key`.
    pub(crate) fn verify_message(
        &self,
        key: &DecodingKey,
        message: &[u8],
        signature: Vec<u8>,
    ) -> bool {
        match (self.provider.verifier_factory)(&self.algorithm.to_jwt(), key) {
            Ok(verifier) => verifier.verify(message, &signature).is_ok(),
            Err(_) => false,
        }
    }

    fn assemble(
        algorithm: Algorithm,
        signing: EncodingKey,
        current: VerificationKey,
    ) -> Result<KeySet, KeyError> {
        let provider = CryptoProvider::try_get_default().ok_or(KeyError::NoCryptoBackend)?;
        // Members sorted as PyJWT writes them (`sort_keys=True`); kid is base64url, no escaping.
        let header = match &current.kid {
            Some(kid) => format!(r#"{{"alg":"{algorithm}","kid":"{kid}","typ":"JWT"}}"#),
            None => format!(r#"{{"alg":"{algorithm}","typ":"JWT"}}"#),
        };
        let prepared = Prepared::new(algorithm, signing.as_bytes());
        if !algorithm.is_symmetric() && prepared.is_none() {
            return Err(KeyError::SelfTest { algorithm });
        }
        let set = KeySet {
            algorithm,
            provider,
            prepared,
            signing,
            current,
            older: Vec::new(),
            header_b64: URL_SAFE_NO_PAD.encode(header),
        };
        set.self_test()?;
        Ok(set)
    }

    /// Signs a probe with the private key and verifies it with the derived public key.
    fn self_test(&self) -> Result<(), KeyError> {
        const PROBE: &[u8] = b"hallpass key self-test";
        let algorithm = self.algorithm;
        let signature = self
            .sign_message(PROBE)
            .map_err(|_| KeyError::SelfTest { algorithm })?;
        if self.verify_message(&self.current.decoding, PROBE, signature) {
            Ok(())
        } else {
            Err(KeyError::SelfTest { algorithm })
        }
    }

    fn keys(&self) -> impl Iterator<Item = &VerificationKey> {
        std::iter::once(&self.current).chain(&self.older)
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let older: Vec<&str> = self.older.iter().filter_map(|k| k.kid.as_deref()).collect();
        f.debug_struct("KeySet")
            .field("algorithm", &self.algorithm)
            .field("signing_kid", &self.signing_kid())
            .field("verification_kids", &older)
            .finish_non_exhaustive()
    }
}

/// A fresh PKCS#8 private key PEM for `algorithm`: RSA-2048 for RS*, P-256 for ES256,
/// Ed25519 (PKCS#8 v1, as `openssl genpkey` writes it) for EdDSA.
///
/// The key comes from aws-lc's DRBG, seeded from the OS; it is the one random value that does
/// not come from hallpass's own OS-randomness helper, since aws-lc generates keys internally.
///
/// # Errors
///
/// [`KeyError::WrongKeyKind`] for HMAC algorithms (use random bytes from `crate::crypto` as
/// the secret), [`KeyError::Generation`] if aws-lc fails.
pub fn generate_private_pem(algorithm: Algorithm) -> Result<String, KeyError> {
    let failed = |_| KeyError::Generation { algorithm };
    let der: Zeroizing<Vec<u8>> = Zeroizing::new(match algorithm.family() {
        Family::Hmac => {
            return Err(KeyError::WrongKeyKind {
                algorithm,
                needs: "a random shared secret",
            });
        }
        Family::Rsa => {
            let pair =
                aws_sig::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(failed)?;
            pair.as_der().map_err(failed)?.as_ref().to_vec()
        }
        Family::P256 => {
            let pair = aws_sig::EcdsaKeyPair::generate(&aws_sig::ECDSA_P256_SHA256_FIXED_SIGNING)
                .map_err(failed)?;
            pair.to_pkcs8v1().map_err(failed)?.as_ref().to_vec()
        }
        Family::Ed25519 => {
            let pair = aws_sig::Ed25519KeyPair::generate().map_err(failed)?;
            pair.to_pkcs8v1().map_err(failed)?.as_ref().to_vec()
        }
    });
    Ok(pem_encode("PRIVATE KEY", &der))
}

/// A failure inside the crypto backend while signing.
pub(crate) type SignError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why [`KeySet::verification_key`] found no key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyLookup {
    /// An asymmetric set got a token without `kid`.
    MissingKid,
    /// The `kid` names no key of this set (or an HMAC set got a `kid` at all).
    UnknownKid,
}

#[cfg(test)]
pub(crate) mod tests;
