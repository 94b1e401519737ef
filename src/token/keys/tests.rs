use super::material::PublicJwk;
use super::*;

/// Test-only fixture keys (see tests/fixtures/keys/README.md).
pub(crate) mod fixtures {
    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/keys/",
                $name
            ))
        };
    }
    pub(crate) const RSA: &[u8] = fixture!("rsa.pem");
    pub(crate) const RSA_PKCS1: &[u8] = fixture!("rsa_pkcs1.pem");
    pub(crate) const RSA_PUB: &[u8] = fixture!("rsa.pub.pem");
    pub(crate) const RSA_OLD: &[u8] = fixture!("rsa_old.pem");
    pub(crate) const RSA_OLD_PUB: &[u8] = fixture!("rsa_old.pub.pem");
    pub(crate) const EC: &[u8] = fixture!("ec.pem");
    pub(crate) const EC_SEC1: &[u8] = fixture!("ec_sec1.pem");
    pub(crate) const EC_PUB: &[u8] = fixture!("ec.pub.pem");
    pub(crate) const EC_P384: &[u8] = fixture!("ec_p384.pem");
    pub(crate) const ED: &[u8] = fixture!("ed25519.pem");
    pub(crate) const ED_PUB: &[u8] = fixture!("ed25519.pub.pem");
    pub(crate) const ED_OLD: &[u8] = fixture!("ed25519_old.pem");
    pub(crate) const KIDS: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/keys/kids.txt"
    ));

    /// The kid `make_kids.sh` computed with openssl for fixture `file`.
    pub(crate) fn kid(file: &str) -> &'static str {
        KIDS.lines()
            .filter_map(|l| l.split_once(' '))
            .find(|(f, _)| *f == file)
            .map(|(_, kid)| kid)
            .unwrap_or_else(|| panic!("no kid for {file}"))
    }
}

use fixtures::*;

#[test]
fn algorithm_names_round_trip_exactly() {
    for alg in Algorithm::ALL {
        assert_eq!(alg.as_str().parse::<Algorithm>().unwrap(), alg);
        assert_eq!(alg.to_string(), alg.as_str());
        assert_eq!(
            alg.to_jwt(),
            alg.as_str().parse::<jsonwebtoken::Algorithm>().unwrap()
        );
    }
    for bad in [
        "", "rs256", "none", "None", "PS256", "ES384", "EDDSA", " RS256", "HS256 ",
    ] {
        let err = bad.parse::<Algorithm>().unwrap_err();
        assert!(
            matches!(err, KeyError::UnsupportedAlgorithm { .. }),
            "{bad:?}: {err}"
        );
    }
    let long = "X".repeat(500);
    let KeyError::UnsupportedAlgorithm { name } = long.parse::<Algorithm>().unwrap_err() else {
        panic!("wrong error");
    };
    assert_eq!(name.len(), 32);
    assert!(Algorithm::HS512.is_symmetric() && !Algorithm::EdDSA.is_symmetric());
}

#[test]
fn thumbprint_matches_rfc_7638_example() {
    // RFC 7638 section 3.1.
    let jwk = PublicJwk::Rsa {
        n: concat!(
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_B",
            "JECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_F",
            "DW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4",
            "vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        )
        .into(),
        e: "AQAB".into(),
    };
    assert_eq!(
        jwk.thumbprint(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[test]
fn kid_is_the_thumbprint_openssl_computes() {
    let cases: [(Algorithm, &[u8], &str); 7] = [
        (Algorithm::RS256, RSA, "rsa.pem"),
        (Algorithm::RS512, RSA_PKCS1, "rsa_pkcs1.pem"),
        (Algorithm::RS384, RSA_OLD, "rsa_old.pem"),
        (Algorithm::ES256, EC, "ec.pem"),
        (Algorithm::ES256, EC_SEC1, "ec_sec1.pem"),
        (Algorithm::EdDSA, ED, "ed25519.pem"),
        (Algorithm::EdDSA, ED_OLD, "ed25519_old.pem"),
    ];
    for (alg, pem, file) in cases {
        let keys = KeySet::from_private_pem(alg, pem).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(keys.signing_kid(), Some(kid(file)), "{file}");
        assert_eq!(keys.algorithm(), alg);
    }
    // PKCS#1 and PKCS#8 forms of one key, SEC1 and PKCS#8 forms of another: same kid.
    assert_eq!(kid("rsa.pem"), kid("rsa_pkcs1.pem"));
    assert_eq!(kid("ec.pem"), kid("ec_sec1.pem"));
}

#[test]
fn header_is_sorted_and_has_kid_only_for_asymmetric_keys() {
    let decode =
        |keys: &KeySet| String::from_utf8(URL_SAFE_NO_PAD.decode(keys.header_b64()).unwrap());
    let hs = KeySet::from_secret(Algorithm::HS256, b"secret").unwrap();
    assert_eq!(decode(&hs).unwrap(), r#"{"alg":"HS256","typ":"JWT"}"#);
    assert_eq!(hs.signing_kid(), None);
    let rs = KeySet::from_private_pem(Algorithm::RS256, RSA).unwrap();
    assert_eq!(
        decode(&rs).unwrap(),
        format!(
            r#"{{"alg":"RS256","kid":"{}","typ":"JWT"}}"#,
            kid("rsa.pem")
        )
    );
}

#[test]
fn wrong_kinds_of_keys_are_refused() {
    let pem_err = |alg, pem: &[u8]| KeySet::from_private_pem(alg, pem).unwrap_err();
    assert!(matches!(
        KeySet::from_secret(Algorithm::RS256, b"secret"),
        Err(KeyError::WrongKeyKind { .. })
    ));
    assert!(matches!(
        KeySet::from_secret(Algorithm::HS256, b""),
        Err(KeyError::EmptySecret)
    ));
    assert!(matches!(
        pem_err(Algorithm::HS256, RSA),
        KeyError::WrongKeyKind { .. }
    ));
    for (alg, pem) in [
        (Algorithm::RS256, EC),
        (Algorithm::RS256, ED),
        (Algorithm::RS256, RSA_PUB),
        (Algorithm::ES256, EC_P384),
        (Algorithm::ES256, RSA),
        (Algorithm::ES256, EC_PUB),
        (Algorithm::EdDSA, EC),
        (Algorithm::EdDSA, RSA_PKCS1),
        (Algorithm::EdDSA, ED_PUB),
    ] {
        let err = pem_err(alg, pem);
        assert!(matches!(err, KeyError::InvalidKey { .. }), "{alg}: {err}");
    }
    let garbage: [&[u8]; 6] = [
        b"",
        b"\xff\xfe",
        b"hello",
        b"-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n",
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
    ];
    for pem in garbage {
        assert!(
            matches!(pem_err(Algorithm::RS256, pem), KeyError::Pem { .. }),
            "{pem:?}"
        );
    }
    let bogus_der = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    assert!(matches!(
        pem_err(Algorithm::EdDSA, bogus_der),
        KeyError::InvalidKey { .. }
    ));
    let legacy = b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
    assert!(matches!(
        pem_err(Algorithm::RS256, legacy),
        KeyError::Pem { .. }
    ));
}

#[test]
fn ec_parameters_block_before_the_key_is_skipped() {
    let params = b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n";
    let pem = [params.as_slice(), EC_SEC1].concat();
    let keys = KeySet::from_private_pem(Algorithm::ES256, &pem).unwrap();
    assert_eq!(keys.signing_kid(), Some(kid("ec.pem")));
}

#[test]
fn verification_keys_rotate_in_by_kid() {
    let keys = KeySet::from_private_pem(Algorithm::RS256, RSA)
        .unwrap()
        .with_verification_pem(RSA_OLD_PUB)
        .unwrap()
        // The same key again, as a private key: no duplicate.
        .with_verification_pem(RSA_OLD)
        .unwrap()
        // The signing key itself: no duplicate either.
        .with_verification_pem(RSA_PUB)
        .unwrap();
    assert_eq!(keys.signing_kid(), Some(kid("rsa.pem")));
    assert!(keys.verification_key(Some(kid("rsa_old.pem"))).is_ok());
    assert!(keys.verification_key(Some(kid("rsa.pem"))).is_ok());
    assert_eq!(
        keys.verification_key(Some("nope")).err(),
        Some(KeyLookup::UnknownKid)
    );
    assert_eq!(
        keys.verification_key(None).err(),
        Some(KeyLookup::MissingKid)
    );
    let jwks = keys.jwks();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [kid("rsa.pem"), kid("rsa_old.pem")]);

    let ed = KeySet::from_private_pem(Algorithm::EdDSA, ED_OLD)
        .unwrap()
        .with_verification_pem(ED_PUB)
        .unwrap();
    assert!(ed.verification_key(Some(kid("ed25519.pem"))).is_ok());
    let es = KeySet::from_private_pem(Algorithm::ES256, EC).unwrap();
    assert!(es.with_verification_pem(EC_PUB).is_ok());
}

#[test]
fn verification_keys_must_fit_the_algorithm() {
    let rs = || KeySet::from_private_pem(Algorithm::RS256, RSA).unwrap();
    assert!(matches!(
        rs().with_verification_pem(EC_PUB),
        Err(KeyError::InvalidKey { .. })
    ));
    assert!(matches!(
        rs().with_verification_pem(ED),
        Err(KeyError::InvalidKey { .. })
    ));
    assert!(matches!(
        rs().with_verification_pem(b"x"),
        Err(KeyError::Pem { .. })
    ));
    let es = KeySet::from_private_pem(Algorithm::ES256, EC).unwrap();
    assert!(matches!(
        es.with_verification_pem(EC_P384),
        Err(KeyError::InvalidKey { .. })
    ));
    let hs = KeySet::from_secret(Algorithm::HS256, b"secret").unwrap();
    assert!(matches!(
        hs.with_verification_pem(RSA_PUB),
        Err(KeyError::WrongKeyKind { .. })
    ));
}

#[test]
fn hmac_sets_take_no_kid() {
    let hs = KeySet::from_secret(Algorithm::HS384, b"secret").unwrap();
    assert!(hs.verification_key(None).is_ok());
    assert_eq!(
        hs.verification_key(Some("")).err(),
        Some(KeyLookup::UnknownKid)
    );
    assert_eq!(hs.jwks(), json!({ "keys": [] }));
}

#[test]
fn jwks_lists_public_members_only() {
    let rs = KeySet::from_private_pem(Algorithm::RS512, RSA).unwrap();
    let jwk = &rs.jwks()["keys"][0];
    let mut names: Vec<&str> = jwk
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["alg", "e", "kid", "kty", "n", "use"]);
    assert_eq!(jwk["kty"], "RSA");
    assert_eq!(jwk["alg"], "RS512");
    assert_eq!(jwk["use"], "sig");
    assert_eq!(jwk["e"], "AQAB");
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(jwk["n"].as_str().unwrap())
            .unwrap()
            .len(),
        256
    );

    let es = KeySet::from_private_pem(Algorithm::ES256, EC).unwrap();
    let jwk = &es.jwks()["keys"][0];
    assert_eq!(
        (&jwk["kty"], &jwk["crv"], &jwk["alg"]),
        (&json!("EC"), &json!("P-256"), &json!("ES256"))
    );
    assert!(jwk.get("d").is_none());
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(jwk["y"].as_str().unwrap())
            .unwrap()
            .len(),
        32
    );

    let ed = KeySet::from_private_pem(Algorithm::EdDSA, ED).unwrap();
    let jwk = &ed.jwks()["keys"][0];
    assert_eq!(
        (&jwk["kty"], &jwk["crv"], &jwk["alg"]),
        (&json!("OKP"), &json!("Ed25519"), &json!("EdDSA"))
    );
    assert!(jwk.get("d").is_none());
    assert_eq!(jwk["kid"], kid("ed25519.pem"));
}

#[test]
fn jwks_entries_are_valid_jwks_for_jsonwebtoken() {
    for (alg, pem) in [
        (Algorithm::RS256, RSA),
        (Algorithm::ES256, EC),
        (Algorithm::EdDSA, ED),
    ] {
        let keys = KeySet::from_private_pem(alg, pem).unwrap();
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(keys.jwks()).unwrap();
        let jwk = set.find(keys.signing_kid().unwrap()).unwrap();
        assert_eq!(
            jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
                .unwrap(),
            keys.signing_kid().unwrap(),
            "{alg}: jsonwebtoken's own RFC 7638 thumbprint agrees"
        );
        let decoding = DecodingKey::try_from(jwk).unwrap();
        let signature = keys.sign_message(b"msg").unwrap();
        assert!(keys.verify_message(&decoding, b"msg", signature), "{alg}");
    }
}

#[test]
fn generated_keys_load_back() {
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let pem = generate_private_pem(alg).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{alg}");
        assert!(pem.lines().all(|l| l.len() <= 64), "{alg}");
        let keys = KeySet::from_private_pem(alg, pem.as_bytes()).unwrap();
        assert_eq!(keys.signing_kid().unwrap().len(), 43);
        let again = generate_private_pem(alg).unwrap();
        assert_ne!(pem, again);
    }
    // An RS256 key serves RS512 as well: the key type, not the hash, is what is generated.
    let pem = generate_private_pem(Algorithm::RS512).unwrap();
    assert!(KeySet::from_private_pem(Algorithm::RS512, pem.as_bytes()).is_ok());
    assert!(matches!(
        generate_private_pem(Algorithm::HS256),
        Err(KeyError::WrongKeyKind { .. })
    ));
}

#[test]
fn debug_shows_no_key_material() {
    let secret = b"very-secret-hmac-key-material";
    let shown = format!(
        "{:?}",
        KeySet::from_secret(Algorithm::HS256, secret).unwrap()
    );
    assert!(!shown.contains("very-secret"), "{shown}");
    assert!(shown.contains("HS256"));

    let rs = KeySet::from_private_pem(Algorithm::RS256, RSA)
        .unwrap()
        .with_verification_pem(RSA_OLD_PUB)
        .unwrap();
    let shown = format!("{rs:?}");
    let body_line = std::str::from_utf8(RSA).unwrap().lines().nth(1).unwrap();
    assert!(!shown.contains(&body_line[..20]), "{shown}");
    assert!(
        shown.contains(kid("rsa.pem")) && shown.contains(kid("rsa_old.pem")),
        "{shown}"
    );
}

#[test]
fn errors_say_what_is_wrong_without_key_material() {
    let err = KeySet::from_private_pem(Algorithm::ES256, EC_P384).unwrap_err();
    assert_eq!(
        err.to_string(),
        "not a usable ES256 key: expected a P-256 private key"
    );
    let err = KeySet::from_secret(Algorithm::RS256, b"s3cr3t").unwrap_err();
    assert_eq!(err.to_string(), "RS256 needs a PEM private key");
}
