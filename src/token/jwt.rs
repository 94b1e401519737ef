//! Signing and verifying allauth's JWT access and refresh tokens.
//!
//! Tokens are compact JWS, byte-compatible with django-allauth's headless JWT strategy:
//!
//! - header `{"alg":…,"kid":…,"typ":"JWT"}`, members sorted as PyJWT writes them, `kid` only
//!   for asymmetric keys (precomputed once per [`KeySet`]);
//! - payload: the caller's custom claims first, then `iat, exp, sid, jti, token_use, sub`,
//!   which overwrite custom claims of the same name. Refresh tokens carry no custom claims.
//!
//! Verification pins everything a forger could choose. The algorithm comes from the
//! [`KeySet`], never from the token (a header `alg` that differs is rejected, which also stops
//! `alg: none` and HS/RS key confusion). The key is found by `kid` among the set's own keys.
//! Time has leeway 0: a token is expired once `exp <= now`, and one issued (or `nbf`) after
//! `now` is rejected. `token_use` must match what the caller expects, and `sub`, `jti`, `sid`
//! must be strings. Inputs longer than [`MAX_TOKEN_LEN`] are refused before any decoding.
//! Errors never contain the token.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::token::keys::{KeyLookup, KeySet, SignError};

/// Longest token [`JwtCodec::verify`] looks at, in bytes; longer input is rejected unread.
///
/// An RS512 access token with a few custom claims is under 1 KiB; 8 KiB leaves room for
/// generous custom claims while bounding the work an anonymous request can cause.
pub(crate) const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Longest `kid` [`JwtError::UnknownKey`] repeats, in characters.
const MAX_REPORTED_KID_CHARS: usize = 64;

/// The claims hallpass itself sets; custom claims with these names are overwritten.
const RESERVED_CLAIMS: [&str; 6] = ["iat", "exp", "sid", "jti", "token_use", "sub"];

/// What a token is for, carried in the `token_use` claim.
///
/// Invariant: serializes as allauth writes it, `"access"` or `"refresh"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TokenUse {
    /// A short-lived bearer token for API requests.
    Access,
    /// A long-lived token that may only be exchanged for new tokens.
    Refresh,
}

impl TokenUse {
    /// The claim value: `"access"` or `"refresh"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenUse::Access => "access",
            TokenUse::Refresh => "refresh",
        }
    }
}

/// The six claims allauth puts in every token.
///
/// Invariant (for values returned by [`JwtCodec::verify`]): the signature was valid under the
/// set's algorithm and a key of the set, `iat <= now < exp`, and `token_use` is the expected
/// one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a string.
    pub sub: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds; the token is dead once `exp <= now`.
    pub exp: i64,
    /// Unique token id (a UUID v4 string when hallpass mints it).
    pub jti: String,
    /// The session key, encrypted by [`SidCipher`](crate::crypto::sid::SidCipher).
    pub sid: String,
    /// Access or refresh.
    pub token_use: TokenUse,
}

/// Why a token was not signed or not accepted.
///
/// Invariant: `Display` is lower-case and never contains the token or key material; the only
/// token-derived text is an unknown `kid`, cut to 64 characters and quoted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// Not three base64url segments of JSON objects, or a header that cannot be honoured
    /// (non-string `alg`/`kid`, a `crit` member), or duplicate JSON members.
    #[error("malformed token")]
    Malformed,
    /// Longer than 8 KiB.
    #[error("token longer than {MAX_TOKEN_LEN} bytes")]
    Oversized,
    /// The signature does not verify with the key the header names.
    #[error("bad token signature")]
    BadSignature,
    /// The header's `kid` names no key of the set (for HMAC sets: any `kid` at all).
    #[error("token signed by unknown key {kid:?}")]
    UnknownKey {
        /// The `kid` from the token, cut to 64 characters.
        kid: String,
    },
    /// An asymmetric set got a token without `kid`.
    #[error("token has no key id")]
    MissingKid,
    /// The header's `alg` is not the set's algorithm (including `none`).
    #[error("token algorithm differs from the configured one")]
    WrongAlgorithm,
    /// `exp <= now`.
    #[error("token expired")]
    Expired,
    /// `iat > now` (or `nbf > now`).
    #[error("token issued in the future")]
    IssuedInFuture,
    /// `token_use` is not the expected one (an access token presented for refresh, or vice
    /// versa, or an unknown value).
    #[error("token used for the wrong purpose")]
    WrongUse,
    /// A required claim is absent.
    #[error("token lacks the {claim} claim")]
    MissingClaim {
        /// The claim's name.
        claim: &'static str,
    },
    /// A claim has the wrong JSON type (`sub`, `jti`, `sid`, `token_use` must be strings;
    /// `iat`, `exp`, `nbf` integers).
    #[error("token claim {claim} has the wrong type")]
    InvalidClaim {
        /// The claim's name.
        claim: &'static str,
    },
    /// The crypto backend failed to sign, or custom claims failed to serialize.
    #[error("token signing failed")]
    Signing(#[source] SignError),
}

/// Signs and verifies tokens with one [`KeySet`].
///
/// Invariant: the key set (and so the algorithm) is fixed for the codec's life; clones share
/// it.
#[derive(Clone, Debug)]
pub struct JwtCodec {
    keys: Arc<KeySet>,
}

impl JwtCodec {
    /// A codec for `keys`.
    pub fn new(keys: KeySet) -> JwtCodec {
        JwtCodec {
            keys: Arc::new(keys),
        }
    }

    /// The key set tokens are signed and verified with.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// Signs a token with the set's signing key.
    ///
    /// The header is `{"alg","kid" (asymmetric only),"typ":"JWT"}`. The payload holds
    /// `custom`'s members first (in the map's order), then `iat, exp, sid, jti, token_use,
    /// sub`; a custom claim with one of these names is dropped in favour of `claims`. allauth
    /// signs refresh tokens with `custom = None`.
    ///
    /// # Errors
    ///
    /// [`JwtError::Signing`] if the backend fails (a key the self-test accepted does not).
    pub fn sign(
        &self,
        claims: &Claims,
        custom: Option<&Map<String, Value>>,
    ) -> Result<String, JwtError> {
        let payload = serde_json::to_vec(&Payload { claims, custom })
            .map_err(|e| JwtError::Signing(Box::new(e)))?;
        let header = self.keys.header_b64();
        let mut token = String::with_capacity(header.len() + payload.len() * 4 / 3 + 700);
        token.push_str(header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = self
            .keys
            .sign_message(token.as_bytes())
            .map_err(JwtError::Signing)?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }

    /// Verifies `token` and returns its claims.
    ///
    /// Checks, in order: length (at most 8 KiB), shape, header `alg` equals the set's
    /// algorithm, key lookup by `kid` (asymmetric sets require a known `kid`; HMAC sets
    /// require none, since neither allauth nor hallpass writes one), signature, claim types,
    /// `exp > now_secs`, `iat <= now_secs` (and `nbf <= now_secs` when present), and
    /// `token_use == expected`. The header's `typ` is not checked (PyJWT does not either).
    ///
    /// # Errors
    ///
    /// The first failed check, as a [`JwtError`].
    pub fn verify(
        &self,
        token: &str,
        expected: TokenUse,
        now_secs: i64,
    ) -> Result<Claims, JwtError> {
        self.verify_inner(token, expected, now_secs)
            .map(|(claims, _)| claims)
    }

    /// Like [`JwtCodec::verify`], and also returns the whole payload, custom claims included.
    ///
    /// # Errors
    ///
    /// As [`JwtCodec::verify`].
    pub fn verify_with_payload(
        &self,
        token: &str,
        expected: TokenUse,
        now_secs: i64,
    ) -> Result<(Claims, Map<String, Value>), JwtError> {
        let (claims, payload) = self.verify_inner(token, expected, now_secs)?;
        let map = serde_json::from_slice(&payload).map_err(|_| JwtError::Malformed)?;
        Ok((claims, map))
    }

    /// Verifies `token`; returns the claims and the decoded payload JSON.
    fn verify_inner(
        &self,
        token: &str,
        expected: TokenUse,
        now_secs: i64,
    ) -> Result<(Claims, Vec<u8>), JwtError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::Oversized);
        }
        let mut segments = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(JwtError::Malformed);
        };

        let header_json = decode_segment(header_b64)?;
        let header: RawHeader<'_> = parse_object(&header_json)?;
        match header.alg {
            Loose::Str(alg) if alg == self.keys.algorithm().as_str() => {}
            Loose::Str(_) => return Err(JwtError::WrongAlgorithm),
            _ => return Err(JwtError::Malformed),
        }
        if !matches!(header.crit, Loose::Absent) {
            return Err(JwtError::Malformed);
        }
        let kid = match &header.kid {
            Loose::Absent => None,
            Loose::Str(kid) => Some(kid.as_ref()),
            _ => return Err(JwtError::Malformed),
        };
        let key = self
            .keys
            .verification_key(kid)
            .map_err(|lookup| match lookup {
                KeyLookup::MissingKid => JwtError::MissingKid,
                KeyLookup::UnknownKid => JwtError::UnknownKey {
                    kid: kid
                        .unwrap_or_default()
                        .chars()
                        .take(MAX_REPORTED_KID_CHARS)
                        .collect(),
                },
            })?;

        let signature = decode_segment(signature_b64)?;
        let signed_len = header_b64.len() + 1 + payload_b64.len();
        let message = token
            .as_bytes()
            .get(..signed_len)
            .ok_or(JwtError::Malformed)?;
        if !self.keys.verify_message(key, message, signature) {
            return Err(JwtError::BadSignature);
        }

        let payload = decode_segment(payload_b64)?;
        let claims = parse_object::<RawClaims<'_>>(&payload)?.check(expected, now_secs)?;
        Ok((claims, payload))
    }
}

/// The payload as allauth lays it out: custom claims, then the reserved ones.
struct Payload<'a> {
    claims: &'a Claims,
    custom: Option<&'a Map<String, Value>>,
}

impl Serialize for Payload<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (name, value) in self.custom.into_iter().flatten() {
            if !RESERVED_CLAIMS.contains(&name.as_str()) {
                map.serialize_entry(name, value)?;
            }
        }
        let c = self.claims;
        map.serialize_entry("iat", &c.iat)?;
        map.serialize_entry("exp", &c.exp)?;
        map.serialize_entry("sid", &c.sid)?;
        map.serialize_entry("jti", &c.jti)?;
        map.serialize_entry("token_use", c.token_use.as_str())?;
        map.serialize_entry("sub", &c.sub)?;
        map.end()
    }
}

/// The header members verification looks at; others are ignored.
#[derive(Deserialize)]
struct RawHeader<'a> {
    #[serde(borrow, default)]
    alg: Loose<'a>,
    #[serde(borrow, default)]
    kid: Loose<'a>,
    #[serde(borrow, default)]
    crit: Loose<'a>,
}

/// The payload members verification looks at; custom claims are skipped unparsed.
#[derive(Deserialize)]
struct RawClaims<'a> {
    #[serde(borrow, default)]
    sub: Loose<'a>,
    #[serde(borrow, default)]
    jti: Loose<'a>,
    #[serde(borrow, default)]
    sid: Loose<'a>,
    #[serde(borrow, default)]
    token_use: Loose<'a>,
    #[serde(borrow, default)]
    iat: Loose<'a>,
    #[serde(borrow, default)]
    exp: Loose<'a>,
    #[serde(borrow, default)]
    nbf: Loose<'a>,
}

impl RawClaims<'_> {
    /// Types first, then time, then use.
    fn check(self, expected: TokenUse, now_secs: i64) -> Result<Claims, JwtError> {
        let sub = self.sub.string("sub")?;
        let jti = self.jti.string("jti")?;
        let sid = self.sid.string("sid")?;
        let token_use = self.token_use.string("token_use")?;
        let iat = self.iat.integer("iat")?;
        let exp = self.exp.integer("exp")?;
        let nbf = match self.nbf {
            Loose::Absent => None,
            other => Some(other.integer("nbf")?),
        };
        if exp <= now_secs {
            return Err(JwtError::Expired);
        }
        if iat > now_secs || nbf.is_some_and(|nbf| nbf > now_secs) {
            return Err(JwtError::IssuedInFuture);
        }
        if token_use != expected.as_str() {
            return Err(JwtError::WrongUse);
        }
        Ok(Claims {
            sub: sub.into_owned(),
            iat,
            exp,
            jti: jti.into_owned(),
            sid: sid.into_owned(),
            token_use: expected,
        })
    }
}

/// A JSON value of which we only keep strings and integers; anything else is `Other`.
///
/// Lets a missing claim, a claim of the wrong type and a good claim be told apart in one pass
/// without building a `serde_json::Value` tree.
#[derive(Debug, Default)]
enum Loose<'a> {
    /// The member is not there.
    #[default]
    Absent,
    Str(Cow<'a, str>),
    Int(i64),
    /// null, a bool, a float, an integer beyond `i64`, an array or an object.
    Other,
}

impl<'a> Loose<'a> {
    fn string(self, claim: &'static str) -> Result<Cow<'a, str>, JwtError> {
        match self {
            Loose::Str(s) => Ok(s),
            Loose::Absent => Err(JwtError::MissingClaim { claim }),
            _ => Err(JwtError::InvalidClaim { claim }),
        }
    }

    fn integer(self, claim: &'static str) -> Result<i64, JwtError> {
        match self {
            Loose::Int(n) => Ok(n),
            Loose::Absent => Err(JwtError::MissingClaim { claim }),
            _ => Err(JwtError::InvalidClaim { claim }),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseVisitor(PhantomData))
    }
}

struct LooseVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for LooseVisitor<'a> {
    type Value = Loose<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Loose::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Loose::Other, Loose::Int))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Loose::Other)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Loose::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Loose::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Loose::Other)
    }
}

/// Decodes one base64url segment (no padding, canonical trailing bits).
fn decode_segment(segment: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| JwtError::Malformed)
}

/// Parses a JSON object. serde's derived structs would also accept a JSON array, which no
/// JWT has, so the first non-blank byte must open an object.
fn parse_object<'a, T: Deserialize<'a>>(json: &'a [u8]) -> Result<T, JwtError> {
    if json.trim_ascii_start().first() != Some(&b'{') {
        return Err(JwtError::Malformed);
    }
    serde_json::from_slice(json).map_err(|_| JwtError::Malformed)
}

#[cfg(test)]
mod tests;
