//! A user's address list as `account/email` shows it, and the addresses in it the engine does
//! not hold: the one a signed-in session is verifying by code, and unverifiable claims on
//! another account's address.
//!
//! **Another account's address.** hallpass keeps addresses unique across users, so adding one
//! that another account has can never succeed. allauth, with enumeration prevention on (its
//! default), answers such an add as any other (200, the address listed unverified) and lets
//! the copy be verified, after which the adder logs in with it. hallpass answers the same, so
//! the adder learns nothing, but keeps only an *unverifiable claim* [ours]: no key or code for
//! it exists, its owner is sent "Account Already Exists" instead of a link, and the engine's
//! addresses (login, verification, password reset) never see it.
//!
//! With verification by link the claims are flows under per-user holders derived from
//! `SECRET_KEY` (no session token hashes to one), [`SLOTS`] per user, kept for a year:
//! they list, count against `ACCOUNT_MAX_EMAIL_ADDRESSES`, resend (sending nothing) and remove
//! as the user's real unverified addresses do. With verification by code, where allauth keeps
//! an added address in the session until its code is entered, a claim is that session's
//! `VerifyEmail` flow with a code nobody was sent, indistinguishable from a real one.
//!
//! The list is the primary address first, then the others by address, so that the order says
//! nothing about which are claims [ours]: allauth lists by database order, unspecified.
//!
//! What still differs for the adder: marking a claim primary answers `unverified_primary_email`
//! even when the user has no verified address (allauth would accept it); more than [`SLOTS`]
//! claims at once drop the oldest; a claim lasts a year.

use std::sync::Arc;

use crate::event::{AuthMethod, FlowKind, SessionHash, UserId};
use crate::state::EmailAddress;
use crate::web::app::App;
use crate::web::endpoints::common::blocking;
use crate::web::endpoints::verification::{account_exists_mail, may_send};
use crate::web::errors::ApiError;
use crate::web::responses::EmailAddressBody;

/// How many claims on other accounts' addresses a user holds at once.
pub(crate) const SLOTS: u64 = 8;

/// How long a claim lasts, in milliseconds: a year. A real unverified address lasts until
/// removed; a claim outliving most such additions is as close as a flow gets.
const CLAIM_TTL_MS: i64 = 365 * 86_400_000;

/// Where a listed address lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// One of the user's addresses in the engine.
    Book,
    /// The address the session is verifying by code (not in the engine until verified).
    Session,
    /// A claim on another account's address (verification by link), in this slot.
    Claim(u64),
}

/// One entry of the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Listed {
    /// The address and its flags.
    pub(crate) address: EmailAddress,
    /// Where it lives.
    pub(crate) origin: Origin,
}

/// `user`'s list as seen from `session`: the engine's addresses, the session's address being
/// verified by code, the user's claims; primary first, then by address.
pub(crate) fn list(app: &App, user: UserId, session: &SessionHash) -> Vec<Listed> {
    let mut out: Vec<Listed> = app
        .engine
        .email_addresses(user)
        .into_iter()
        .map(|address| Listed {
            address,
            origin: Origin::Book,
        })
        .collect();
    let mut extra = Vec::new();
    if app.config.email_verification_by_code
        && let Some(flow) = app.engine.flow(session, FlowKind::VerifyEmail)
        && flow.user == Some(user)
        && let Some(email) = flow.email
    {
        extra.push((email, Origin::Session));
    }
    for slot in 0..SLOTS {
        if let Some(email) = app
            .engine
            .flow(&claim_holder(app, user, slot), FlowKind::VerifyEmail)
            .and_then(|f| f.email)
        {
            extra.push((email, Origin::Claim(slot)));
        }
    }
    for (email, origin) in extra {
        if !out.iter().any(|l| l.address.email == email) {
            out.push(Listed {
                address: EmailAddress {
                    email,
                    verified: false,
                    primary: false,
                },
                origin,
            });
        }
    }
    out.sort_by(|a, b| {
        (!a.address.primary, &a.address.email).cmp(&(!b.address.primary, &b.address.email))
    });
    out
}

/// The list as the wire shows it.
pub(crate) fn bodies(listed: Vec<Listed>) -> Vec<EmailAddressBody> {
    listed
        .into_iter()
        .map(|l| EmailAddressBody {
            email: l.address.email,
            verified: l.address.verified,
            primary: l.address.primary,
        })
        .collect()
}

/// How many of `listed` count against `ACCOUNT_MAX_EMAIL_ADDRESSES`: all but the session's
/// address being verified by code, which allauth does not store until it is verified.
pub(crate) fn counted(listed: &[Listed]) -> usize {
    listed
        .iter()
        .filter(|l| l.origin != Origin::Session)
        .count()
}

/// Records `user`'s claim on `email`, another account's address, in a free slot (or the
/// oldest claim's), and sends the address's owner "Account Already Exists" under the
/// `confirm_email` limit, as a real addition would send its link.
pub(crate) async fn claim(app: &Arc<App>, user: UserId, email: &str) -> Result<(), ApiError> {
    let holders: Vec<SessionHash> = (0..SLOTS).map(|s| claim_holder(app, user, s)).collect();
    let mut oldest = None;
    let mut free = None;
    for holder in &holders {
        match app.engine.flow(holder, FlowKind::VerifyEmail) {
            None => {
                free = Some(*holder);
                break;
            }
            Some(flow) => {
                if oldest.is_none_or(|(_, at)| flow.started_at < at) {
                    oldest = Some((*holder, flow.started_at));
                }
            }
        }
    }
    let Some(holder) = free.or(oldest.map(|(h, _)| h)) else {
        return Err(ApiError::Internal("no claim slot".to_owned()));
    };
    let mail = may_send(app, email).then(|| account_exists_mail(app, email));
    let (engine, email) = (app.engine.clone(), email.to_owned());
    blocking(move || {
        engine.start_flow(
            holder,
            FlowKind::VerifyEmail,
            Some(user),
            Some(&email),
            None,
            AuthMethod::Unknown,
            CLAIM_TTL_MS,
            mail,
        )
    })
    .await??;
    app.mailer.wake();
    Ok(())
}

/// Ends `user`'s claim in `slot`.
pub(crate) async fn drop_claim(app: &Arc<App>, user: UserId, slot: u64) -> Result<(), ApiError> {
    let (engine, holder) = (app.engine.clone(), claim_holder(app, user, slot));
    blocking(move || engine.end_flow(holder, FlowKind::VerifyEmail)).await??;
    Ok(())
}

/// allauth's `ACCOUNT_CHANGE_EMAIL`, once `email` of `user` is verified: it becomes the
/// primary address and every other address (and claim) of the user goes. Without the setting,
/// nothing: the primary address stays what it was.
pub(crate) async fn settle_verified(
    app: &Arc<App>,
    user: UserId,
    email: &str,
) -> Result<(), ApiError> {
    if !app.config.change_email {
        return Ok(());
    }
    let claims = live_claims(app, user);
    let (engine, email) = (app.engine.clone(), email.to_owned());
    blocking(move || {
        engine.set_primary_email(user, &email, false)?;
        for other in engine.email_addresses(user) {
            if other.email != email {
                engine.remove_email(user, &other.email)?;
            }
        }
        for holder in claims {
            engine.end_flow(holder, FlowKind::VerifyEmail)?;
        }
        Ok::<(), crate::engine::EngineError>(())
    })
    .await??;
    Ok(())
}

/// Removes what `ACCOUNT_CHANGE_EMAIL` replaces when `user` adds an address: the pending
/// change (every unverified address but the primary) and any claim.
pub(crate) async fn drop_pending_change(app: &Arc<App>, user: UserId) -> Result<(), ApiError> {
    let claims = live_claims(app, user);
    let engine = app.engine.clone();
    blocking(move || {
        for pending in engine.email_addresses(user) {
            if !pending.primary && !pending.verified {
                engine.remove_email(user, &pending.email)?;
            }
        }
        for holder in claims {
            engine.end_flow(holder, FlowKind::VerifyEmail)?;
        }
        Ok::<(), crate::engine::EngineError>(())
    })
    .await??;
    Ok(())
}

/// The holders of `user`'s claims.
fn live_claims(app: &App, user: UserId) -> Vec<SessionHash> {
    (0..SLOTS)
        .map(|slot| claim_holder(app, user, slot))
        .filter(|holder| app.engine.flow(holder, FlowKind::VerifyEmail).is_some())
        .collect()
}

/// The holder of `user`'s claim `slot`: a keyed digest, so no session token hashes to it.
fn claim_holder(app: &App, user: UserId, slot: u64) -> SessionHash {
    SessionHash(
        app.secrets
            .derive(&format!("unverifiable address claim {} {slot}", user.0)),
    )
}
