use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::token::keys::Algorithm;
use crate::token::keys::tests::fixtures::{self, kid};

const NOW: i64 = 1_700_000_000;
const SECRET: &[u8] = b"django-insecure-test-secret-key-0123456789";

fn key_set(alg: Algorithm) -> KeySet {
    match alg {
        Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 => {
            KeySet::from_private_pem(alg, fixtures::RSA).unwrap()
        }
        Algorithm::ES256 => KeySet::from_private_pem(alg, fixtures::EC).unwrap(),
        Algorithm::EdDSA => KeySet::from_private_pem(alg, fixtures::ED).unwrap(),
        _ => KeySet::from_secret(alg, SECRET).unwrap(),
    }
}

fn codec(alg: Algorithm) -> JwtCodec {
    JwtCodec::new(key_set(alg))
}

fn claims(token_use: TokenUse) -> Claims {
    Claims {
        sub: "42".into(),
        iat: NOW,
        exp: NOW + 300,
        jti: "0b6a0d3c-2f7e-4d6a-9c3e-6f1f2b7d8a90".into(),
        sid: "AAECAwQFBgcICQoLDA0OD+EJtNnDixuMF4G4aZTZX+pjpPIUvoKyqrcJPYXD4SIa".into(),
        token_use,
    }
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn segment_json(token: &str, index: usize) -> String {
    let segment = token.split('.').nth(index).unwrap();
    String::from_utf8(URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

/// A token with exactly this header and payload JSON, correctly signed with `keys`.
fn forge(keys: &KeySet, header: &str, payload: &str) -> String {
    let message = format!("{}.{}", b64(header), b64(payload));
    let signature = keys.sign_message(message.as_bytes()).unwrap();
    format!("{message}.{}", b64(signature))
}

/// The header JSON `keys` writes.
fn header_of(keys: &KeySet) -> String {
    String::from_utf8(URL_SAFE_NO_PAD.decode(keys.header_b64()).unwrap()).unwrap()
}

fn payload_json(token_use: &str) -> Value {
    json!({
        "iat": NOW, "exp": NOW + 300, "sid": "c2lk", "jti": "j-1", "token_use": token_use,
        "sub": "7",
    })
}

fn verify_err(codec: &JwtCodec, token: &str, expected: TokenUse) -> JwtError {
    let err = codec.verify(token, expected, NOW).unwrap_err();
    // Whatever went wrong, the message never repeats the token or its parts.
    let shown = err.to_string();
    for part in token.split('.').filter(|p| p.len() >= 8) {
        assert!(!shown.contains(part), "error text leaks the token: {shown}");
    }
    err
}

#[test]
fn header_members_are_exactly_alg_kid_typ() {
    for alg in Algorithm::ALL {
        let codec = codec(alg);
        let token = codec.sign(&claims(TokenUse::Access), None).unwrap();
        let expected = match codec.keys().signing_kid() {
            Some(kid) => format!(r#"{{"alg":"{alg}","kid":"{kid}","typ":"JWT"}}"#),
            None => format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#),
        };
        assert_eq!(segment_json(&token, 0), expected, "{alg}");
        assert_eq!(codec.keys().signing_kid().is_none(), alg.is_symmetric());
    }
    let rs = codec(Algorithm::RS256);
    let token = rs.sign(&claims(TokenUse::Access), None).unwrap();
    assert!(segment_json(&token, 0).contains(kid("rsa.pem")));
}

#[test]
fn payload_is_exactly_allauths_six_claims() {
    let codec = codec(Algorithm::HS256);
    let token = codec.sign(&claims(TokenUse::Refresh), None).unwrap();
    assert_eq!(
        segment_json(&token, 1),
        format!(
            concat!(
                r#"{{"iat":{},"exp":{},"sid":"AAECAwQFBgcICQoLDA0OD+EJtNnDixuMF4G4aZTZX+pjpPIUvoKyqrcJPYXD4SIa","#,
                r#""jti":"0b6a0d3c-2f7e-4d6a-9c3e-6f1f2b7d8a90","token_use":"refresh","sub":"42"}}"#
            ),
            NOW,
            NOW + 300
        )
    );
    let back = codec.verify(&token, TokenUse::Refresh, NOW).unwrap();
    assert_eq!(back, claims(TokenUse::Refresh));
}

#[test]
fn custom_claims_come_first_and_reserved_ones_win() {
    let codec = codec(Algorithm::RS256);
    let custom = json!({
        "sub": "999", "token_use": "refresh", "exp": 1, "role": "admin", "scopes": ["a", "b"],
    });
    let custom = custom.as_object().unwrap();
    let token = codec.sign(&claims(TokenUse::Access), Some(custom)).unwrap();
    let payload = segment_json(&token, 1);
    assert!(
        payload.starts_with(r#"{"role":"admin","scopes":["a","b"],"iat":"#),
        "{payload}"
    );
    assert_eq!(payload.matches("\"sub\"").count(), 1, "{payload}");

    let (claims_back, map) = codec
        .verify_with_payload(&token, TokenUse::Access, NOW)
        .unwrap();
    assert_eq!(claims_back, claims(TokenUse::Access));
    assert_eq!(map["role"], "admin");
    assert_eq!(map["sub"], "42");
    assert_eq!(map["token_use"], "access");
    assert_eq!(map["exp"], NOW + 300);
    assert_eq!(map.len(), 8);
}

#[test]
fn every_algorithm_round_trips_and_interoperates_with_plain_jsonwebtoken() {
    #[derive(serde::Deserialize)]
    struct Plain {
        sub: String,
        token_use: String,
    }
    for alg in Algorithm::ALL {
        let codec = codec(alg);
        for token_use in [TokenUse::Access, TokenUse::Refresh] {
            let token = codec.sign(&claims(token_use), None).unwrap();
            assert_eq!(
                codec.verify(&token, token_use, NOW).unwrap(),
                claims(token_use)
            );
        }
        // A third party holding only the public key (or the secret) accepts our tokens.
        let decoding = match alg {
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 => {
                DecodingKey::from_rsa_pem(fixtures::RSA_PUB).unwrap()
            }
            Algorithm::ES256 => DecodingKey::from_ec_pem(fixtures::EC_PUB).unwrap(),
            Algorithm::EdDSA => DecodingKey::from_ed_pem(fixtures::ED_PUB).unwrap(),
            _ => DecodingKey::from_secret(SECRET).unwrap(),
        };
        let mut validation = Validation::new(alg.to_jwt());
        validation.validate_exp = false;
        let mut fresh = claims(TokenUse::Access);
        fresh.exp = i64::MAX / 2;
        let token = codec.sign(&fresh, None).unwrap();
        let plain = jsonwebtoken::decode::<Plain>(&token, &decoding, &validation).unwrap();
        assert_eq!(
            (plain.claims.sub.as_str(), plain.claims.token_use.as_str()),
            ("42", "access")
        );
    }
}

#[test]
fn tokens_made_by_another_implementation_verify() {
    // What allauth (PyJWT) emits: same header members, its own member order in the payload.
    let rs = codec(Algorithm::RS256);
    let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid("rsa.pem").to_owned());
    let token = jsonwebtoken::encode(
        &header,
        &payload_json("access"),
        &EncodingKey::from_rsa_pem(fixtures::RSA).unwrap(),
    )
    .unwrap();
    let claims = rs.verify(&token, TokenUse::Access, NOW).unwrap();
    assert_eq!((claims.sub.as_str(), claims.jti.as_str()), ("7", "j-1"));

    let hs = codec(Algorithm::HS512);
    let token = jsonwebtoken::encode(
        &Header::new(jsonwebtoken::Algorithm::HS512),
        &payload_json("refresh"),
        &EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap();
    assert!(hs.verify(&token, TokenUse::Refresh, NOW).is_ok());
}

#[test]
fn expiry_has_no_leeway() {
    let codec = codec(Algorithm::HS256);
    let token = codec.sign(&claims(TokenUse::Access), None).unwrap();
    assert!(codec.verify(&token, TokenUse::Access, NOW + 299).is_ok());
    let err = codec
        .verify(&token, TokenUse::Access, NOW + 300)
        .unwrap_err();
    assert!(
        matches!(err, JwtError::Expired),
        "exp == now is expired: {err}"
    );
    assert!(matches!(
        codec
            .verify(&token, TokenUse::Access, i64::MAX)
            .unwrap_err(),
        JwtError::Expired
    ));
}

#[test]
fn tokens_from_the_future_are_rejected() {
    let codec = codec(Algorithm::EdDSA);
    let token = codec.sign(&claims(TokenUse::Access), None).unwrap();
    assert!(
        codec.verify(&token, TokenUse::Access, NOW).is_ok(),
        "iat == now is fine"
    );
    assert!(matches!(
        codec.verify(&token, TokenUse::Access, NOW - 1).unwrap_err(),
        JwtError::IssuedInFuture
    ));
    let keys = codec.keys();
    let mut payload = payload_json("access");
    payload["nbf"] = json!(NOW + 1);
    let token = forge(keys, &header_of(keys), &payload.to_string());
    assert!(matches!(
        verify_err(&codec, &token, TokenUse::Access),
        JwtError::IssuedInFuture
    ));
    payload["nbf"] = json!(NOW);
    let token = forge(keys, &header_of(keys), &payload.to_string());
    assert!(codec.verify(&token, TokenUse::Access, NOW).is_ok());
    payload["nbf"] = json!("soon");
    let token = forge(keys, &header_of(keys), &payload.to_string());
    assert!(matches!(
        verify_err(&codec, &token, TokenUse::Access),
        JwtError::InvalidClaim { claim: "nbf" }
    ));
}

#[test]
fn tampering_breaks_the_signature() {
    for alg in Algorithm::ALL {
        let codec = codec(alg);
        let token = codec.sign(&claims(TokenUse::Access), None).unwrap();
        let (message, signature) = token.rsplit_once('.').unwrap();
        let (header, _) = message.split_once('.').unwrap();

        // A payload naming another user, under the original signature.
        let mut forged = claims(TokenUse::Access);
        forged.sub = "1".into();
        let other = codec.sign(&forged, None).unwrap();
        let other_payload = other.split('.').nth(1).unwrap();
        let tampered = format!("{header}.{other_payload}.{signature}");
        assert!(matches!(
            verify_err(&codec, &tampered, TokenUse::Access),
            JwtError::BadSignature
        ));

        // A flipped signature byte.
        let mut sig = URL_SAFE_NO_PAD.decode(signature).unwrap();
        sig[0] ^= 1;
        let bad = format!("{message}.{}", b64(&sig));
        assert!(matches!(
            verify_err(&codec, &bad, TokenUse::Access),
            JwtError::BadSignature
        ));

        // No signature at all.
        let unsigned = format!("{message}.");
        assert!(matches!(
            verify_err(&codec, &unsigned, TokenUse::Access),
            JwtError::BadSignature
        ));
    }
}

#[test]
fn a_signature_by_another_key_of_the_same_algorithm_fails() {
    let ours = codec(Algorithm::RS256);
    let theirs = KeySet::from_private_pem(Algorithm::RS256, fixtures::RSA_OLD).unwrap();
    // Their signature, our header (our kid): the key lookup succeeds, the signature does not.
    let token = forge(
        &theirs,
        &header_of(ours.keys()),
        &payload_json("access").to_string(),
    );
    assert!(matches!(
        verify_err(&ours, &token, TokenUse::Access),
        JwtError::BadSignature
    ));
    let hs = codec(Algorithm::HS256);
    let other = KeySet::from_secret(Algorithm::HS256, b"another secret").unwrap();
    let token = forge(
        &other,
        &header_of(&other),
        &payload_json("access").to_string(),
    );
    assert!(matches!(
        verify_err(&hs, &token, TokenUse::Access),
        JwtError::BadSignature
    ));
}

#[test]
fn alg_none_is_rejected() {
    for alg in Algorithm::ALL {
        let codec = codec(alg);
        let payload = b64(payload_json("access").to_string());
        for none in ["none", "None", "NONE", ""] {
            for kid in [None, codec.keys().signing_kid()] {
                let header = match kid {
                    Some(kid) => json!({ "alg": none, "kid": kid, "typ": "JWT" }),
                    None => json!({ "alg": none, "typ": "JWT" }),
                };
                let token = format!("{}.{payload}.", b64(header.to_string()));
                let err = verify_err(&codec, &token, TokenUse::Access);
                assert!(
                    matches!(err, JwtError::WrongAlgorithm),
                    "{alg} {none}: {err}"
                );
            }
        }
    }
}

#[test]
fn hmac_signed_with_the_rsa_public_key_is_rejected() {
    // The classic key-confusion forgery: the verifier's public key used as an HMAC secret.
    let rs = codec(Algorithm::RS256);
    let confused = KeySet::from_secret(Algorithm::HS256, fixtures::RSA_PUB).unwrap();
    let payload = payload_json("access").to_string();
    let rs_kid = kid("rsa.pem");
    for header in [
        format!(r#"{{"alg":"HS256","kid":"{rs_kid}","typ":"JWT"}}"#),
        r#"{"alg":"HS256","typ":"JWT"}"#.to_owned(),
    ] {
        let token = forge(&confused, &header, &payload);
        assert!(matches!(
            verify_err(&rs, &token, TokenUse::Access),
            JwtError::WrongAlgorithm
        ));
    }
    // Claiming RS256 in the header with an HMAC signature does not help either.
    let header = format!(r#"{{"alg":"RS256","kid":"{rs_kid}","typ":"JWT"}}"#);
    let token = forge(&confused, &header, &payload);
    assert!(matches!(
        verify_err(&rs, &token, TokenUse::Access),
        JwtError::BadSignature
    ));
}

#[test]
fn a_header_alg_other_than_the_configured_one_is_rejected() {
    // Same key material, different algorithm of the same family.
    let rs256 = codec(Algorithm::RS256);
    let rs512 = codec(Algorithm::RS512);
    let token = rs512.sign(&claims(TokenUse::Access), None).unwrap();
    assert!(matches!(
        verify_err(&rs256, &token, TokenUse::Access),
        JwtError::WrongAlgorithm
    ));
    let hs256 = codec(Algorithm::HS256);
    let token = codec(Algorithm::HS512)
        .sign(&claims(TokenUse::Access), None)
        .unwrap();
    assert!(matches!(
        verify_err(&hs256, &token, TokenUse::Access),
        JwtError::WrongAlgorithm
    ));
    let token = codec(Algorithm::ES256)
        .sign(&claims(TokenUse::Access), None)
        .unwrap();
    assert!(matches!(
        verify_err(&rs256, &token, TokenUse::Access),
        JwtError::WrongAlgorithm
    ));
}

#[test]
fn access_and_refresh_tokens_are_not_interchangeable() {
    for alg in [Algorithm::HS256, Algorithm::RS256] {
        let codec = codec(alg);
        let access = codec.sign(&claims(TokenUse::Access), None).unwrap();
        let refresh = codec.sign(&claims(TokenUse::Refresh), None).unwrap();
        assert!(matches!(
            verify_err(&codec, &access, TokenUse::Refresh),
            JwtError::WrongUse
        ));
        assert!(matches!(
            verify_err(&codec, &refresh, TokenUse::Access),
            JwtError::WrongUse
        ));
    }
    let codec = codec(Algorithm::HS256);
    let keys = codec.keys();
    for odd in [json!("id"), json!("Access"), json!("")] {
        let mut payload = payload_json("access");
        payload["token_use"] = odd;
        let token = forge(keys, &header_of(keys), &payload.to_string());
        assert!(matches!(
            verify_err(&codec, &token, TokenUse::Access),
            JwtError::WrongUse
        ));
    }
}

#[test]
fn key_ids_must_name_a_known_key() {
    let rs = codec(Algorithm::RS256);
    let keys = rs.keys();
    let payload = payload_json("access").to_string();
    let token = forge(
        keys,
        r#"{"alg":"RS256","kid":"not-ours","typ":"JWT"}"#,
        &payload,
    );
    let err = verify_err(&rs, &token, TokenUse::Access);
    assert!(
        matches!(&err, JwtError::UnknownKey { kid } if kid == "not-ours"),
        "{err}"
    );
    assert_eq!(err.to_string(), r#"token signed by unknown key "not-ours""#);

    let long = "k".repeat(500);
    let token = forge(
        keys,
        &format!(r#"{{"alg":"RS256","kid":"{long}"}}"#),
        &payload,
    );
    let JwtError::UnknownKey { kid } = verify_err(&rs, &token, TokenUse::Access) else {
        panic!("expected UnknownKey");
    };
    assert_eq!(kid.chars().count(), 64);

    let token = forge(keys, r#"{"alg":"RS256","typ":"JWT"}"#, &payload);
    assert!(matches!(
        verify_err(&rs, &token, TokenUse::Access),
        JwtError::MissingKid
    ));
    for kid in ["1", "null", "[]", "{}"] {
        let token = forge(keys, &format!(r#"{{"alg":"RS256","kid":{kid}}}"#), &payload);
        assert!(
            matches!(
                verify_err(&rs, &token, TokenUse::Access),
                JwtError::Malformed
            ),
            "{kid}"
        );
    }

    // HMAC sets carry no kid, so a token with one was not made for them.
    let hs = codec(Algorithm::HS256);
    let token = forge(
        hs.keys(),
        r#"{"alg":"HS256","kid":"x","typ":"JWT"}"#,
        &payload,
    );
    assert!(matches!(
        verify_err(&hs, &token, TokenUse::Access),
        JwtError::UnknownKey { .. }
    ));
}

#[test]
fn required_claims_must_be_present_and_typed() {
    let codec = codec(Algorithm::HS256);
    let keys = codec.keys();
    let header = header_of(keys);
    for claim in ["sub", "jti", "sid", "token_use", "iat", "exp"] {
        let mut payload = payload_json("access");
        payload.as_object_mut().unwrap().remove(claim);
        let token = forge(keys, &header, &payload.to_string());
        let err = verify_err(&codec, &token, TokenUse::Access);
        assert!(
            matches!(err, JwtError::MissingClaim { claim: c } if c == claim),
            "{claim}: {err}"
        );
        let wrong = if matches!(claim, "iat" | "exp") {
            vec![
                json!("1700000000"),
                json!(1.7e9),
                json!(null),
                json!(u64::MAX),
                json!(true),
            ]
        } else {
            vec![
                json!(42),
                json!(null),
                json!(["a"]),
                json!({ "a": "b" }),
                json!(false),
            ]
        };
        for value in wrong {
            payload[claim] = value.clone();
            let token = forge(keys, &header, &payload.to_string());
            let err = verify_err(&codec, &token, TokenUse::Access);
            assert!(
                matches!(err, JwtError::InvalidClaim { claim: c } if c == claim),
                "{claim} = {value}: {err}"
            );
        }
    }
}

#[test]
fn strings_with_escapes_are_read_correctly() {
    let codec = codec(Algorithm::HS256);
    let keys = codec.keys();
    let mut payload = payload_json("access");
    payload["sub"] = json!("a\"b\\c\u{e9}\u{1F600}");
    let token = forge(keys, &header_of(keys), &payload.to_string());
    let claims = codec.verify(&token, TokenUse::Access, NOW).unwrap();
    assert_eq!(claims.sub, "a\"b\\c\u{e9}\u{1F600}");
    // JSON-escaped token_use is still "access".
    let raw = payload
        .to_string()
        .replace(r#""token_use":"access""#, r#""token_use":"\u0061ccess""#);
    let token = forge(keys, &header_of(keys), &raw);
    assert!(codec.verify(&token, TokenUse::Access, NOW).is_ok());
}

#[test]
fn malformed_shapes_are_rejected() {
    let codec = codec(Algorithm::HS256);
    let keys = codec.keys();
    let header = header_of(keys);
    let good = forge(keys, &header, &payload_json("access").to_string());
    assert!(codec.verify(&good, TokenUse::Access, NOW).is_ok());
    let (h, rest) = good.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    let cases = [
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}."),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}=.{p}.{s}"),
        format!("{h}.{p}.{s}="),
        format!("{}.{p}.{s}", h.replace('e', "+")),
        format!(" {good}"),
        format!("{good}\n"),
        // Duplicate members, a non-object header or payload, trailing bytes.
        forge(
            keys,
            r#"{"alg":"HS256","alg":"HS256"}"#,
            &payload_json("access").to_string(),
        ),
        forge(keys, r#"["HS256"]"#, &payload_json("access").to_string()),
        forge(keys, &header, r#"["7","j-1"]"#),
        forge(keys, &header, r#""just a string""#),
        forge(keys, &header, &format!("{} x", payload_json("access"))),
        forge(
            keys,
            &header,
            r#"{"sub":"7","sub":"8","jti":"j","sid":"s","token_use":"access","iat":1,"exp":9999999999}"#,
        ),
        forge(
            keys,
            r#"{"alg":"HS256","crit":["exp"]}"#,
            &payload_json("access").to_string(),
        ),
        forge(
            keys,
            r#"{"alg":["HS256"]}"#,
            &payload_json("access").to_string(),
        ),
        forge(
            keys,
            r#"{"typ":"JWT"}"#,
            &payload_json("access").to_string(),
        ),
    ];
    for token in cases {
        let err = verify_err(&codec, &token, TokenUse::Access);
        assert!(matches!(err, JwtError::Malformed), "{token:?}: {err}");
    }
}

#[test]
fn oversized_tokens_are_refused_before_parsing() {
    let codec = codec(Algorithm::RS256);
    let big = "a".repeat(MAX_TOKEN_LEN + 1);
    assert!(matches!(
        verify_err(&codec, &big, TokenUse::Access),
        JwtError::Oversized
    ));
    let at_limit = "a".repeat(MAX_TOKEN_LEN);
    assert!(matches!(
        verify_err(&codec, &at_limit, TokenUse::Access),
        JwtError::Malformed
    ));
    // A well-signed but huge token is refused by length alone.
    let keys = codec.keys();
    let mut payload = payload_json("access");
    payload["pad"] = json!("x".repeat(MAX_TOKEN_LEN));
    let token = forge(keys, &header_of(keys), &payload.to_string());
    assert!(matches!(
        verify_err(&codec, &token, TokenUse::Access),
        JwtError::Oversized
    ));
}

#[test]
fn garbage_is_rejected() {
    let codec = codec(Algorithm::ES256);
    for token in [
        "garbage",
        "a.b.c",
        "eyJhbGciOiJFUzI1NiJ9.e30.AAAA",
        "\u{0}\u{1}\u{2}",
        "Bearer x.y.z",
        "🦀.🦀.🦀",
        "e30.e30.e30",
    ] {
        let err = verify_err(&codec, token, TokenUse::Access);
        assert!(!matches!(err, JwtError::Signing(_)), "{token:?}");
    }
}

#[test]
fn rotated_out_signing_keys_still_verify_by_kid() {
    let old = JwtCodec::new(KeySet::from_private_pem(Algorithm::RS256, fixtures::RSA_OLD).unwrap());
    let old_token = old.sign(&claims(TokenUse::Refresh), None).unwrap();
    let current = JwtCodec::new(
        KeySet::from_private_pem(Algorithm::RS256, fixtures::RSA)
            .unwrap()
            .with_verification_pem(fixtures::RSA_OLD_PUB)
            .unwrap(),
    );
    assert_eq!(
        current.verify(&old_token, TokenUse::Refresh, NOW).unwrap(),
        claims(TokenUse::Refresh)
    );
    let new_token = current.sign(&claims(TokenUse::Access), None).unwrap();
    assert!(segment_json(&new_token, 0).contains(kid("rsa.pem")));
    assert!(current.verify(&new_token, TokenUse::Access, NOW).is_ok());
    // The old key alone does not know the new one.
    assert!(matches!(
        verify_err(&old, &new_token, TokenUse::Access),
        JwtError::UnknownKey { .. }
    ));
    let jwks = current.keys().jwks();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [kid("rsa.pem"), kid("rsa_old.pem")]);
}

#[test]
fn shared_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<JwtCodec>();
    assert_send_sync::<KeySet>();
    assert_send_sync::<JwtError>();
    assert_send_sync::<crate::token::cache::VerifiedCache>();
    assert_send_sync::<crate::crypto::sid::SidCipher>();
}

#[test]
fn codec_clones_share_keys() {
    let codec = codec(Algorithm::HS256);
    let clone = codec.clone();
    let token = codec.sign(&claims(TokenUse::Access), None).unwrap();
    assert!(clone.verify(&token, TokenUse::Access, NOW).is_ok());
    assert!(!format!("{codec:?}").contains(std::str::from_utf8(SECRET).unwrap()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary input never panics and is never accepted.
    #[test]
    fn arbitrary_strings_are_rejected(token in ".{0,400}") {
        let codec = codec(Algorithm::HS256);
        prop_assert!(codec.verify(&token, TokenUse::Access, NOW).is_err());
    }

    /// Changing any byte of a valid token makes it invalid (or leaves it unchanged).
    #[test]
    fn single_byte_changes_are_rejected(index in 0usize..2000, byte in 0x20u8..0x7f) {
        let codec = codec(Algorithm::HS256);
        let token = codec.sign(&claims(TokenUse::Access), None).unwrap();
        let mut bytes = token.clone().into_bytes();
        let index = index % bytes.len();
        bytes[index] = byte;
        let mutated = String::from_utf8(bytes).unwrap();
        let result = codec.verify(&mutated, TokenUse::Access, NOW);
        if mutated == token {
            prop_assert!(result.is_ok());
        } else {
            prop_assert!(result.is_err(), "accepted a changed token at byte {}", index);
        }
    }
}
