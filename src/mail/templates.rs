//! Subjects and bodies of the messages, allauth's wording by default.
//!
//! A template is plain text with `{{ name }}` placeholders and `{% if name %}...{% else
//! %}...{% endif %}` around what depends on one (the link or the code). Built-in templates are
//! allauth's (`allauth/templates/account/email/*.txt`, MIT), their translation tags resolved
//! to English; `HALLPASS_EMAIL_TEMPLATES_DIR` may hold `<name>_subject.txt` and
//! `<name>_message.txt` files that replace them.

use std::collections::BTreeMap;
use std::path::Path;

use super::{Context, Kind};

/// allauth's `base_message.txt`, around every body.
const BASE: &str = "Hello from {{ site_name }}!\n\n{{ content }}\n\nThank you for using {{ site_name }}!\n{{ site_domain }}";

/// The built-in (subject, body) of each kind.
fn builtin(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::EmailConfirmation | Kind::EmailConfirmationSignup => (
            "Please Confirm Your Email Address",
            "You're receiving this email because user {{ user_display }} has given your email \
             address to register an account on {{ site_domain }}.\n\n{% if code %}Your email \
             verification code is listed below. Please enter it in your open browser \
             window.\n\n{{ code }}{% else %}To confirm this is correct, go to \
             {{ activate_url }}{% endif %}",
        ),
        Kind::PasswordResetKey => (
            "Password Reset Email",
            "You're receiving this email because you or someone else has requested a password \
             reset for your user account.\nIt can be safely ignored if you did not request a \
             password reset. Click the link below to reset your \
             password.\n\n{{ password_reset_url }}{% if username %}\n\nIn case you forgot, your \
             username is {{ username }}.{% endif %}",
        ),
        Kind::PasswordResetCode => (
            "Password Reset Code",
            "Your password reset code is listed below. Please enter it in your open browser \
             window.\n\n{{ code }}\n\nThis mail can be safely ignored if you did not initiate \
             this action.",
        ),
        Kind::LoginCode => (
            "Sign-In Code",
            "Your sign-in code is listed below. Please enter it in your open browser \
             window.\n\n{{ code }}\n\nThis mail can be safely ignored if you did not initiate \
             this action.",
        ),
        Kind::UnknownAccount => (
            "Unknown Account",
            "You are receiving this email because you, or someone else, tried to access an \
             account with email {{ email }}. However, we do not have any record of such an \
             account in our database.\n\nThis mail can be safely ignored if you did not \
             initiate this action.\n\nIf it was you, you can sign up for an account using the \
             link below.\n\n{{ signup_url }}",
        ),
        Kind::AccountAlreadyExists => (
            "Account Already Exists",
            "You are receiving this email because you or someone else tried to signup for an\n\
             account using email address:\n\n{{ email }}\n\nHowever, an account using that \
             email address already exists.  In case you have\nforgotten about this, please use \
             the password forgotten procedure to recover\nyour account:\n\n\
             {{ password_reset_url }}",
        ),
    }
}

/// The templates in use: built-in, with any overrides read at start.
#[derive(Debug, Clone)]
pub struct Templates {
    /// Overrides by file name (`login_code_subject.txt`, ...).
    overrides: BTreeMap<String, String>,
    /// `{{ site_name }}` and `{{ site_domain }}`.
    site_name: String,
    /// Put before every subject (`ACCOUNT_EMAIL_SUBJECT_PREFIX`).
    subject_prefix: String,
}

impl Templates {
    /// The built-in templates, with `site_name` in them and `subject_prefix` before subjects.
    pub fn builtin(site_name: &str, subject_prefix: &str) -> Templates {
        Templates {
            overrides: BTreeMap::new(),
            site_name: site_name.to_owned(),
            subject_prefix: subject_prefix.to_owned(),
        }
    }

    /// As [`Templates::builtin`], with the `<name>_subject.txt` and `<name>_message.txt` files
    /// of `dir` replacing the built-in ones of that name.
    ///
    /// # Errors
    ///
    /// The directory, or a template file in it, cannot be read.
    pub fn with_overrides(
        site_name: &str,
        subject_prefix: &str,
        dir: &Path,
    ) -> std::io::Result<Templates> {
        let mut templates = Templates::builtin(site_name, subject_prefix);
        for kind in ALL {
            for part in ["subject", "message"] {
                let name = format!("{}_{part}.txt", kind.template());
                let path = dir.join(&name);
                if path.exists() {
                    templates
                        .overrides
                        .insert(name, std::fs::read_to_string(&path)?);
                }
            }
        }
        Ok(templates)
    }

    /// The subject (prefixed, one line) and body of `kind` filled with `context`.
    pub fn render(&self, kind: Kind, context: &Context) -> (String, String) {
        let (subject, content) = builtin(kind);
        let subject = self
            .overrides
            .get(&format!("{}_subject.txt", kind.template()))
            .map_or(subject, String::as_str);
        let values = self.values(context);
        let subject = fill(subject, &values);
        let subject = format!(
            "{}{}",
            self.subject_prefix,
            subject
                .lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
                .trim()
        );
        let body = match self
            .overrides
            .get(&format!("{}_message.txt", kind.template()))
        {
            Some(own) => fill(own, &values),
            None => {
                let mut values = values;
                values.insert("content", fill(content, &values));
                fill(BASE, &values)
            }
        };
        (subject, body)
    }

    fn values<'a>(&'a self, context: &'a Context) -> BTreeMap<&'static str, String> {
        let link = context.link.clone().unwrap_or_default();
        let username = context.username.clone().unwrap_or_default();
        let mut values = BTreeMap::new();
        values.insert("site_name", self.site_name.clone());
        values.insert("site_domain", self.site_name.clone());
        values.insert("code", context.code.clone().unwrap_or_default());
        values.insert("activate_url", link.clone());
        values.insert("password_reset_url", link.clone());
        values.insert("signup_url", link);
        values.insert("email", context.email.clone());
        values.insert("user_display", username.clone());
        values.insert("username", username);
        values
    }
}

/// Every kind, for reading overrides.
const ALL: [Kind; 7] = [
    Kind::EmailConfirmation,
    Kind::EmailConfirmationSignup,
    Kind::PasswordResetKey,
    Kind::PasswordResetCode,
    Kind::LoginCode,
    Kind::UnknownAccount,
    Kind::AccountAlreadyExists,
];

/// `template` with `{% if x %}a{% else %}b{% endif %}` resolved (not nested) and every
/// `{{ x }}` replaced by its value (unknown names by nothing).
fn fill(template: &str, values: &BTreeMap<&'static str, String>) -> String {
    let truthy = |name: &str| values.get(name).is_some_and(|v| !v.is_empty());
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{% if ") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 6..];
        let Some(close) = after.find("%}") else {
            rest = "";
            break;
        };
        let name = after[..close].trim();
        let body = &after[close + 2..];
        let Some(end) = body.find("{% endif %}") else {
            rest = "";
            break;
        };
        let (yes, no) = match body[..end].find("{% else %}") {
            Some(e) => (&body[..e], &body[e + 10..end]),
            None => (&body[..end], ""),
        };
        out.push_str(if truthy(name) { yes } else { no });
        rest = &body[end + 11..];
    }
    out.push_str(rest);
    let mut filled = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(start) = rest.find("{{") {
        filled.push_str(&rest[..start]);
        match rest[start..].find("}}") {
            Some(end) => {
                let name = rest[start + 2..start + end].trim();
                filled.push_str(values.get(name).map_or("", String::as_str));
                rest = &rest[start + end + 2..];
            }
            None => {
                filled.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    filled.push_str(rest);
    filled
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(code: Option<&str>, link: Option<&str>) -> Context {
        Context {
            code: code.map(Into::into),
            link: link.map(Into::into),
            email: "ann@example.com".into(),
            username: Some("ann".into()),
        }
    }

    #[test]
    fn a_code_or_a_link_as_allauth_words_it() {
        let t = Templates::builtin("example.com", "[example.com] ");
        let (subject, body) = t.render(
            Kind::EmailConfirmationSignup,
            &context(Some("BCDF-GHJK"), None),
        );
        assert_eq!(subject, "[example.com] Please Confirm Your Email Address");
        assert!(body.starts_with("Hello from example.com!\n\n"));
        assert!(body.contains("user ann has given your email address"));
        assert!(body.contains("\n\nBCDF-GHJK"));
        assert!(!body.contains("go to"));
        let (_, body) = t.render(
            Kind::EmailConfirmation,
            &context(None, Some("https://app.example/verify/KEY")),
        );
        assert!(body.contains("To confirm this is correct, go to https://app.example/verify/KEY"));
        assert!(!body.contains("{{") && !body.contains("{%"), "{body}");
    }

    #[test]
    fn every_kind_renders_without_leftover_tags() {
        let t = Templates::builtin("s", "");
        for kind in ALL {
            let (subject, body) = t.render(kind, &context(Some("C"), Some("L")));
            assert!(!subject.is_empty());
            assert!(
                !body.contains("{{") && !body.contains("{%"),
                "{kind:?}: {body}"
            );
        }
    }

    #[test]
    fn overrides_replace_one_kind() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("login_code_subject.txt"), "Your code\n").unwrap();
        std::fs::write(
            dir.path().join("login_code_message.txt"),
            "Code: {{ code }}",
        )
        .unwrap();
        let t = Templates::with_overrides("s", "[s] ", dir.path()).unwrap();
        assert_eq!(
            t.render(Kind::LoginCode, &context(Some("BCDF-GHJK"), None)),
            ("[s] Your code".to_owned(), "Code: BCDF-GHJK".to_owned())
        );
        let (subject, _) = t.render(Kind::PasswordResetCode, &context(Some("X"), None));
        assert_eq!(subject, "[s] Password Reset Code");
    }
}
