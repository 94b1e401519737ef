//! Reading key material: PEM blocks, private and public keys for each algorithm family, the
//! public JWK and its RFC 7638 thumbprint, and PEM output for generated keys.
//!
//! Every public key is validated by aws-lc before it is accepted, and every DER buffer holding
//! private key bytes is [`Zeroizing`].

use aws_lc_rs::signature::{self as aws_sig, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::algorithm::{Algorithm, Family, KeyError};
use crate::crypto::sha256;

/// The public half of an asymmetric key: jsonwebtoken's verifying key and the JWK members.
pub(super) struct PublicKey {
    decoding: DecodingKey,
    jwk: PublicJwk,
}

impl PublicKey {
    pub(super) fn into_verification_key(self) -> VerificationKey {
        VerificationKey {
            kid: Some(self.jwk.thumbprint()),
            decoding: self.decoding,
            jwk: Some(self.jwk),
        }
    }
}

/// The RFC 7638 required members of a public JWK, each base64url without padding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum PublicJwk {
    Rsa { n: String, e: String },
    P256 { x: String, y: String },
    Ed25519 { x: String },
}

impl PublicJwk {
    /// The RFC 7638 canonical JSON: required members only, sorted, no whitespace.
    ///
    /// The members are base64url, which never needs JSON escaping, so `format!` is exact.
    fn canonical_json(&self) -> String {
        match self {
            PublicJwk::Rsa { n, e } => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
            PublicJwk::P256 { x, y } => {
                format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#)
            }
            PublicJwk::Ed25519 { x } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#),
        }
    }

    /// The RFC 7638 SHA-256 thumbprint, base64url without padding: our `kid`.
    pub(super) fn thumbprint(&self) -> String {
        URL_SAFE_NO_PAD.encode(sha256(self.canonical_json().as_bytes()))
    }

    /// The JWKS entry for this key.
    pub(super) fn to_json(&self, kid: &str, algorithm: Algorithm) -> Value {
        let mut jwk = match self {
            PublicJwk::Rsa { n, e } => json!({ "kty": "RSA", "n": n, "e": e }),
            PublicJwk::P256 { x, y } => json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y }),
            PublicJwk::Ed25519 { x } => json!({ "kty": "OKP", "crv": "Ed25519", "x": x }),
        };
        if let Some(members) = jwk.as_object_mut() {
            members.insert("kid".into(), kid.into());
            members.insert("alg".into(), algorithm.as_str().into());
            members.insert("use".into(), "sig".into());
        }
        jwk
    }
}

/// The first key block of a PEM document.
pub(super) struct PemBlock {
    label: String,
    der: Zeroizing<Vec<u8>>,
}

impl PemBlock {
    /// Reads the first block that is not `EC PARAMETERS` (which `openssl ecparam -genkey`
    /// writes before the key). Encrypted PEM is refused: hallpass has no passphrase to use.
    pub(super) fn parse(pem: &[u8]) -> Result<PemBlock, KeyError> {
        let text = std::str::from_utf8(pem).map_err(|_| KeyError::Pem { reason: "not text" })?;
        let mut lines = text.lines().map(str::trim);
        loop {
            let Some(line) = lines.next() else {
                return Err(KeyError::Pem {
                    reason: "no BEGIN line",
                });
            };
            let Some(label) = line
                .strip_prefix("-----BEGIN ")
                .and_then(|l| l.strip_suffix("-----"))
            else {
                continue;
            };
            let end = format!("-----END {label}-----");
            let mut body = Zeroizing::new(String::new());
            let mut closed = false;
            for line in lines.by_ref() {
                if line == end {
                    closed = true;
                    break;
                }
                if line.contains(':') {
                    return Err(KeyError::Pem {
                        reason: "encrypted PEM is not supported",
                    });
                }
                body.push_str(line);
            }
            if !closed {
                return Err(KeyError::Pem {
                    reason: "no matching END line",
                });
            }
            if label == "EC PARAMETERS" {
                continue;
            }
            if label.contains("ENCRYPTED") {
                return Err(KeyError::Pem {
                    reason: "encrypted PEM is not supported",
                });
            }
            let der = STANDARD
                .decode(body.as_bytes())
                .map_err(|_| KeyError::Pem {
                    reason: "bad base64 body",
                })?;
            return Ok(PemBlock {
                label: label.to_owned(),
                der: Zeroizing::new(der),
            });
        }
    }

    pub(super) fn is_private(&self) -> bool {
        self.label.ends_with("PRIVATE KEY")
    }
}

/// Loads a private key PEM for an asymmetric `algorithm`: jsonwebtoken's signing key and the
/// public key derived from it.
pub(super) fn load_private(
    algorithm: Algorithm,
    pem: &[u8],
    block: &PemBlock,
) -> Result<(EncodingKey, PublicKey), KeyError> {
    let invalid = |reason| KeyError::InvalidKey { algorithm, reason };
    match (algorithm.family(), block.label.as_str()) {
        (Family::Rsa, "PRIVATE KEY" | "RSA PRIVATE KEY") => {
            // jsonwebtoken keeps RSA keys as PKCS#1 DER and unwraps PKCS#8 itself.
            let signing = EncodingKey::from_rsa_pem(pem)
                .map_err(|_| invalid("expected an RSA private key"))?;
            let pair = aws_sig::RsaKeyPair::from_der(signing.as_bytes())
                .map_err(|_| invalid("expected an RSA private key of 2048 to 8192 bits"))?;
            let public = rsa_public(algorithm, pair.public_key().as_ref())?;
            Ok((signing, public))
        }
        (Family::P256, "PRIVATE KEY" | "EC PRIVATE KEY") => {
            // Accepts PKCS#8 and SEC1 and checks the curve; jsonwebtoken then gets PKCS#8.
            let pair = aws_sig::EcdsaKeyPair::from_private_key_der(
                &aws_sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                &block.der,
            )
            .map_err(|_| invalid("expected a P-256 private key"))?;
            let pkcs8 = pair
                .to_pkcs8v1()
                .map_err(|_| invalid("cannot re-encode the key"))?;
            let signing = EncodingKey::from_ec_der(pkcs8.as_ref());
            let public = p256_public(algorithm, pair.public_key().as_ref())?;
            Ok((signing, public))
        }
        (Family::Ed25519, "PRIVATE KEY") => {
            let pair = aws_sig::Ed25519KeyPair::from_pkcs8(&block.der)
                .map_err(|_| invalid("expected an Ed25519 private key"))?;
            let signing = EncodingKey::from_ed_der(&block.der);
            let public = ed25519_public(algorithm, pair.public_key().as_ref())?;
            Ok((signing, public))
        }
        (Family::Hmac, _) => Err(KeyError::WrongKeyKind {
            algorithm,
            needs: "a shared secret",
        }),
        _ => Err(invalid("unexpected PEM label for this algorithm")),
    }
}

/// Loads a public key PEM for an asymmetric `algorithm`.
pub(super) fn load_public(
    algorithm: Algorithm,
    pem: &[u8],
    block: &PemBlock,
) -> Result<PublicKey, KeyError> {
    let invalid = |reason| KeyError::InvalidKey { algorithm, reason };
    match (algorithm.family(), block.label.as_str()) {
        (Family::Rsa, "PUBLIC KEY" | "RSA PUBLIC KEY") => {
            // aws-lc reads both SubjectPublicKeyInfo and PKCS#1 RSAPublicKey.
            let public = aws_lc_rs::rsa::PublicKey::from_der(&block.der)
                .map_err(|_| invalid("expected an RSA public key"))?;
            rsa_public(algorithm, public.as_ref())
        }
        (Family::P256, "PUBLIC KEY") => {
            let key = DecodingKey::from_ec_pem(pem).map_err(|_| invalid("expected an EC key"))?;
            let point = key
                .try_get_as_bytes()
                .map_err(|_| invalid("expected an EC key"))?;
            p256_public(algorithm, point)
        }
        (Family::Ed25519, "PUBLIC KEY") => {
            let key = DecodingKey::from_ed_pem(pem).map_err(|_| invalid("expected an Ed key"))?;
            let x = key
                .try_get_as_bytes()
                .map_err(|_| invalid("expected an Ed key"))?;
            ed25519_public(algorithm, x)
        }
        (Family::Hmac, _) => Err(KeyError::WrongKeyKind {
            algorithm,
            needs: "a shared secret",
        }),
        _ => Err(invalid("unexpected PEM label for this algorithm")),
    }
}

/// An RSA public key from its PKCS#1 `RSAPublicKey` DER.
fn rsa_public(algorithm: Algorithm, pkcs1_der: &[u8]) -> Result<PublicKey, KeyError> {
    let invalid = |reason| KeyError::InvalidKey { algorithm, reason };
    let public = aws_lc_rs::rsa::PublicKey::from_der(pkcs1_der)
        .map_err(|_| invalid("expected an RSA public key"))?;
    let parts = aws_sig::RsaPublicKeyComponents::<Vec<u8>>::from(&public);
    let n = strip_leading_zeros(&parts.n);
    let e = strip_leading_zeros(&parts.e);
    // A 2048-bit modulus is 256 bytes; aws-lc verifies 2048..=8192 bits only.
    if !(256..=1024).contains(&n.len()) {
        return Err(invalid("RSA keys must have 2048 to 8192 bits"));
    }
    Ok(PublicKey {
        decoding: DecodingKey::from_rsa_der(public.as_ref()),
        jwk: PublicJwk::Rsa {
            n: URL_SAFE_NO_PAD.encode(n),
            e: URL_SAFE_NO_PAD.encode(e),
        },
    })
}

/// A P-256 public key from its uncompressed point `04 || x || y`.
fn p256_public(algorithm: Algorithm, point: &[u8]) -> Result<PublicKey, KeyError> {
    let invalid = || KeyError::InvalidKey {
        algorithm,
        reason: "expected a P-256 public key",
    };
    aws_sig::ParsedPublicKey::new(&aws_sig::ECDSA_P256_SHA256_FIXED, point)
        .map_err(|_| invalid())?;
    let (x, y) = match point.split_first() {
        Some((4, xy)) if xy.len() == 64 => xy.split_at(32),
        _ => return Err(invalid()),
    };
    Ok(PublicKey {
        decoding: DecodingKey::from_ec_der(point),
        jwk: PublicJwk::P256 {
            x: URL_SAFE_NO_PAD.encode(x),
            y: URL_SAFE_NO_PAD.encode(y),
        },
    })
}

/// An Ed25519 public key from its 32 raw bytes.
fn ed25519_public(algorithm: Algorithm, x: &[u8]) -> Result<PublicKey, KeyError> {
    let invalid = || KeyError::InvalidKey {
        algorithm,
        reason: "expected an Ed25519 public key",
    };
    if x.len() != 32 {
        return Err(invalid());
    }
    aws_sig::ParsedPublicKey::new(&aws_sig::ED25519, x).map_err(|_| invalid())?;
    Ok(PublicKey {
        decoding: DecodingKey::from_ed_der(x),
        jwk: PublicJwk::Ed25519 {
            x: URL_SAFE_NO_PAD.encode(x),
        },
    })
}

/// JWK integers are big-endian without leading zero octets (RFC 7518 §6.3.1).
fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(first..).unwrap_or_default()
}

/// PEM text for `der`, 64 base64 characters per line.
pub(super) fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = Zeroizing::new(STANDARD.encode(der));
    let mut out = String::with_capacity(body.len() + body.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in body.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// A public key ready to verify, with its JWK.
pub(super) struct VerificationKey {
    /// The RFC 7638 thumbprint; `None` for HMAC.
    pub(super) kid: Option<String>,
    /// The key, as jsonwebtoken verifies with it.
    pub(super) decoding: DecodingKey,
    /// The public JWK the JWKS document lists; `None` for HMAC.
    pub(super) jwk: Option<PublicJwk>,
}
