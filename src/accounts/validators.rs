//! Django's four default password validators, ported to fail on exactly the same passwords.
//!
//! Signup runs [`validate_password`] before hashing; each failed validator is one
//! [`PasswordProblem`], which the web layer words as one `{code, message, param: "password"}`
//! entry in the error envelope, exactly as allauth reports Django's `ValidationError`s. The validators run in the order of Django's `startproject`
//! `AUTH_PASSWORD_VALIDATORS`, which is the configuration the wire contract was observed with
//! (allauth's own test settings configure no validators):
//!
//! 1. `UserAttributeSimilarityValidator` (`password_too_similar`)
//! 2. `MinimumLengthValidator` (`password_too_short`)
//! 3. `CommonPasswordValidator` (`password_too_common`)
//! 4. `NumericPasswordValidator` (`password_entirely_numeric`)
//!
//! "Exactly Django" includes Python's string semantics: lengths count code points, `lower()` is
//! full Unicode lower-casing, and `isdigit()`, `strip()` and `\W` use Python's character classes
//! (see the private `pychar` module).
//!
//! Lower-cased copies of the password are zeroized when dropped.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use zeroize::Zeroizing;

use super::pychar;

/// The user's attributes that `UserAttributeSimilarityValidator` compares the password with.
///
/// `None` and empty values are skipped, as Django skips falsy attributes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserAttributes<'a> {
    /// The username (Django verbose name "username").
    pub username: Option<&'a str>,
    /// The e-mail address (Django verbose name "email address").
    pub email: Option<&'a str>,
    /// The first name (Django verbose name "first name").
    pub first_name: Option<&'a str>,
    /// The last name (Django verbose name "last name").
    pub last_name: Option<&'a str>,
}

/// One failed validator, as Django's four default validators fail. The web layer words each
/// as Django does (`web/errors.rs`); none carries the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PasswordProblem {
    /// `password_too_similar`: too close to one of the user's attributes.
    TooSimilar(UserAttribute),
    /// `password_too_short`: fewer code points than `min_length`.
    TooShort {
        /// The minimum length, in code points.
        min_length: usize,
    },
    /// `password_too_common`: in Django's list of common passwords.
    TooCommon,
    /// `password_entirely_numeric`: nothing but digits.
    EntirelyNumeric,
}

/// A user attribute a password can be too similar to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserAttribute {
    /// The username.
    Username,
    /// The first name.
    FirstName,
    /// The last name.
    LastName,
    /// The e-mail address.
    Email,
}

/// Runs Django's four default validators on `password` and returns one problem per failure.
///
/// The result is empty when the password is acceptable. Problems come in the order documented
/// in the module docs (similarity, minimum length, common, numeric); each validator reports at
/// most one problem, as Django's do.
pub fn validate_password(password: &str, attrs: &UserAttributes<'_>) -> Vec<PasswordProblem> {
    let mut problems = Vec::new();
    if let Some(attribute) = too_similar(password, attrs) {
        problems.push(PasswordProblem::TooSimilar(attribute));
    }
    if password.chars().count() < MIN_LENGTH {
        problems.push(PasswordProblem::TooShort {
            min_length: MIN_LENGTH,
        });
    }
    if is_common(password) {
        problems.push(PasswordProblem::TooCommon);
    }
    if pychar::is_all_digits(password) {
        problems.push(PasswordProblem::EntirelyNumeric);
    }
    problems
}

/// `UserAttributeSimilarityValidator.validate`: the first attribute the password is too
/// similar to, if any.
fn too_similar(password: &str, attrs: &UserAttributes<'_>) -> Option<UserAttribute> {
    let password = Zeroizing::new(password.to_lowercase());
    // Django's DEFAULT_USER_ATTRIBUTES order.
    let attributes = [
        (attrs.username, UserAttribute::Username),
        (attrs.first_name, UserAttribute::FirstName),
        (attrs.last_name, UserAttribute::LastName),
        (attrs.email, UserAttribute::Email),
    ];
    for (value, attribute) in attributes {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            continue;
        };
        let value = value.to_lowercase();
        let whole = [value.as_str()];
        let parts = pychar::split_non_word(&value);
        for part in parts.iter().chain(&whole) {
            if exceeds_maximum_length_ratio(&password, MAX_SIMILARITY, part) {
                continue;
            }
            if quick_ratio(&password, part) >= MAX_SIMILARITY {
                return Some(attribute);
            }
        }
    }
    None
}

/// Django's `exceeds_maximum_length_ratio`: true when `value` is so much shorter than the
/// password that `quick_ratio` cannot reach `max_similarity`, so the comparison is skipped.
fn exceeds_maximum_length_ratio(password: &str, max_similarity: f64, value: &str) -> bool {
    let password_len = password.chars().count();
    let value_len = value.chars().count();
    let length_bound_similarity = max_similarity / 2.0 * password_len as f64;
    password_len >= value_len.saturating_mul(10) && (value_len as f64) < length_bound_similarity
}

/// Python's `difflib.SequenceMatcher(a=a, b=b).quick_ratio()`.
///
/// `2 * M / T`, where `M` is the size of the multiset intersection of the code points of `a`
/// and `b` and `T` their total length; `1.0` when both are empty. Only `b` (the attribute, not
/// the password) is held in a map, so no password characters outlive the call.
fn quick_ratio(a: &str, b: &str) -> f64 {
    let mut available: HashMap<char, usize> = HashMap::new();
    let mut b_len = 0usize;
    for c in b.chars() {
        *available.entry(c).or_insert(0) += 1;
        b_len += 1;
    }
    let mut a_len = 0usize;
    let mut matches = 0usize;
    for c in a.chars() {
        a_len += 1;
        if let Some(count) = available.get_mut(&c).filter(|count| **count > 0) {
            *count -= 1;
            matches += 1;
        }
    }
    let total = a_len + b_len;
    if total == 0 {
        return 1.0;
    }
    2.0 * matches as f64 / total as f64
}

/// `CommonPasswordValidator.validate`: the lower-cased, stripped password is in the list.
fn is_common(password: &str) -> bool {
    let lowered = Zeroizing::new(password.to_lowercase());
    common_passwords().contains(pychar::strip(&lowered))
}

/// The lookup set, built on first use. Django builds it as `{x.strip() for x in f}`.
fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| COMMON_PASSWORDS.lines().map(pychar::strip).collect())
}

/// Django's `MinimumLengthValidator` default `min_length`.
const MIN_LENGTH: usize = 8;

/// Django's `UserAttributeSimilarityValidator` default `max_similarity`.
const MAX_SIMILARITY: f64 = 0.7;

/// Django's `django/contrib/auth/common-passwords.txt.gz` (Django 5.2), decompressed: 19,640
/// lower-cased, deduplicated entries from Royce Williams' list of 20,000 common passwords.
/// Copyright (c) Django Software Foundation and individual contributors; BSD-3-Clause.
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(password: &str, attrs: UserAttributes<'_>) -> Vec<PasswordProblem> {
        validate_password(password, &attrs)
    }

    /// Django's code for each problem, to compare with Django's output.
    fn codes(password: &str, attrs: UserAttributes<'_>) -> Vec<&'static str> {
        validate_password(password, &attrs)
            .into_iter()
            .map(|p| match p {
                PasswordProblem::TooSimilar(_) => "password_too_similar",
                PasswordProblem::TooShort { .. } => "password_too_short",
                PasswordProblem::TooCommon => "password_too_common",
                PasswordProblem::EntirelyNumeric => "password_entirely_numeric",
            })
            .collect()
    }

    const NONE: UserAttributes<'static> = UserAttributes {
        username: None,
        email: None,
        first_name: None,
        last_name: None,
    };

    /// Attributes with only `field` set.
    fn with(field: &str, value: &'static str) -> UserAttributes<'static> {
        let mut attrs = NONE;
        match field {
            "username" => attrs.username = Some(value),
            "email" => attrs.email = Some(value),
            "first_name" => attrs.first_name = Some(value),
            "last_name" => attrs.last_name = Some(value),
            _ => panic!("no attribute {field}"),
        }
        attrs
    }

    #[test]
    fn a_strong_password_passes() {
        let attrs = UserAttributes {
            username: Some("alice"),
            email: Some("alice@example.com"),
            ..NONE
        };
        assert!(validate_password("x7#kQ9!vLmZ2", &attrs).is_empty());
    }

    #[test]
    fn minimum_length_hit_and_miss() {
        assert_eq!(
            problems("Zq9#kQ!", NONE),
            [PasswordProblem::TooShort { min_length: 8 }]
        );
        assert!(codes("Zq9#kQ!v", NONE).is_empty());
        // Django counts code points, not bytes.
        assert!(codes("ÿÿÿÿÿÿÿ", NONE).contains(&"password_too_short"));
        assert!(codes("ÿÿÿÿÿÿÿÿ", NONE).is_empty());
    }

    #[test]
    fn common_hit_and_miss() {
        assert_eq!(problems("password", NONE), [PasswordProblem::TooCommon]);
        // Lower-cased and stripped (Python whitespace, including U+001C..U+001F) first.
        assert_eq!(codes("  PassWord ", NONE), ["password_too_common"]);
        assert_eq!(codes("\u{1c}password\u{1f}", NONE), ["password_too_common"]);
        assert!(codes("correct-horse-battery", NONE).is_empty());
    }

    #[test]
    fn common_list_is_djangos() {
        let set = common_passwords();
        assert_eq!(set.len(), 19_640);
        assert!(set.contains("123456") && set.contains("friend of emily"));
        assert!(!set.contains(""));
    }

    #[test]
    fn numeric_hit_and_miss() {
        assert_eq!(
            problems("90210357164", NONE),
            [PasswordProblem::EntirelyNumeric]
        );
        assert!(codes("9021035716a", NONE).is_empty());
        // Python's isdigit: other scripts' digits and superscripts count, fractions do not.
        assert_eq!(codes("١٢٣٤٥٦٧٨٩", NONE), ["password_entirely_numeric"]);
        assert!(codes("½½½½½½½½", NONE).is_empty());
    }

    #[test]
    fn similarity_hit_and_miss() {
        assert_eq!(
            problems("examplecom", with("email", "john.doe@example.com")),
            [PasswordProblem::TooSimilar(UserAttribute::Email)]
        );
        assert_eq!(
            problems("testclient", with("username", "testclient")),
            [PasswordProblem::TooSimilar(UserAttribute::Username)]
        );
        assert!(codes("jdoe1234", with("username", "jdoe")).is_empty());
        assert!(codes("examplecom", NONE).is_empty());
    }

    #[test]
    fn similarity_reports_the_first_attribute_in_djangos_order() {
        let attrs = UserAttributes {
            username: Some("xyzzy"),
            email: Some("plugh@example.com"),
            first_name: Some("Plugh"),
            last_name: Some("Plugh"),
        };
        assert_eq!(
            problems("plugh123", attrs)[0],
            PasswordProblem::TooSimilar(UserAttribute::FirstName)
        );
    }

    /// Python's `SequenceMatcher(a=a, b=b).quick_ratio()`, printed by CPython 3.11.
    #[test]
    fn quick_ratio_matches_python_difflib() {
        let cases: &[(&str, &str, f64)] = &[
            ("password", "password", 1.0),
            ("testclient", "testclient1", 0.9523809523809523),
            ("john.doe@example.com", "john", 0.3333333333333333),
            ("abcdefgh", "hgfedcba", 1.0),
            ("aaaa", "a", 0.4),
            ("", "", 1.0),
            ("", "abc", 0.0),
            ("mississippi", "misp", 0.5333333333333333),
            ("héllo wörld", "hello world", 0.8181818181818182),
            ("ας", "σας", 0.8),
            ("jdoe1234", "jdoe", 0.6666666666666666),
            ("example", "example.com", 0.7777777777777778),
        ];
        for &(a, b, expected) in cases {
            assert_eq!(
                quick_ratio(a, b).to_bits(),
                expected.to_bits(),
                "{a:?} vs {b:?}"
            );
        }
    }

    #[test]
    fn length_ratio_shortcut() {
        assert!(exceeds_maximum_length_ratio("aaaaaaaaaa", 0.7, "a"));
        assert!(!exceeds_maximum_length_ratio("aaaaaaaaa", 0.7, "a"));
        // An empty part is skipped for any non-empty password, but not for an empty one.
        assert!(exceeds_maximum_length_ratio("a", 0.7, ""));
        assert!(!exceeds_maximum_length_ratio("", 0.7, ""));
    }

    /// End-to-end results of Django 5.2's four validators (Python 3.11), run on the same input.
    #[test]
    fn matches_django_end_to_end() {
        const SHORT: &str = "password_too_short";
        const COMMON: &str = "password_too_common";
        const NUMERIC: &str = "password_entirely_numeric";
        const SIMILAR: &str = "password_too_similar";
        let names = UserAttributes {
            first_name: Some("María"),
            last_name: Some("Núñez"),
            ..NONE
        };
        let cases: &[(&str, UserAttributes<'_>, &[&str])] = &[
            ("", NONE, &[SHORT]),
            ("12345678", NONE, &[COMMON, NUMERIC]),
            ("1234", NONE, &[SHORT, COMMON, NUMERIC]),
            ("a", with("email", "a@b.co"), &[SIMILAR, SHORT, COMMON]),
            ("", with("username", "foo."), &[SIMILAR, SHORT]),
            ("", with("email", "a@b.co"), &[SHORT]),
            (
                "john.doe@example.com",
                with("email", "john.doe@example.com"),
                &[SIMILAR],
            ),
            ("²³¹²³¹²³", NONE, &[NUMERIC]),
            ("Maria Nunez", names, &[]),
            ("nunezzzz", with("last_name", "Núñez"), &[]),
            ("ΣΊΣΥΦΟΣ12", with("first_name", "Σίσυφος"), &[SIMILAR]),
            (
                "e\u{301}clair99",
                with("first_name", "E\u{301}clair"),
                &[SIMILAR],
            ),
            ("Ⓐⓑⓒⓓ2024", with("last_name", "ⓐⓑⓒⓓ"), &[]),
            (
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                with("username", "aaa"),
                &[],
            ),
        ];
        for (password, attrs, expected) in cases {
            assert_eq!(
                &codes(password, *attrs),
                expected,
                "{password:?} with {attrs:?}"
            );
        }
    }
}
