//! Settings: defaults, precedence, parsing and the errors that name a setting.

use super::*;

fn raw(pairs: &[(&str, &str)]) -> RawConfig {
    let mut raw = RawConfig::new();
    for (k, v) in pairs {
        raw.set(k, *v).unwrap();
    }
    raw
}

#[test]
fn defaults_are_allauths() {
    let c = Config::default();
    assert_eq!(c.token_strategy, StrategyKind::Session);
    assert_eq!(c.jwt_algorithm, Algorithm::RS256);
    assert_eq!(c.refresh_algorithm, None);
    assert_eq!((c.access_ttl_secs, c.refresh_ttl_secs), (300, 86_400));
    assert_eq!(c.header_scheme, "Bearer");
    assert!(!c.stateful_validation && c.rotate_refresh && c.rate_limits && c.signup_open);
    assert_eq!(c.session_ttl_secs, 1_209_600);
    assert_eq!(c.refresh_grace_secs, 10);
    assert_eq!(c.durability, Durability::Fsync);
    assert_eq!(c.trusted_proxy_count, 0);
    assert_eq!(c.trusted_client_ip_header, None);
}

#[test]
fn trusted_proxy_settings_are_allauths() {
    let file = raw(&[
        ("ALLAUTH_TRUSTED_PROXY_COUNT", "1"),
        ("ALLAUTH_TRUSTED_CLIENT_IP_HEADER", "X-Real-IP"),
    ]);
    let c = file.clone().validate().unwrap();
    assert_eq!(c.trusted_proxy_count, 1);
    assert_eq!(c.trusted_client_ip_header.as_deref(), Some("x-real-ip"));
    let env = raw(&[
        ("ALLAUTH_TRUSTED_PROXY_COUNT", " 2 "),
        ("ALLAUTH_TRUSTED_CLIENT_IP_HEADER", "CF-Connecting-IP"),
    ]);
    let flags = raw(&[("ALLAUTH_TRUSTED_CLIENT_IP_HEADER", "")]);
    let c = RawConfig::layered(flags, env, file).validate().unwrap();
    assert_eq!(c.trusted_proxy_count, 2);
    assert_eq!(
        c.trusted_client_ip_header, None,
        "empty is unset, as in allauth"
    );
}

#[test]
fn precedence_is_flag_env_file_default() {
    let file = raw(&[
        ("HEADLESS_JWT_ACCESS_TOKEN_EXPIRES_IN", "100"),
        ("SESSION_COOKIE_AGE", "5"),
        ("ACCOUNT_RATE_LIMITS", "false"),
    ]);
    let env = raw(&[
        ("HEADLESS_JWT_ACCESS_TOKEN_EXPIRES_IN", "200"),
        ("SESSION_COOKIE_AGE", "6"),
    ]);
    let flags = raw(&[("HEADLESS_JWT_ACCESS_TOKEN_EXPIRES_IN", "400")]);
    let c = RawConfig::layered(flags, env, file).validate().unwrap();
    assert_eq!(c.access_ttl_secs, 400);
    assert_eq!(c.session_ttl_secs, 6);
    assert!(!c.rate_limits);
    assert_eq!(c.refresh_ttl_secs, 86_400);
}

#[test]
fn booleans_accept_any_case_and_digits() {
    for (v, want) in [("TRUE", true), ("False", false), ("1", true), ("0", false)] {
        let c = raw(&[("HALLPASS_SIGNUP_OPEN", v)]).validate().unwrap();
        assert_eq!(c.signup_open, want, "{v}");
    }
}

#[test]
fn errors_name_the_setting() {
    let cases = [
        ("HALLPASS_SIGNUP_OPEN", "yes please"),
        ("HEADLESS_JWT_ACCESS_TOKEN_EXPIRES_IN", "5m"),
        ("HEADLESS_JWT_REFRESH_TOKEN_EXPIRES_IN", "0"),
        ("HEADLESS_TOKEN_STRATEGY", "cookie"),
        ("HEADLESS_JWT_ALGORITHM", "none"),
        ("HALLPASS_DURABILITY", "sometimes"),
        ("ALLAUTH_TRUSTED_PROXY_COUNT", "-1"),
        ("ALLAUTH_TRUSTED_PROXY_COUNT", "one"),
        ("ALLAUTH_TRUSTED_PROXY_COUNT", "101"),
        ("ALLAUTH_TRUSTED_CLIENT_IP_HEADER", "X Real IP"),
        ("ALLAUTH_TRUSTED_CLIENT_IP_HEADER", "X-Real-IP:"),
        ("HALLPASS_JWT_REFRESH_ALGORITHM", "RS256"),
        ("HALLPASS_JWT_REFRESH_ALGORITHM", "none"),
    ];
    for (name, value) in cases {
        let err = raw(&[(name, value)]).validate().unwrap_err();
        assert_eq!(err.setting, name);
    }
    assert_eq!(
        RawConfig::new().set("NOPE", "1").unwrap_err().setting,
        "NOPE"
    );
}

#[test]
fn strategy_accepts_allauth_class_paths() {
    let c = raw(&[(
        "HEADLESS_TOKEN_STRATEGY",
        "allauth.headless.tokens.strategies.jwt.JWTTokenStrategy",
    )])
    .validate()
    .unwrap();
    assert_eq!(c.token_strategy, StrategyKind::Jwt);
}

#[test]
fn secrets_are_redacted() {
    let r = raw(&[("SECRET_KEY", "hunter2")]);
    assert!(!format!("{r:?}").contains("hunter2"));
    let c = r.validate().unwrap();
    assert!(!format!("{c:?}").contains("hunter2"));
}

#[test]
fn every_setting_has_a_one_line_doc() {
    for s in settings::DECLARED {
        let doc = s.doc();
        assert!(!doc.is_empty(), "{} has no doc", s.name);
        assert!(
            !doc.contains('\n') && !doc.contains('|'),
            "{}'s doc must be one line without `|` (it is a README table cell)",
            s.name
        );
    }
}

#[test]
fn names_are_unique_and_are_the_known_settings() {
    let names: Vec<&str> = settings::DECLARED.iter().map(|s| s.name).collect();
    let unique: std::collections::BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "a setting is declared twice");
    assert_eq!(SETTINGS, names.as_slice());
    for name in names {
        assert!(RawConfig::new().set(name, "x").is_ok(), "{name}");
    }
}

#[test]
fn every_declared_default_validates() {
    assert!(RawConfig::new().validate().is_ok());
    for s in settings::DECLARED {
        let written = raw(&[(s.name, &s.default_text())]);
        if let Err(e) = written.validate() {
            panic!(
                "{}'s default {:?} does not validate: {e}",
                s.name,
                s.default_text()
            );
        }
    }
}

#[test]
fn engine_defaults_are_the_engines() {
    let (c, e) = (Config::default(), EngineConfig::default());
    assert_eq!(c.session_ttl_secs, e.session_ttl_secs);
    assert_eq!(c.refresh_grace_secs * 1000, e.refresh_grace_ms);
    assert_eq!(c.reuse_detection, e.reuse_detection);
}

#[test]
fn a_blank_value_is_the_default() {
    let blank = raw(&[
        ("HEADLESS_JWT_ACCESS_TOKEN_EXPIRES_IN", ""),
        ("HALLPASS_SIGNUP_OPEN", "  "),
        ("HEADLESS_JWT_AUTHORIZATION_HEADER_SCHEME", ""),
        ("SECRET_KEY", " "),
    ]);
    let c = blank.validate().unwrap();
    assert_eq!(c.access_ttl_secs, 300);
    assert!(c.signup_open);
    assert_eq!(c.header_scheme, "Bearer");
    assert!(c.secret_key.is_none());
}

#[test]
fn help_lists_every_setting_with_its_default_and_doc() {
    let help = RawConfig::settings_help();
    for s in settings::DECLARED {
        let default = match s.default {
            settings::DefaultValue::Unset(note) => note.to_owned(),
            _ => s.default_text().into_owned(),
        };
        let secret = if s.secret { "secret; " } else { "" };
        assert!(
            help.contains(&format!("  {} ({secret}default: {default})\n", s.name)),
            "{} missing from:\n{help}",
            s.name
        );
        let first_word = s.doc().replace('`', "");
        let first_word = first_word.split_whitespace().next().unwrap();
        assert!(help.contains(first_word), "{}'s doc", s.name);
    }
    assert!(help.lines().all(|l| l.chars().count() <= 80), "{help}");
}
