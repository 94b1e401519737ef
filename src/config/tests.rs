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
        ("HALLPASS_MAX_SESSIONS_PER_USER", "-1"),
        ("HALLPASS_MAX_SESSIONS_PER_USER", "1000001"),
        ("HALLPASS_MAX_SESSIONS_PER_USER", "lots"),
        ("HALLPASS_REFRESH_GRACE_REPLAYS", "-1"),
        ("HALLPASS_REFRESH_GRACE_REPLAYS", "10001"),
        ("HALLPASS_REFRESH_GRACE_REPLAYS", "2.5"),
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
    assert_eq!(c.max_sessions_per_user, e.max_sessions_per_user);
    assert_eq!(c.refresh_grace_replays, e.refresh_grace_replays);
    assert_eq!(
        (c.max_sessions_per_user, c.refresh_grace_replays),
        (100, 32)
    );
}

#[test]
fn session_cap_and_grace_replays_reach_the_engine() {
    let c = raw(&[
        ("HALLPASS_MAX_SESSIONS_PER_USER", "0"),
        ("HALLPASS_REFRESH_GRACE_REPLAYS", " 3 "),
        ("HALLPASS_REFRESH_GRACE_SECONDS", "2"),
    ])
    .validate()
    .unwrap();
    let e = c.engine_config();
    assert_eq!(e.max_sessions_per_user, 0, "0 is no cap");
    assert_eq!(e.refresh_grace_replays, 3);
    assert_eq!(e.refresh_grace_ms, 2000);
    let c = raw(&[
        ("HALLPASS_MAX_SESSIONS_PER_USER", "1000000"),
        ("HALLPASS_REFRESH_GRACE_REPLAYS", "0"),
    ])
    .validate()
    .unwrap();
    assert_eq!(c.engine_config().max_sessions_per_user, 1_000_000);
    assert_eq!(c.engine_config().refresh_grace_replays, 0);
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

/// The README's settings table is the one the declarations in `settings.rs` render: the lines
/// between `<!-- settings:begin -->` and `<!-- settings:end -->` in `README.md`.
///
/// When it fails, edit the declaration (not the README), then regenerate the table with
/// `HALLPASS_UPDATE_README=1 cargo test --lib config::tests::readme`, which rewrites the lines
/// between the markers and passes. The failure message also prints the expected table.
#[test]
fn readme_settings_table_is_the_declarations() {
    const BEGIN: &str = "<!-- settings:begin -->\n";
    const END: &str = "<!-- settings:end -->";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (Some(begin), Some(end)) = (readme.find(BEGIN), readme.find(END)) else {
        panic!("README.md lacks the markers {BEGIN:?} and {END:?} around the settings table");
    };
    let (start, written) = (begin + BEGIN.len(), &readme[begin + BEGIN.len()..end]);
    let expected = markdown_table();
    if written == expected {
        return;
    }
    if std::env::var_os("HALLPASS_UPDATE_README").is_some() {
        let updated = format!("{}{expected}{}", &readme[..start], &readme[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    panic!(
        "README.md's settings table differs from the declarations in src/config/settings.rs \
         (- README, + declarations):\n{}\nRegenerate it with `HALLPASS_UPDATE_README=1 \
         cargo test --lib config::tests::readme`; the table is:\n\n{expected}",
        line_diff(written, &expected)
    );
}

/// The README's settings table: a Markdown row per declared setting, in declaration order.
fn markdown_table() -> String {
    let mut out = String::from("| setting | default | meaning |\n|---|---|---|\n");
    for s in settings::DECLARED {
        let default = match s.default {
            settings::DefaultValue::Unset(note) => format!("({note})"),
            _ => format!("`{}`", s.default_text()),
        };
        out.push_str(&format!("| `{}` | {default} | {} |\n", s.name, s.doc()));
    }
    out
}

/// The lines of `old` and `new` that differ, as `- old` / `+ new` (a longest-common-subsequence
/// diff, small inputs only).
fn line_diff(old: &str, new: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    // common[i][j]: the length of the longest common subsequence of a[i..] and b[j..].
    let mut common = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut out, mut i, mut j) = (String::new(), 0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || common[i + 1][j] >= common[i][j + 1]) {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        }
    }
    out
}

#[test]
fn line_diff_shows_only_what_changed() {
    assert_eq!(line_diff("a\nb\nc\n", "a\nc\nd\n"), "- b\n+ d\n");
    assert_eq!(line_diff("x\n", "y\n"), "- x\n+ y\n");
    assert_eq!(line_diff("same\n", "same\n"), "");
}

#[test]
fn secret_settings_are_the_keys() {
    let secret: Vec<&str> = settings::DECLARED
        .iter()
        .filter(|s| s.secret)
        .map(|s| s.name)
        .collect();
    assert_eq!(
        secret,
        [
            "HEADLESS_JWT_PRIVATE_KEY",
            "SECRET_KEY",
            "EMAIL_HOST_PASSWORD"
        ]
    );
    assert!(settings::Setting::is_secret("SECRET_KEY"));
    assert!(!settings::Setting::is_secret("HEADLESS_JWT_ALGORITHM"));
}

#[test]
fn errors_never_echo_a_secret() {
    let values = [("SECRET_KEY".to_owned(), "hunter2".to_owned())].into();
    let expected = || Err::<(), _>("expected something else".to_owned());
    let secret = settings::Setting::find("SECRET_KEY").unwrap();
    let err = secret.parse(&values, |_| expected()).unwrap_err();
    assert_eq!(err.setting, "SECRET_KEY");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    // A setting that is not secret shows what was written, which helps.
    let values = [("HALLPASS_DURABILITY".to_owned(), "sometimes".to_owned())].into();
    let durability = settings::Setting::find("HALLPASS_DURABILITY").unwrap();
    let err = durability.parse(&values, |_| expected()).unwrap_err();
    assert!(err.to_string().contains("\"sometimes\""), "{err}");
    // `--set` without `=` may be a secret typed with the wrong separator.
    let err = RawConfig::new()
        .set_assignment("SECRET_KEY:hunter2")
        .unwrap_err();
    assert_eq!(err.setting, "--set");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn weak_secret_keys_warn_without_the_value() {
    let strong = "k3!x-9q_Vb7m@Zr2&Lp0(Ws5^Nd8)Hf4=Tj6+Cg1#Ye$uAoEiI";
    assert_eq!(strong.len(), 50);
    let weak = [
        "hunter2",                                              // short
        "abcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdab",   // 50, 4 distinct
        "django-insecure-k3!x-9q_Vb7m@Zr2&Lp0(Ws5^Nd8)Hf4=Tj6", // startproject's placeholder
    ];
    for key in weak {
        let warnings = raw(&[("SECRET_KEY", key)]).validate().unwrap().warnings();
        assert_eq!(warnings.len(), 1, "{key}: {warnings:?}");
        assert!(warnings[0].starts_with("SECRET_KEY: "), "{warnings:?}");
        assert!(warnings[0].contains("W009"), "{warnings:?}");
        assert!(!warnings[0].contains(key), "{warnings:?}");
    }
    let c = raw(&[("SECRET_KEY", strong)]).validate().unwrap();
    assert_eq!(c.warnings(), Vec::<String>::new());
    assert!(
        Config::default().warnings().is_empty(),
        "unset: development defaults fill it in"
    );
}

#[test]
fn short_hmac_keys_warn_without_the_value() {
    let secret_key = (
        "SECRET_KEY",
        "k3!x-9q_Vb7m@Zr2&Lp0(Ws5^Nd8)Hf4=Tj6+Cg1#Ye$uAoEiI",
    );
    let cases = [
        ("HS256", 31, true),
        ("HS256", 32, false),
        ("HS384", 47, true),
        ("HS384", 48, false),
        ("HS512", 63, true),
        ("HS512", 64, false),
        ("RS256", 8, false), // a path or a PEM: not an HMAC key
    ];
    for (algorithm, len, warns) in cases {
        let key: String = "s3cr3t-".chars().cycle().take(len).collect();
        let c = raw(&[
            secret_key,
            ("HEADLESS_JWT_ALGORITHM", algorithm),
            ("HEADLESS_JWT_PRIVATE_KEY", &key),
        ])
        .validate()
        .unwrap();
        let warnings = c.warnings();
        assert_eq!(
            warnings.len(),
            usize::from(warns),
            "{algorithm} {len}: {warnings:?}"
        );
        for w in &warnings {
            assert!(w.starts_with("HEADLESS_JWT_PRIVATE_KEY: "), "{w}");
            assert!(w.contains(algorithm), "{w}");
            assert!(!w.contains(&key), "{w}");
        }
    }
}

#[test]
fn account_flow_settings_parse_as_allauth_writes_them() {
    let build = |pairs: &[(&str, &str)]| {
        let mut raw = RawConfig::new();
        for (name, value) in pairs {
            raw.set(name, *value).unwrap();
        }
        raw.validate()
    };
    let config = build(&[
        ("ACCOUNT_EMAIL_VERIFICATION", "mandatory"),
        ("ACCOUNT_LOGIN_BY_CODE_SUPPORTS_RESEND", "true"),
        ("ACCOUNT_EMAIL_VERIFICATION_SUPPORTS_RESEND", "5"),
        (
            "EMAIL_BACKEND",
            "django.core.mail.backends.smtp.EmailBackend",
        ),
        ("ACCOUNT_PREVENT_ENUMERATION", "strict"),
        (
            "HEADLESS_FRONTEND_URLS",
            r#"{"account_confirm_email": "https://app.example/verify/{key}"}"#,
        ),
    ])
    .unwrap();
    assert_eq!(config.email_verification, EmailVerification::Mandatory);
    assert_eq!(config.login_code_max_resends, 2, "allauth: True is 2");
    assert_eq!(config.email_verification_max_resends, 5);
    assert_eq!(config.email_backend, EmailBackend::Smtp);
    assert_eq!(config.prevent_enumeration, PreventEnumeration::Strict);
    assert_eq!(
        config.frontend_urls["account_confirm_email"],
        "https://app.example/verify/{key}"
    );
    let defaults = Config::default();
    assert_eq!(defaults.email_verification, EmailVerification::Optional);
    assert_eq!(defaults.email_backend, EmailBackend::File);
    assert_eq!(defaults.reauthentication_timeout_secs, 300);
    assert!(defaults.signup_allowed());
    assert!(
        !build(&[("ACCOUNT_SIGNUP_ENABLED", "false")])
            .unwrap()
            .signup_allowed()
    );
    for (name, bad) in [
        ("ACCOUNT_UNIQUE_EMAIL", "false"),
        ("ACCOUNT_EMAIL_VERIFICATION", "sometimes"),
        (
            "EMAIL_BACKEND",
            "django.core.mail.backends.locmem.EmailBackend",
        ),
        ("HEADLESS_FRONTEND_URLS", r#"{"nope": "x"}"#),
        ("ACCOUNT_LOGIN_BY_CODE_MAX_ATTEMPTS", "0"),
    ] {
        assert_eq!(
            build(&[(name, bad)]).unwrap_err().setting,
            name,
            "{name}={bad}"
        );
    }
}

/// `ACCOUNT_REAUTHENTICATION_METHODS` as allauth writes it (a list) or as an environment
/// variable would (comma-separated); allauth's default includes `mfa`, which is accepted.
#[test]
fn reauthentication_methods_as_list_or_commas() {
    let methods = |v: &str| {
        raw(&[("ACCOUNT_REAUTHENTICATION_METHODS", v)])
            .validate()
            .map(|c| c.reauthentication_methods)
    };
    let both = ReauthenticationMethods {
        password: true,
        code: true,
    };
    assert_eq!(Config::default().reauthentication_methods, both);
    assert_eq!(methods(r#"["password", "code", "mfa"]"#).unwrap(), both);
    assert_eq!(methods(" code , password ").unwrap(), both);
    assert_eq!(
        methods(r#"["password"]"#).unwrap(),
        ReauthenticationMethods {
            password: true,
            code: false
        }
    );
    assert_eq!(
        methods("[]").unwrap(),
        ReauthenticationMethods {
            password: false,
            code: false
        }
    );
    for bad in [r#"["sms"]"#, "password,totp", "[password]", r#"{"a": 1}"#] {
        let e = methods(bad).unwrap_err();
        assert_eq!(e.setting, "ACCOUNT_REAUTHENTICATION_METHODS", "{bad}");
    }
}
