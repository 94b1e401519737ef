//! Planning the account commands: addresses, passwords, link keys, flows, reauthentication
//! and the outbox. As the rest of planning, pure: the state, the batch's overlay and the
//! batch's time in; events and an answer out.

use crate::engine::protocol::{
    AddEmail, ChangePassword, CheckCode, EndFlow, IssueKey, Mailed, QueueMail, Reauthenticate,
    RemoveEmail, ResendCode, SetPrimaryEmail, SpendKey, StartFlow, VerifyEmail,
};
use crate::engine::types::EngineError;
use crate::engine::types::{
    AddEmailOutcome, CodeCheck, MailOutcome, PrimaryOutcome, RemoveEmailOutcome,
};
use crate::event::{Event, FlowKind, RevokeReason, SessionHash, UserId};
use crate::state::{EmailAddress, Flow, Key};

use super::{Context, Plan, revoke_user_events};

/// `user`'s addresses as the batch so far leaves them; `None` for an unknown user.
fn book(cx: &Context<'_>, user: UserId) -> Option<Vec<EmailAddress>> {
    if let Some(book) = cx.overlay.books.get(&user) {
        return Some(book.clone());
    }
    cx.state.user(user).map(|_| cx.state.email_addresses(user))
}

/// `holder`'s flow `kind` as the batch so far leaves it.
fn flow(cx: &Context<'_>, holder: SessionHash, kind: FlowKind) -> Option<Flow> {
    match cx.overlay.flows.get(&(holder, kind)) {
        Some(flow) => flow.clone(),
        None => cx.state.flow(&holder, kind, cx.now).cloned(),
    }
}

/// The event queueing `sealed`, with the next message id; none without a message.
fn queue_mail(cx: &mut Context<'_>, sealed: Option<Vec<u8>>) -> (Option<Event>, Option<u64>) {
    let Some(sealed) = sealed else {
        return (None, None);
    };
    let mail = cx.state.next_mail_id() + cx.overlay.mails;
    cx.overlay.mails += 1;
    (Some(Event::MailQueued { mail, sealed }), Some(mail))
}

impl Plan for AddEmail {
    fn plan(self, cx: &mut Context<'_>) -> (Vec<Event>, Result<AddEmailOutcome, EngineError>) {
        let AddEmail { user, email, max } = self;
        let Some(mut book) = book(cx, user) else {
            return (vec![], Err(EngineError::UnknownUser { user }));
        };
        if book.iter().any(|a| a.email == email) {
            return (vec![], Ok(AddEmailOutcome::AlreadyYours));
        }
        // An address claimed earlier in the batch (by a sign-up or another add) counts as taken.
        if cx.state.email_owner(&email).is_some() || cx.overlay.emails.contains(&email) {
            return (vec![], Ok(AddEmailOutcome::Taken));
        }
        if max > 0 && book.len() >= max {
            return (vec![], Ok(AddEmailOutcome::TooMany));
        }
        cx.overlay.emails.insert(email.clone());
        book.push(EmailAddress {
            email: email.clone(),
            verified: false,
            primary: false,
        });
        cx.overlay.books.insert(user, book);
        (
            vec![Event::EmailAdded { user, email }],
            Ok(AddEmailOutcome::Added),
        )
    }
}

impl Plan for VerifyEmail {
    fn plan(self, cx: &mut Context<'_>) -> (Vec<Event>, Result<bool, EngineError>) {
        let VerifyEmail { user, email } = self;
        let Some(mut book) = book(cx, user) else {
            return (vec![], Ok(false));
        };
        let Some(address) = book.iter_mut().find(|a| a.email == email) else {
            return (vec![], Ok(false));
        };
        if address.verified {
            return (vec![], Ok(true));
        }
        address.verified = true;
        cx.overlay.books.insert(user, book);
        (vec![Event::EmailVerified { user, email }], Ok(true))
    }
}

impl Plan for SetPrimaryEmail {
    fn plan(self, cx: &mut Context<'_>) -> (Vec<Event>, Result<PrimaryOutcome, EngineError>) {
        let SetPrimaryEmail {
            user,
            email,
            allow_unverified,
        } = self;
        let Some(mut book) = book(cx, user) else {
            return (vec![], Ok(PrimaryOutcome::NotYours));
        };
        let Some(address) = book.iter().find(|a| a.email == email) else {
            return (vec![], Ok(PrimaryOutcome::NotYours));
        };
        if !address.verified && !allow_unverified {
            return (vec![], Ok(PrimaryOutcome::Unverified));
        }
        if address.primary {
            return (vec![], Ok(PrimaryOutcome::Set));
        }
        for a in &mut book {
            a.primary = a.email == email;
        }
        book.sort_by_key(|a| !a.primary);
        cx.overlay.books.insert(user, book);
        (
            vec![Event::PrimaryEmailSet { user, email }],
            Ok(PrimaryOutcome::Set),
        )
    }
}

impl Plan for RemoveEmail {
    fn plan(self, cx: &mut Context<'_>) -> (Vec<Event>, Result<RemoveEmailOutcome, EngineError>) {
        let RemoveEmail { user, email } = self;
        let Some(mut book) = book(cx, user) else {
            return (vec![], Ok(RemoveEmailOutcome::NotYours));
        };
        match book.iter().find(|a| a.email == email) {
            None => return (vec![], Ok(RemoveEmailOutcome::NotYours)),
            Some(a) if a.primary => return (vec![], Ok(RemoveEmailOutcome::Primary)),
            Some(_) => {}
        }
        book.retain(|a| a.email != email);
        cx.overlay.books.insert(user, book);
        (
            vec![Event::EmailRemoved { user, email }],
            Ok(RemoveEmailOutcome::Removed),
        )
    }
}

impl Plan for ChangePassword {
    fn plan(self, cx: &mut Context<'_>) -> (Vec<Event>, Result<usize, EngineError>) {
        let ChangePassword {
            user,
            password_hash,
            change,
            keep,
        } = self;
        if cx.state.user(user).is_none() {
            return (vec![], Err(EngineError::UnknownUser { user }));
        }
        let mut events = vec![Event::PasswordChanged {
            user,
            password_hash,
            change,
        }];
        let ended = revoke_user_events(cx, user, keep, RevokeReason::PasswordChanged);
        let n = ended.len();
        events.extend(ended);
        (events, Ok(n))
    }
}

impl Plan for IssueKey {
    fn plan(self, cx: &mut Context<'_>) -> (Vec<Event>, Result<Option<u64>, EngineError>) {
        let IssueKey {
            key,
            purpose,
            user,
            email,
            ttl_ms,
            mail,
        } = self;
        if cx.state.user(user).is_none() {
            return (vec![], Err(EngineError::UnknownUser { user }));
        }
        let mut events = vec![Event::KeyIssued {
            key,
            purpose,
            user,
            email,
            expires_at: cx.now.plus_millis(ttl_ms),
        }];
        let (queued, id) = queue_mail(cx, mail);
        events.extend(queued);
        (events, Ok(id))
    }
}

impl Plan for SpendKey {
    fn plan(self, cx: &mut Context<'_>) -> (Vec<Event>, Result<Option<Key>, EngineError>) {
        let SpendKey { key, purpose } = self;
        if cx.overlay.spent_keys.contains(&key.0) {
            return (vec![], Ok(None));
        }
        match cx.state.key(&key, purpose, cx.now) {
            Some(found) => {
                let found = found.clone();
                cx.overlay.spent_keys.insert(key.0);
                (vec![Event::KeySpent { key }], Ok(Some(found)))
            }
            None => (vec![], Ok(None)),
        }
    }
}

impl Plan for StartFlow {
    fn plan(self, cx: &mut Context<'_>) -> (Vec<Event>, Result<Option<u64>, EngineError>) {
        let StartFlow {
            holder,
            kind,
            user,
            email,
            code,
            method,
            ttl_ms,
            mail,
        } = self;
        let expires_at = cx.now.plus_millis(ttl_ms);
        let started = Flow {
            kind,
            user,
            email: email.clone(),
            code,
            method,
            started_at: cx.now,
            expires_at,
            failed_attempts: 0,
            resends: 0,
        };
        cx.overlay.flows.insert((holder, kind), Some(started));
        let mut events = vec![Event::FlowStarted {
            holder,
            kind,
            user,
            email,
            code,
            method,
            expires_at,
        }];
        let (queued, id) = queue_mail(cx, mail);
        events.extend(queued);
        (events, Ok(id))
    }
}

impl Plan for CheckCode {
    fn plan(self, cx: &mut Context<'_>) -> (Vec<Event>, Result<CodeCheck, EngineError>) {
        let CheckCode {
            holder,
            kind,
            code,
            max_attempts,
            consume,
        } = self;
        let Some(mut current) = flow(cx, holder, kind) else {
            return (vec![], Ok(CodeCheck::NoFlow));
        };
        let Some(expected) = current.code else {
            return (vec![], Ok(CodeCheck::NoFlow));
        };
        if expected.matches(&code) {
            if !consume {
                return (vec![], Ok(CodeCheck::Accepted(current)));
            }
            cx.overlay.flows.insert((holder, kind), None);
            return (
                vec![Event::FlowEnded { holder, kind }],
                Ok(CodeCheck::Accepted(current)),
            );
        }
        // allauth's `record_invalid_attempt`: the attempt that reaches the limit ends the flow.
        current.failed_attempts = current.failed_attempts.saturating_add(1);
        if current.failed_attempts >= max_attempts {
            cx.overlay.flows.insert((holder, kind), None);
            return (
                vec![Event::FlowEnded { holder, kind }],
                Ok(CodeCheck::Exhausted),
            );
        }
        let remaining = max_attempts - current.failed_attempts;
        cx.overlay.flows.insert((holder, kind), Some(current));
        (
            vec![Event::FlowAttemptFailed { holder, kind }],
            Ok(CodeCheck::Wrong { remaining }),
        )
    }
}

impl Plan for ResendCode {
    fn plan(self, cx: &mut Context<'_>) -> (Vec<Event>, Result<Option<Option<u64>>, EngineError>) {
        let ResendCode {
            holder,
            kind,
            code,
            mail,
        } = self;
        let Some(mut current) = flow(cx, holder, kind) else {
            return (vec![], Ok(None));
        };
        current.code = Some(code);
        current.resends = current.resends.saturating_add(1);
        cx.overlay.flows.insert((holder, kind), Some(current));
        let mut events = vec![Event::FlowCodeResent { holder, kind, code }];
        let (queued, id) = queue_mail(cx, mail);
        events.extend(queued);
        (events, Ok(Some(id)))
    }
}

impl Plan for EndFlow {
    fn plan(self, cx: &mut Context<'_>) -> (Vec<Event>, Result<Option<Flow>, EngineError>) {
        let EndFlow { holder, kind } = self;
        let Some(current) = flow(cx, holder, kind) else {
            return (vec![], Ok(None));
        };
        cx.overlay.flows.insert((holder, kind), None);
        (vec![Event::FlowEnded { holder, kind }], Ok(Some(current)))
    }
}

impl Plan for Reauthenticate {
    fn plan(self, cx: &mut Context<'_>) -> (Vec<Event>, Result<bool, EngineError>) {
        let Reauthenticate { session, method } = self;
        let live =
            cx.state.session(&session, cx.now).is_some() && !cx.overlay.revoked.contains(&session);
        if !live {
            return (vec![], Ok(false));
        }
        (
            vec![Event::SessionReauthenticated { session, method }],
            Ok(true),
        )
    }
}

impl Plan for Mailed {
    fn plan(self, cx: &mut Context<'_>) -> (Vec<Event>, Result<(), EngineError>) {
        let Mailed { mail, outcome } = self;
        if !cx.state.mail_waits(mail) || cx.overlay.mail_ended.contains(&mail) {
            return (vec![], Ok(()));
        }
        let event = match outcome {
            MailOutcome::Failed => Event::MailAttemptFailed { mail },
            MailOutcome::Sent | MailOutcome::GaveUp => {
                cx.overlay.mail_ended.insert(mail);
                Event::MailEnded {
                    mail,
                    sent: outcome == MailOutcome::Sent,
                }
            }
        };
        (vec![event], Ok(()))
    }
}

// --- password change and reset ---

impl Plan for QueueMail {
    fn plan(self, cx: &mut Context<'_>) -> (Vec<Event>, Result<u64, EngineError>) {
        let mail = cx.state.next_mail_id() + cx.overlay.mails;
        cx.overlay.mails += 1;
        let sealed = self.mail;
        (vec![Event::MailQueued { mail, sealed }], Ok(mail))
    }
}
