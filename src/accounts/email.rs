//! E-mail addresses and usernames: validation, normalization, username generation.
//!
//! Signup normalizes the submitted address with [`normalize_email`] and stores the result, so
//! "is this address taken?" and login are one exact lookup. The new user's username is
//! [`username_base`] of that address made unique by the engine's writer, as allauth's
//! `populate_username` does for an e-mail-only signup.
//!
//! Invariants: a normalized address is ASCII, lower-case, at most [`MAX_EMAIL_CHARS`] long and
//! accepted by Django's `EmailValidator`; a generated username is non-empty, at most
//! `MAX_USERNAME_CHARS` (150) long and matches Django's username pattern `^[\w.@+-]+$`.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::pychar;
use crate::engine::{FALLBACK_USERNAME, MAX_USERNAME_CHARS, truncate_chars};

/// Longest address accepted, in characters (allauth's `ACCOUNT_EMAIL_MAX_LENGTH` default, the
/// column size of its `EmailAddress.email`).
pub const MAX_EMAIL_CHARS: usize = 254;

/// Why an address was refused. The web layer words it as allauth does (`web/errors.rs`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmailError {
    /// Nothing but whitespace was submitted (Django's form field strips, then requires).
    #[error("email address is empty")]
    Empty,
    /// Longer than [`MAX_EMAIL_CHARS`] after trimming.
    #[error("email address is {len} characters long, more than the {MAX_EMAIL_CHARS} allowed")]
    TooLong {
        /// Length of the trimmed address, in characters.
        len: usize,
    },
    /// Not an address Django's `EmailValidator` accepts (or not ASCII).
    #[error("not a valid email address")]
    Invalid,
}

/// Validates `raw` like Django's `forms.EmailField` and returns it trimmed and lower-cased.
///
/// Steps: strip surrounding whitespace (Python's `str.strip`); refuse an empty result or one
/// over [`MAX_EMAIL_CHARS`] characters; split at the last `@`; the local part must be a
/// dot-atom (`a.b+c`) or a quoted string (`"a b"`), the domain `localhost`, a dotted host name
/// with a letters-only or `xn--` top-level label, or a bracketed IPv4/IPv6 literal
/// (`[192.0.2.1]`, `[::1]`). The only deliberate difference from Django: non-ASCII addresses
/// (internationalized domains, and the few non-ASCII letters Python's case-insensitive regex
/// lets into local parts) are refused, so every stored address is ASCII.
///
/// Lower-casing the whole address matches allauth's case-insensitive comparison while letting
/// uniqueness be one exact-match lookup.
///
/// # Errors
///
/// [`EmailError::Empty`], [`EmailError::TooLong`] or [`EmailError::Invalid`], as above.
pub fn normalize_email(raw: &str) -> Result<String, EmailError> {
    let email = pychar::strip(raw);
    if email.is_empty() {
        return Err(EmailError::Empty);
    }
    let len = email.chars().count();
    if len > MAX_EMAIL_CHARS {
        return Err(EmailError::TooLong { len });
    }
    if !email.is_ascii() {
        return Err(EmailError::Invalid);
    }
    let (user, domain) = email.rsplit_once('@').ok_or(EmailError::Invalid)?;
    // Django's allowlist check is case-sensitive, before any lower-casing.
    let domain_ok = domain == "localhost" || is_domain(domain) || is_ip_literal(domain);
    if !(is_dot_atom(user) || is_quoted_string(user)) || !domain_ok {
        return Err(EmailError::Invalid);
    }
    Ok(email.to_ascii_lowercase())
}

/// The username allauth's `generate_unique_username` would start from for this address.
///
/// Port of allauth's `_generate_unique_username_base` for one text: drop non-ASCII characters
/// (allauth first folds them with NFKD; a normalized address is already ASCII), drop everything
/// but `[\w\s@+.-]`, lower-case, keep what precedes the first `@`, strip, turn whitespace runs
/// into `_`. The result only holds `[a-z0-9_.+-]`. It is cut to `MAX_USERNAME_CHARS`
/// (allauth would fall back to `user` instead), and `user` is returned if nothing is left.
pub fn username_base(email: &str) -> String {
    let kept: String = email
        .chars()
        .filter(|&c| {
            c.is_ascii() && (pychar::is_word(c) || pychar::is_space(c) || "@+.-".contains(c))
        })
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let before_at = kept.split('@').next().unwrap_or_default();
    let mut base = String::with_capacity(before_at.len());
    let mut in_space = false;
    for c in pychar::strip(before_at).chars() {
        if pychar::is_space(c) {
            if !in_space {
                base.push('_');
            }
            in_space = true;
        } else {
            base.push(c);
            in_space = false;
        }
    }
    let base = truncate_chars(&base, MAX_USERNAME_CHARS);
    if base.is_empty() {
        FALLBACK_USERNAME.to_owned()
    } else {
        base.to_owned()
    }
}

/// Django's dot-atom local part: `^[-!#$%&'*+/=?^_`{}|~0-9A-Z]+(\.[-!#$%&'*+/=?^_`{}|~0-9A-Z]+)*$`
/// (case-insensitive).
fn is_dot_atom(user: &str) -> bool {
    user.split('.').all(|atom| {
        !atom.is_empty()
            && atom
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-!#$%&'*+/=?^_`{}|~".contains(&b))
    })
}

/// Django's quoted-string local part: `"` ( qtext | `\` quoted-pair ) * `"`, where qtext is
/// `[\x01-\x08\x0b\x0c\x0e-\x1f!#-\[\]-\x7f]` and a quoted pair escapes
/// `[\x01-\x09\x0b\x0c\x0e-\x7f]`.
fn is_quoted_string(user: &str) -> bool {
    let Some(inner) = user
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    else {
        return false;
    };
    let mut bytes = inner.bytes();
    while let Some(b) = bytes.next() {
        let ok = match b {
            b'\\' => bytes
                .next()
                .is_some_and(|e| matches!(e, 0x01..=0x09 | 0x0b | 0x0c | 0x0e..=0x7f)),
            0x01..=0x08 | 0x0b | 0x0c | 0x0e..=0x1f | b'!' | b'#'..=b'[' | b']'..=0x7f => true,
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Django's `hostname_re + domain_re + tld_no_fqdn_re`, ASCII only: at least two dot-separated
/// labels of 1-63 `[a-z0-9-]` not starting or ending with `-`; the last one is 2-63 letters or
/// hyphens, or `xn--` plus 1-59 `[a-z0-9]`.
fn is_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let Some((tld, hosts)) = labels.split_last() else {
        return false;
    };
    !hosts.is_empty() && hosts.iter().all(|label| is_host_label(label)) && is_tld(tld)
}

fn is_host_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn is_tld(label: &str) -> bool {
    let letters = (2..=63).contains(&label.len())
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-');
    let punycode = label
        .get(..4)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("xn--"))
        && label.get(4..).is_some_and(|rest| {
            (1..=59).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    letters || punycode
}

/// Django's `\[([A-F0-9:.]+)\]` literal holding an address `validate_ipv46_address` accepts.
fn is_ip_literal(domain: &str) -> bool {
    let Some(ip) = domain
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
    else {
        return false;
    };
    if ip.is_empty()
        || !ip
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    {
        return false;
    }
    // Django caps IPv6 text at 39 characters (MAX_IPV6_ADDRESS_LENGTH).
    ip.parse::<Ipv4Addr>().is_ok() || (ip.len() <= 39 && ip.parse::<Ipv6Addr>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_addresses_are_lowercased() {
        let cases = [
            ("john@example.com", "john@example.com"),
            ("John.Doe@Example.COM", "john.doe@example.com"),
            ("  a+tag@sub.example.co.uk \t\n", "a+tag@sub.example.co.uk"),
            ("\u{1c}x@example.org\u{3000}", "x@example.org"),
            (
                "o'brien!#$%&*/=?^_`{|}~-@example.com",
                "o'brien!#$%&*/=?^_`{|}~-@example.com",
            ),
            ("user@localhost", "user@localhost"),
            ("user@xn--bcher-kva.example", "user@xn--bcher-kva.example"),
            ("user@EXAMPLE.XN--P1AI", "user@example.xn--p1ai"),
            ("user@a-b.c-d", "user@a-b.c-d"),
            ("user@192-0-2-1.example", "user@192-0-2-1.example"),
            ("user@[192.0.2.1]", "user@[192.0.2.1]"),
            ("user@[2001:DB8::1]", "user@[2001:db8::1]"),
            ("user@[::ffff:192.0.2.1]", "user@[::ffff:192.0.2.1]"),
            ("\"John.Doe\"@example.com", "\"john.doe\"@example.com"),
            ("\"\"@example.com", "\"\"@example.com"),
            ("\"a@b\"@example.com", "\"a@b\"@example.com"),
            ("\"esc\\\"aped\"@example.com", "\"esc\\\"aped\"@example.com"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_email(raw).as_deref(), Ok(want), "{raw:?}");
        }
    }

    #[test]
    fn invalid_addresses_are_refused() {
        let cases = [
            "plainaddress",
            "@example.com",
            "user@",
            "user@@example.com",
            "user@example",
            "user@LOCALHOST",
            "user@example.c",
            "user@example.123",
            "user@example.c0m",
            "user@-example.com",
            "user@example-.com",
            "user@example.-com",
            "user@example..com",
            "user@.example.com",
            "user@example.com.",
            "user@exa_mple.com",
            ".user@example.com",
            "user.@example.com",
            "us..er@example.com",
            "us er@example.com",
            "us(er)@example.com",
            "user@[300.0.0.1]",
            "user@[01.2.3.4]",
            "user@[1.2.3]",
            "user@[::g]",
            "user@[IPv6:::1]",
            "user@[1:2:3:4:5:6:7:8:9]",
            "\"unterminated@example.com",
            "\"bad\"quote\"@example.com",
            "\"tab\there\"@example.com",
            "\"John Doe\"@example.com", // a space is neither qtext nor escaped in Django's regex
            "jos\u{e9}@example.com",
            "user@b\u{fc}cher.example",
            "user@example.com\nx",
        ];
        for raw in cases {
            assert_eq!(normalize_email(raw), Err(EmailError::Invalid), "{raw:?}");
        }
        let label = "a".repeat(64);
        assert_eq!(
            normalize_email(&format!("u@{label}.com")),
            Err(EmailError::Invalid)
        );
        let label = "a".repeat(63);
        assert!(normalize_email(&format!("u@{label}.com")).is_ok());
    }

    #[test]
    fn empty_and_too_long() {
        assert_eq!(normalize_email(""), Err(EmailError::Empty));
        assert_eq!(normalize_email(" \t\r\n "), Err(EmailError::Empty));
        let local = "a".repeat(64);
        let label = "b".repeat(63);
        let domain = format!("{label}.{label}.{}.com", "b".repeat(57));
        let exactly = format!("{local}@{domain}");
        assert_eq!(exactly.len(), 254);
        assert_eq!(
            normalize_email(&format!("  {exactly}  ")).as_deref(),
            Ok(exactly.as_str())
        );
        let over = format!("{local}a@{domain}");
        assert_eq!(
            normalize_email(&over),
            Err(EmailError::TooLong { len: 255 })
        );
    }

    /// Expected values from allauth 65.22.1's `_generate_unique_username_base([email])`.
    #[test]
    fn username_base_follows_allauth() {
        let cases = [
            ("john.doe@example.com", "john.doe"),
            ("John.Doe+Tag@Example.com", "john.doe+tag"),
            ("o'brien@example.com", "obrien"),
            ("\"john  doe\"@example.com", "john_doe"),
            ("\"a@b\"@example.com", "a"),
            ("under_score-dash@example.com", "under_score-dash"),
            ("!#$%@example.com", "user"),
            ("@example.com", "user"),
            ("", "user"),
        ];
        for (email, want) in cases {
            assert_eq!(username_base(email), want, "{email:?}");
        }
    }

    #[test]
    fn username_base_is_cut_to_150() {
        let local = "x".repeat(200);
        assert_eq!(
            username_base(&format!("{local}@example.com")),
            "x".repeat(150)
        );
    }
}
