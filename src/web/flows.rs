//! The `flows` list of allauth's authentication responses: what a client may do next, and
//! which flow its session has in progress (`is_pending`).
//!
//! Built as allauth's `BaseAuthenticationResponse._get_flows` builds it
//! (`allauth/headless/base/response.py`): unauthenticated, `login`, then `login_by_code` when
//! enabled, then `signup` while open; authenticated (a 401 asking for reauthentication), the
//! reauthentication flows the user can use; then the session's pending stage upserted (its
//! entry updated in place, or appended); then, with reset by code enabled,
//! `password_reset_by_code` with whether one is pending.

use serde::Serialize;

use crate::config::Config;
use crate::event::FlowKind;
use crate::state::{EmailAddress, Flow};

/// One entry of `flows`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct FlowBody {
    id: &'static str,
    /// `reauthenticate_by_code`: where a code can be sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    recipients: Option<Vec<Recipient>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_pending: Option<bool>,
}

/// A `reauthenticate_by_code` recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Recipient {
    email: String,
}

impl FlowBody {
    fn plain(id: &'static str) -> FlowBody {
        FlowBody {
            id,
            recipients: None,
            is_pending: None,
        }
    }
}

/// What the settings offer an unauthenticated client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Offered {
    login_by_code: bool,
    signup: bool,
    password_reset_by_code: bool,
}

impl Offered {
    /// What `config` offers.
    pub(crate) fn of(config: &Config) -> Offered {
        Offered {
            login_by_code: config.login_by_code,
            signup: config.signup_allowed(),
            password_reset_by_code: config.password_reset_by_code,
        }
    }
}

/// The flows a session has in progress, as the list shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pending {
    /// The pending login stage (`verify_email`) or code flow (`login_by_code`,
    /// `reauthenticate_by_code`).
    stage: Option<&'static str>,
    /// Whether a password reset by code is in progress.
    password_reset: bool,
}

impl Pending {
    /// Nothing in progress.
    pub(crate) const NONE: Pending = Pending {
        stage: None,
        password_reset: false,
    };

    /// What `flows` (a session's, not timed out) show as pending.
    pub(crate) fn of(flows: &[Flow]) -> Pending {
        let mut pending = Pending::NONE;
        for flow in flows {
            match flow.kind {
                FlowKind::LoginVerifyEmail => pending.stage = Some("verify_email"),
                FlowKind::LoginByCode => {
                    pending.stage = pending.stage.or(Some("login_by_code"));
                }
                FlowKind::ReauthenticateByCode => {
                    pending.stage = pending.stage.or(Some("reauthenticate_by_code"));
                }
                FlowKind::PasswordResetByCode => pending.password_reset = true,
                _ => {}
            }
        }
        pending
    }
}

/// The flows of an unauthenticated state (401 or 410).
pub(crate) fn anonymous(offered: Offered, pending: Pending) -> Vec<FlowBody> {
    let mut flows = vec![FlowBody::plain("login")];
    if offered.login_by_code {
        flows.push(FlowBody::plain("login_by_code"));
    }
    if offered.signup {
        flows.push(FlowBody::plain("signup"));
    }
    finish(flows, offered, pending)
}

/// The flows of an authenticated 401 that asks for reauthentication, as allauth's
/// `get_reauthentication_flows`, each only when `ACCOUNT_REAUTHENTICATION_METHODS` allows its
/// method: `reauthenticate` when the user has a usable password, `reauthenticate_by_code` to
/// their verified addresses (sorted) when they have any.
pub(crate) fn reauthentication(
    config: &Config,
    has_usable_password: bool,
    addresses: &[EmailAddress],
    pending: Pending,
) -> Vec<FlowBody> {
    let methods = config.reauthentication_methods;
    let mut flows = Vec::new();
    if has_usable_password && methods.password {
        flows.push(FlowBody::plain("reauthenticate"));
    }
    let mut recipients: Vec<Recipient> = addresses
        .iter()
        .filter(|a| a.verified && methods.code)
        .map(|a| Recipient {
            email: a.email.clone(),
        })
        .collect();
    recipients.sort_by(|a, b| a.email.cmp(&b.email));
    if !recipients.is_empty() {
        flows.push(FlowBody {
            id: "reauthenticate_by_code",
            recipients: Some(recipients),
            is_pending: None,
        });
    }
    finish(flows, Offered::of(config), pending)
}

/// The pending stage upserted, then `password_reset_by_code` when enabled.
fn finish(mut flows: Vec<FlowBody>, offered: Offered, pending: Pending) -> Vec<FlowBody> {
    if let Some(stage) = pending.stage {
        match flows.iter_mut().find(|f| f.id == stage) {
            Some(flow) => flow.is_pending = Some(true),
            None => flows.push(FlowBody {
                id: stage,
                recipients: None,
                is_pending: Some(true),
            }),
        }
    }
    if offered.password_reset_by_code {
        flows.push(FlowBody {
            id: "password_reset_by_code",
            recipients: None,
            is_pending: Some(pending.password_reset),
        });
    }
    flows
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn offered(code: bool, signup: bool, reset: bool) -> Offered {
        Offered {
            login_by_code: code,
            signup,
            password_reset_by_code: reset,
        }
    }

    fn pending(stage: Option<&'static str>, password_reset: bool) -> Pending {
        Pending {
            stage,
            password_reset,
        }
    }

    /// The lists recorded from allauth 65.22.1 (`tests/fixtures/allauth/`).
    #[test]
    fn lists_as_allauth_builds_them() {
        let to_json = |f: Vec<FlowBody>| serde_json::to_value(f).unwrap();
        assert_eq!(
            to_json(anonymous(
                offered(false, true, false),
                pending(Some("verify_email"), false)
            )),
            json!([{"id": "login"}, {"id": "signup"}, {"id": "verify_email", "is_pending": true}])
        );
        assert_eq!(
            to_json(anonymous(
                offered(true, true, false),
                pending(Some("login_by_code"), false)
            )),
            json!([{"id": "login"}, {"id": "login_by_code", "is_pending": true}, {"id": "signup"}])
        );
        assert_eq!(
            to_json(anonymous(offered(false, false, true), pending(None, true))),
            json!([{"id": "login"}, {"id": "password_reset_by_code", "is_pending": true}])
        );
        assert_eq!(
            to_json(anonymous(offered(false, true, true), Pending::NONE)),
            json!([{"id": "login"}, {"id": "signup"}, {"id": "password_reset_by_code", "is_pending": false}])
        );
    }

    /// `reauthenticate.json#5` and `reauthenticate_methods_password_only.json#2`: each flow
    /// only when `ACCOUNT_REAUTHENTICATION_METHODS` allows its method.
    #[test]
    fn reauthentication_flows_follow_the_allowed_methods() {
        let verified = [EmailAddress {
            email: "leo@example.com".into(),
            verified: true,
            primary: true,
        }];
        let flows = |methods: crate::config::ReauthenticationMethods| {
            let config = Config {
                reauthentication_methods: methods,
                ..Config::default()
            };
            serde_json::to_value(reauthentication(&config, true, &verified, Pending::NONE)).unwrap()
        };
        let methods = |password, code| crate::config::ReauthenticationMethods { password, code };
        assert_eq!(
            flows(methods(true, true)),
            json!([{"id": "reauthenticate"}, {"id": "reauthenticate_by_code", "recipients": [{"email": "leo@example.com"}]}])
        );
        assert_eq!(
            flows(methods(true, false)),
            json!([{"id": "reauthenticate"}])
        );
        assert_eq!(
            flows(methods(false, true)),
            json!([{"id": "reauthenticate_by_code", "recipients": [{"email": "leo@example.com"}]}])
        );
    }
}
