//! The engine's account operations: e-mail addresses, passwords, link keys, flows held by
//! sessions, reauthentication and the mail outbox.
//!
//! Each is one command to the writer, decided there against the state and the batch (so two
//! concurrent uses of one code or key cannot both succeed), durable before it answers. Codes
//! and keys arrive as digests ([`SecretDigest`]): the engine never sees a secret.

use crate::clock::Timestamp;
use crate::engine::protocol::{
    AddEmail, ChangePassword, CheckCode, Command, EndFlow, IssueKey, Mailed, QueueMail,
    Reauthenticate, RemoveEmail, ResendCode, SetPrimaryEmail, SpendKey, StartFlow, VerifyEmail,
};
use crate::engine::types::{
    AddEmailOutcome, CodeCheck, EngineError, MAX_SEALED_MAIL_BYTES, MailOutcome, Misuse,
    PrimaryOutcome, RemoveEmailOutcome,
};
use crate::engine::{Engine, MAX_PASSWORD_HASH_BYTES};
use crate::event::{
    AuthMethod, FlowKind, KeyPurpose, PasswordChange, PasswordHash, SecretDigest, SessionHash,
    UserId,
};
use crate::state::{EmailAddress, Flow, Key, Mail};

/// The longest normalized e-mail address (RFC 5321's path limit, as Django's `EmailField`).
const MAX_EMAIL_BYTES: usize = 320;

impl Engine {
    /// Adds `email` (normalized) to `user`'s addresses, unverified; `max` is
    /// `ACCOUNT_MAX_EMAIL_ADDRESSES` (0: no limit).
    ///
    /// # Errors
    ///
    /// [`EngineError::UnknownUser`]; [`Misuse`] for an address over 320 bytes; storage errors.
    pub fn add_email(
        &self,
        user: UserId,
        email: &str,
        max: usize,
    ) -> Result<AddEmailOutcome, EngineError> {
        check_email(email)?;
        let command = AddEmail {
            user,
            email: email.to_owned(),
            max,
        };
        self.call(command, Command::AddEmail)
    }

    /// Marks `user`'s address `email` verified; answers whether the user has it.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn verify_email(&self, user: UserId, email: &str) -> Result<bool, EngineError> {
        let command = VerifyEmail {
            user,
            email: email.to_owned(),
        };
        self.call(command, Command::VerifyEmail)
    }

    /// Makes `email` `user`'s primary address (and the account's e-mail). Only a verified one,
    /// unless `allow_unverified`.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn set_primary_email(
        &self,
        user: UserId,
        email: &str,
        allow_unverified: bool,
    ) -> Result<PrimaryOutcome, EngineError> {
        let command = SetPrimaryEmail {
            user,
            email: email.to_owned(),
            allow_unverified,
        };
        self.call(command, Command::SetPrimaryEmail)
    }

    /// Removes `user`'s address `email`, unless it is the primary one.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn remove_email(
        &self,
        user: UserId,
        email: &str,
    ) -> Result<RemoveEmailOutcome, EngineError> {
        let command = RemoveEmail {
            user,
            email: email.to_owned(),
        };
        self.call(command, Command::RemoveEmail)
    }

    /// `user`'s addresses, primary first; empty for an unknown user.
    pub fn email_addresses(&self, user: UserId) -> Vec<EmailAddress> {
        self.read_state(|s| s.email_addresses(user))
    }

    /// Who has address `email` (normalized), verified or not.
    pub fn email_owner(&self, email: &str) -> Option<UserId> {
        self.read_state(|s| s.email_owner(email))
    }

    /// Sets `user`'s password to `password_hash` and ends every session of theirs but `keep`,
    /// in one durable write; outstanding reset keys stop working. Answers how many sessions
    /// ended.
    ///
    /// # Errors
    ///
    /// [`EngineError::UnknownUser`]; [`Misuse`] for a hash over 1,024 bytes; storage errors.
    pub fn change_password(
        &self,
        user: UserId,
        password_hash: PasswordHash,
        change: PasswordChange,
        keep: Option<SessionHash>,
    ) -> Result<usize, EngineError> {
        if password_hash.len() > MAX_PASSWORD_HASH_BYTES {
            let len = password_hash.len();
            return Err(EngineError::Misuse(Misuse::PasswordHashLength { len }));
        }
        let command = ChangePassword {
            user,
            password_hash,
            change,
            keep,
        };
        self.call(command, Command::ChangePassword)
    }

    /// Records link key `key` (its digest) for `purpose`, sent to `email` of `user`, working for
    /// `ttl_ms`, and queues `mail` (sealed) in the same write. Answers the message's id.
    ///
    /// # Errors
    ///
    /// [`EngineError::UnknownUser`]; [`Misuse`] for a message over
    /// [`MAX_SEALED_MAIL_BYTES`]; storage errors.
    pub fn issue_key(
        &self,
        key: SecretDigest,
        purpose: KeyPurpose,
        user: UserId,
        email: &str,
        ttl_ms: i64,
        mail: Option<Vec<u8>>,
    ) -> Result<Option<u64>, EngineError> {
        check_email(email)?;
        check_mail(mail.as_deref())?;
        let command = IssueKey {
            key,
            purpose,
            user,
            email: email.to_owned(),
            ttl_ms,
            mail,
        };
        self.call(command, Command::IssueKey)
    }

    /// The unused link key `key` for `purpose`, if it works now (a read: it stays usable).
    pub fn key(&self, key: &SecretDigest, purpose: KeyPurpose) -> Option<Key> {
        let now = self.now();
        self.read_state(|s| s.key(key, purpose, now).cloned())
    }

    /// Uses link key `key` for `purpose`: the first caller gets what it was for, every later
    /// one `None`.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn spend_key(
        &self,
        key: SecretDigest,
        purpose: KeyPurpose,
    ) -> Result<Option<Key>, EngineError> {
        self.call(SpendKey { key, purpose }, Command::SpendKey)
    }

    /// Session `holder` (authenticated, or an anonymous pending one) begins flow `kind`,
    /// replacing one of that kind, timing out after `ttl_ms`; `mail` (sealed) is queued in the
    /// same write. Answers the message's id.
    ///
    /// # Errors
    ///
    /// [`Misuse`] for an address over 320 bytes or a message over [`MAX_SEALED_MAIL_BYTES`];
    /// storage errors.
    #[allow(clippy::too_many_arguments)]
    pub fn start_flow(
        &self,
        holder: SessionHash,
        kind: FlowKind,
        user: Option<UserId>,
        email: Option<&str>,
        code: Option<SecretDigest>,
        method: AuthMethod,
        ttl_ms: i64,
        mail: Option<Vec<u8>>,
    ) -> Result<Option<u64>, EngineError> {
        if let Some(email) = email {
            check_email(email)?;
        }
        check_mail(mail.as_deref())?;
        let command = StartFlow {
            holder,
            kind,
            user,
            email: email.map(str::to_owned),
            code,
            method,
            ttl_ms,
            mail,
        };
        self.call(command, Command::StartFlow)
    }

    /// The flows `holder` holds now.
    pub fn flows(&self, holder: &SessionHash) -> Vec<Flow> {
        let now = self.now();
        self.read_state(|s| s.flows(holder, now))
    }

    /// Whether `holder` (a presented session token's hash) holds any flow now: an anonymous
    /// session in progress.
    pub fn holds_flow(&self, holder: &SessionHash) -> bool {
        let now = self.now();
        self.read_state(|s| s.holds_flow(holder, now))
    }

    /// `holder`'s flow of `kind`, if it has not timed out.
    pub fn flow(&self, holder: &SessionHash, kind: FlowKind) -> Option<Flow> {
        let now = self.now();
        self.read_state(|s| s.flow(holder, kind, now).cloned())
    }

    /// Checks `code` against `holder`'s flow `kind`: a wrong code counts, and the
    /// `max_attempts`th ends the flow; the right one ends it when `consume`.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn check_code(
        &self,
        holder: SessionHash,
        kind: FlowKind,
        code: SecretDigest,
        max_attempts: u32,
        consume: bool,
    ) -> Result<CodeCheck, EngineError> {
        let command = CheckCode {
            holder,
            kind,
            code,
            max_attempts,
            consume,
        };
        self.call(command, Command::CheckCode)
    }

    /// Gives `holder`'s flow `kind` a new code (the old one stops working) and queues `mail`.
    /// Answers `None` when there is no such flow, else the message's id.
    ///
    /// # Errors
    ///
    /// [`Misuse`] for a message over [`MAX_SEALED_MAIL_BYTES`]; storage errors.
    pub fn resend_code(
        &self,
        holder: SessionHash,
        kind: FlowKind,
        code: SecretDigest,
        mail: Option<Vec<u8>>,
    ) -> Result<Option<Option<u64>>, EngineError> {
        check_mail(mail.as_deref())?;
        let command = ResendCode {
            holder,
            kind,
            code,
            mail,
        };
        self.call(command, Command::ResendCode)
    }

    /// Ends `holder`'s flow `kind`; answers the flow it was, if any.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn end_flow(
        &self,
        holder: SessionHash,
        kind: FlowKind,
    ) -> Result<Option<Flow>, EngineError> {
        self.call(EndFlow { holder, kind }, Command::EndFlow)
    }

    /// Records that session `session` reauthenticated now, by `method`; answers whether the
    /// session is live.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn reauthenticate(
        &self,
        session: SessionHash,
        method: AuthMethod,
    ) -> Result<bool, EngineError> {
        self.call(Reauthenticate { session, method }, Command::Reauthenticate)
    }

    /// When session `hash` last authenticated: its latest reauthentication, else its start.
    pub fn last_authenticated(&self, hash: &SessionHash) -> Option<Timestamp> {
        let now = self.now();
        self.read_state(|s| {
            let session = s.session(hash, now)?;
            let latest = s.reauthentications(hash).last().map(|(_, at)| *at);
            Some(latest.unwrap_or(session.created_at).max(session.created_at))
        })
    }

    /// Session `hash`'s reauthentications, oldest first.
    pub fn reauthentications(&self, hash: &SessionHash) -> Vec<(AuthMethod, Timestamp)> {
        self.read_state(|s| s.reauthentications(hash).to_vec())
    }

    /// The messages waiting for delivery, oldest first.
    pub fn outbox(&self) -> Vec<Mail> {
        self.read_state(|s| s.outbox())
    }

    /// Records what a delivery attempt of message `mail` came to.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn mailed(&self, mail: u64, outcome: MailOutcome) -> Result<(), EngineError> {
        self.call(Mailed { mail, outcome }, Command::Mailed)
    }

    // --- password change and reset ---

    /// Queues `mail` (sealed) on its own, for a message no key or flow goes with (allauth's
    /// "Unknown Account" answer to a password reset by link). Answers the message's id.
    ///
    /// # Errors
    ///
    /// [`Misuse`] for a message over [`MAX_SEALED_MAIL_BYTES`]; storage errors.
    pub fn queue_mail(&self, mail: Vec<u8>) -> Result<u64, EngineError> {
        check_mail(Some(&mail))?;
        self.call(QueueMail { mail }, Command::QueueMail)
    }

    /// `user`'s password hash: for the password-verification path only
    /// (`accounts::verify_user_password`).
    pub(crate) fn password_hash_of(&self, user: UserId) -> Option<PasswordHash> {
        self.read_state(|s| s.user(user).map(|a| a.password_hash().clone()))
    }
}

fn check_email(email: &str) -> Result<(), EngineError> {
    if email.is_empty() || email.len() > MAX_EMAIL_BYTES {
        return Err(EngineError::Misuse(Misuse::EmailLength {
            len: email.len(),
        }));
    }
    Ok(())
}

fn check_mail(mail: Option<&[u8]>) -> Result<(), EngineError> {
    match mail {
        Some(mail) if mail.len() > MAX_SEALED_MAIL_BYTES => {
            Err(EngineError::Misuse(Misuse::MailLength { len: mail.len() }))
        }
        _ => Ok(()),
    }
}
