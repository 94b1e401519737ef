//! Encoding the folded state as a snapshot, and back.
//!
//! A snapshot is `version: u16 LE | body`. Like events, a snapshot format never changes once
//! written; a new layout gets a new version, and every older version still loads (fixtures in
//! `tests/fixtures/snapshots/`). Sessions appear by key hash only. This build writes version 2.
//!
//! Version 1 is `bincode(SnapshotV1)`: simple, but loading a million sessions spent most of a
//! second decoding records one field at a time into an intermediate vector.
//!
//! Version 2 is laid out for start-up. All integers are little-endian:
//!
//! ```text
//! last_seq u64 | next_session_no u64
//! users_len u64     | bincode(Vec<Account>)
//! strings_len u64   | bincode(Vec<String>)        distinct user agents and IPs
//! rotations_len u64 | bincode(Vec<(Timestamp, Jti, SessionHash)>)
//! extras_len u64    | bincode(Vec<(u64, Vec<(Jti, Timestamp)>)>)  sessions with 2+ refresh tokens
//! accounts_len u64  | bincode(AccountsSection)     version 3 only: addresses, flows, keys,
//!                                                   reauthentications, the outbox
//! session_count u64 | session_count fixed records of RECORD bytes:
//!   hash [32] | no u64 | user u64 | created_at i64 | expires_at i64 | seen i64
//!   | refresh jti [16] | refresh exp i64 | user_agent u32 | ip u32 | flags u8
//! ```
//!
//! A string reference is 0 for none or 1 + its index in the string table. `flags` bits 0-1:
//! refresh tokens (0 none, 1 the one inline, 2 in `extras`), bits 2-3 (version 3: bits 2-4): the
//! [`AuthMethod`] (0 unknown, 1 sign-up, 2 password; version 3 also 3 code, 4 password reset);
//! other bits are zero.
//!
//! Version 3 is version 2 with the accounts section (format-4 state: every user's addresses
//! beyond the implied sign-up one, the flows sessions hold, unused link keys, reauthentication
//! times and the messages waiting for delivery). Records are in the order the
//! session table's buckets take them (see [`bucket`]), so loading inserts almost sequentially.
//! Loading runs on two threads: this one decodes the records into the session table while a
//! second one builds the users, their indexes and the per-user session lists.

mod format;
/// Format 1: decoded, never written.
mod v1;

pub use format::SnapshotError;

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::thread;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::event::{AuthMethod, Jti, SecretDigest, Seq, SessionHash, UserId};
use crate::state::addresses::AddressBooks;
use crate::state::flows::{Flows, Keys};
use crate::state::outbox::Outbox;
use crate::state::{
    Account, EmailAddress, Flow, Key, Mail, Origin, RefreshTokens, Rotation, Session, State,
    Strings,
};

use format::{bucket, bucket_mask, invalid};

/// The version this build writes.
const SNAPSHOT_VERSION: u16 = 3;

/// The format-4 state beside users and sessions (snapshot version 3).
#[derive(Default, Serialize, Deserialize)]
struct AccountsSection {
    addresses: Vec<(UserId, Vec<EmailAddress>)>,
    flows: Vec<(SessionHash, Vec<Flow>)>,
    keys: Vec<(SecretDigest, Key)>,
    reauthenticated: Vec<(SessionHash, Vec<(AuthMethod, Timestamp)>)>,
    next_mail: u64,
    outbox: Vec<Mail>,
}

/// Bytes of one session record in a version-2 snapshot.
const RECORD: usize = 32 + 8 * 5 + 16 + 8 + 4 + 4 + 1;

impl State {
    /// Encodes the state as snapshot bytes (the current version).
    pub fn to_snapshot(&self) -> Vec<u8> {
        let mut users: Vec<&Account> = self.users.values().collect();
        users.sort_by_key(|u| u.id);
        // Deterministic bytes, in the order `from_snapshot` inserts (see there).
        let mask = bucket_mask(self.sessions.len());
        let mut sessions: Vec<(u64, &SessionHash, &Session)> = self
            .sessions
            .iter()
            .map(|(hash, s)| (bucket(hash, mask), hash, s))
            .collect();
        sessions.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));

        let mut strings = StringTable::default();
        let mut extras: Vec<(u64, Vec<(Jti, Timestamp)>)> = Vec::new();
        let mut records = Vec::with_capacity(sessions.len() * RECORD);
        for (index, (_, hash, s)) in (0u64..).zip(&sessions) {
            let (jti, exp, refresh_bits) = match s.refresh.as_slice() {
                [] => (Jti([0; 16]), Timestamp::from_millis(0), 0u8),
                [(jti, exp)] => (*jti, *exp, 1),
                many => {
                    extras.push((index, many.to_vec()));
                    (Jti([0; 16]), Timestamp::from_millis(0), 2)
                }
            };
            let method_bits: u8 = match s.method() {
                AuthMethod::Unknown => 0,
                AuthMethod::SignUp => 1,
                AuthMethod::Password => 2,
                AuthMethod::Code => 3,
                AuthMethod::PasswordReset => 4,
            };
            records.extend_from_slice(&hash.0);
            for word in [
                s.no,
                s.user.0,
                s.created_at.as_millis() as u64,
                s.expires_at.as_millis() as u64,
                s.seen_raw() as u64,
            ] {
                records.extend_from_slice(&word.to_le_bytes());
            }
            records.extend_from_slice(&jti.0);
            records.extend_from_slice(&exp.as_millis().to_le_bytes());
            let origin = s.origin.as_deref();
            let user_agent = origin.and_then(|o| o.user_agent.as_ref());
            let ip = origin.and_then(|o| o.ip.as_ref());
            records.extend_from_slice(&strings.reference(user_agent).to_le_bytes());
            records.extend_from_slice(&strings.reference(ip).to_le_bytes());
            records.push(refresh_bits | method_bits << 2);
        }
        let rotations: Vec<(Timestamp, Jti, SessionHash)> = self
            .rotation_order
            .iter()
            .filter_map(|(at, jti)| {
                self.recent_rotations
                    .get(jti)
                    .filter(|r| r.at == *at)
                    .map(|r| (*at, *jti, r.session))
            })
            .collect();

        let mut out = SNAPSHOT_VERSION.to_le_bytes().to_vec();
        out.extend_from_slice(&self.last_seq.0.to_le_bytes());
        out.extend_from_slice(&self.next_session_no.to_le_bytes());
        put_section(&mut out, &users);
        put_section(&mut out, &strings.strings);
        put_section(&mut out, &rotations);
        put_section(&mut out, &extras);
        let mut reauthenticated: Vec<(SessionHash, Vec<(AuthMethod, Timestamp)>)> = self
            .reauthenticated
            .iter()
            .map(|(h, l)| (*h, l.clone()))
            .collect();
        reauthenticated.sort_by_key(|(h, _)| *h);
        let (next_mail, outbox) = self.outbox.parts();
        let accounts = AccountsSection {
            addresses: self.addresses.explicit(),
            flows: self.flows.all(),
            keys: self.keys.all(),
            reauthenticated,
            next_mail,
            outbox,
        };
        put_section(&mut out, &accounts);
        out.extend_from_slice(&(sessions.len() as u64).to_le_bytes());
        out.extend_from_slice(&records);
        out
    }

    /// Rebuilds a state from snapshot bytes of any version this build knows.
    ///
    /// # Errors
    ///
    /// [`SnapshotError`] when the bytes are not a snapshot this build can read.
    pub fn from_snapshot(bytes: &[u8], grace_ms: i64) -> Result<State, SnapshotError> {
        let version = bytes
            .get(..2)
            .map(|v| u16::from_le_bytes([v[0], v[1]]))
            .ok_or_else(|| invalid("empty"))?;
        match version {
            1 => v1::decode(&bytes[2..], grace_ms),
            2 => decode_v2(&bytes[2..], grace_ms, false),
            3 => decode_v2(&bytes[2..], grace_ms, true),
            _ => Err(SnapshotError::UnknownVersion { version }),
        }
    }
}

/// Distinct strings in first-use order, referenced as 1 + index (0 = none).
///
/// Keyed by address: the state interns its strings (one `Arc` per distinct string), so equal
/// strings are the same allocation and a million references cost no string hashing.
#[derive(Default)]
struct StringTable<'a> {
    strings: Vec<&'a str>,
    index: HashMap<usize, u32, BuildHasherDefault<super::UserIdHasher>>,
}

impl<'a> StringTable<'a> {
    fn reference(&mut self, s: Option<&'a Arc<str>>) -> u32 {
        let Some(s) = s else { return 0 };
        let next = self.strings.len() as u32 + 1;
        *self
            .index
            // An Arc allocation spans at least 16 bytes (its two counters), so addresses / 16
            // still differ, and the bits that alignment keeps zero are dropped.
            .entry(Arc::as_ptr(s).cast::<u8>() as usize >> 4)
            .or_insert_with(|| {
                self.strings.push(s);
                next
            })
    }
}

fn put_section<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // why: serde encoding of plain in-memory data into a Vec has no failure mode but a bug;
    // an empty section would then fail loudly at the next open rather than panic here.
    let body =
        bincode::serde::encode_to_vec(value, bincode::config::standard()).unwrap_or_default();
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&body);
}

/// Reads the body of a version-2 snapshot front to back.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], SnapshotError> {
        if self.rest.len() < n {
            return Err(invalid(format!("truncated in {what}")));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u64(&mut self, what: &str) -> Result<u64, SnapshotError> {
        Ok(u64_at(self.take(8, what)?, 0))
    }

    fn section<T: for<'de> Deserialize<'de>>(&mut self, what: &str) -> Result<T, SnapshotError> {
        let len = usize::try_from(self.u64(what)?).map_err(|_| invalid(what.to_owned()))?;
        let body = self.take(len, what)?;
        let (value, used) = bincode::serde::decode_from_slice(body, bincode::config::standard())
            .map_err(|e| invalid(format!("{what}: {e}")))?;
        if used != len {
            return Err(invalid(format!("{what}: trailing bytes")));
        }
        Ok(value)
    }
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn hash_at(record: &[u8]) -> SessionHash {
    let mut hash = [0; 32];
    hash.copy_from_slice(&record[..32]);
    SessionHash(hash)
}

/// What the second loading thread builds: the users and every index over them.
struct UserIndexes {
    users: super::UserMap<Account>,
    by_email: std::collections::HashMap<String, UserId>,
    by_username: std::collections::HashMap<String, UserId>,
    by_user: super::UserMap<super::UserSessions>,
    max_user: u64,
}

/// Decodes version 2, or version 3 (`with_accounts`: the accounts section, and the code
/// method in session flags).
fn decode_v2(body: &[u8], grace_ms: i64, with_accounts: bool) -> Result<State, SnapshotError> {
    let mut reader = Reader { rest: body };
    let last_seq = Seq(reader.u64("header")?);
    let next_session_no = reader.u64("header")?;
    let users_len = usize::try_from(reader.u64("users")?).map_err(|_| invalid("users"))?;
    let users_bytes = reader.take(users_len, "users")?;
    let strings: Vec<String> = reader.section("strings")?;
    let rotations: Vec<(Timestamp, Jti, SessionHash)> = reader.section("rotations")?;
    let extras: Vec<(u64, Vec<(Jti, Timestamp)>)> = reader.section("extras")?;
    let accounts: AccountsSection = match with_accounts {
        true => reader.section("accounts")?,
        false => AccountsSection::default(),
    };
    let count = usize::try_from(reader.u64("sessions")?).map_err(|_| invalid("sessions"))?;
    let records_len = count
        .checked_mul(RECORD)
        .ok_or_else(|| invalid("session count"))?;
    let records = reader.take(records_len, "sessions")?;
    if !reader.rest.is_empty() {
        return Err(invalid("trailing bytes"));
    }

    let strings: Vec<Arc<str>> = strings.into_iter().map(Arc::from).collect();
    let mut shared = Strings::default();
    for s in &strings {
        if !shared.0.insert(Arc::clone(s)) {
            return Err(invalid("a string appears twice"));
        }
    }
    let (indexes, sessions) = thread::scope(|scope| {
        let users = scope.spawn(|| user_indexes(users_bytes, records, count));
        let sessions = session_table(records, count, &strings, &extras, with_accounts);
        // A panic in the other thread is a bug; report it as a bad snapshot, not a crash.
        let users = users
            .join()
            .unwrap_or_else(|_| Err(invalid("user index builder failed")));
        (users, sessions)
    });
    let (indexes, sessions) = (indexes?, sessions?);

    let mut state = State::new(grace_ms);
    state.last_seq = last_seq;
    state.next_session_no = next_session_no;
    state.users = indexes.users;
    state.by_email = indexes.by_email;
    state.by_username = indexes.by_username;
    state.by_user = indexes.by_user;
    state.max_user = indexes.max_user;
    state.sessions = sessions;
    drop(strings);
    // Only strings some session refers to stay (the encoder writes no others).
    shared.0.retain(|s| Arc::strong_count(s) > 1);
    state.strings = shared;
    for (at, jti, session) in rotations {
        state.recent_rotations.insert(jti, Rotation { session, at });
        state.rotation_order.push_back((at, jti));
    }
    load_accounts(&mut state, accounts)?;
    Ok(state)
}

/// Puts the accounts section into `state`, whose users are loaded, checking what the fold
/// guarantees: each book belongs to a user, holds that user's e-mail as its one primary
/// address, and no address belongs to two users.
fn load_accounts(state: &mut State, accounts: AccountsSection) -> Result<(), SnapshotError> {
    for (user, book) in &accounts.addresses {
        let account = state
            .users
            .get(user)
            .ok_or_else(|| invalid("addresses of an unknown user"))?;
        let primaries: Vec<&EmailAddress> = book.iter().filter(|a| a.primary).collect();
        if primaries.len() != 1 || primaries[0].email != account.email {
            return Err(invalid(
                "an address book without the account's primary e-mail",
            ));
        }
        for address in book {
            match state.by_email.insert(address.email.clone(), *user) {
                Some(owner) if owner != *user => {
                    return Err(invalid("an address belongs to two users"));
                }
                _ => {}
            }
        }
    }
    for (hash, _) in &accounts.reauthenticated {
        if !state.sessions.contains_key(hash) {
            return Err(invalid("reauthentication of an unknown session"));
        }
    }
    state.addresses = AddressBooks::from_explicit(accounts.addresses);
    state.flows = Flows::from_all(accounts.flows);
    state.keys = Keys::from_all(accounts.keys);
    state.reauthenticated = accounts.reauthenticated.into_iter().collect();
    state.outbox = Outbox::from_parts(accounts.next_mail, accounts.outbox);
    Ok(())
}

/// The session table, from the fixed records in bucket order.
fn session_table(
    records: &[u8],
    count: usize,
    strings: &[Arc<str>],
    extras: &[(u64, Vec<(Jti, Timestamp)>)],
    code_method: bool,
) -> Result<super::SessionTable, SnapshotError> {
    let mut table = super::SessionTable::default();
    table.reserve(count);
    let string = |reference: u32| -> Result<Option<Arc<str>>, SnapshotError> {
        match reference {
            0 => Ok(None),
            r => strings
                .get(r as usize - 1)
                .map(|s| Some(Arc::clone(s)))
                .ok_or_else(|| invalid("string reference out of range")),
        }
    };
    let mut extras = extras.iter().peekable();
    for (index, record) in (0u64..).zip(records.chunks_exact(RECORD)) {
        let hash = hash_at(record);
        let flags = record[RECORD - 1];
        let refresh = match flags & 0b11 {
            0 => RefreshTokens::default(),
            1 => {
                let mut jti = [0; 16];
                jti.copy_from_slice(&record[72..88]);
                let exp = Timestamp::from_millis(u64_at(record, 88) as i64);
                RefreshTokens::one((Jti(jti), exp))
            }
            2 => match extras.next() {
                Some((at, tokens)) if *at == index && tokens.len() > 1 => {
                    RefreshTokens::from_vec(tokens.clone())
                }
                _ => return Err(invalid("refresh tokens missing from extras")),
            },
            _ => return Err(invalid("unknown refresh flag")),
        };
        // Version 2: bits 2-3 hold the method; version 3: bits 2-4.
        let (method_mask, unused_from) = if code_method { (0b111, 5) } else { (0b11, 4) };
        let method = match (flags >> 2) & method_mask {
            0 => AuthMethod::Unknown,
            1 => AuthMethod::SignUp,
            2 => AuthMethod::Password,
            3 if code_method => AuthMethod::Code,
            4 if code_method => AuthMethod::PasswordReset,
            _ => return Err(invalid("unknown authentication method")),
        };
        if flags >> unused_from != 0 {
            return Err(invalid("unknown session flags"));
        }
        let (user_agent, ip) = (string(u32_at(record, 96))?, string(u32_at(record, 100))?);
        let origin =
            (user_agent.is_some() || ip.is_some() || method != AuthMethod::Unknown).then(|| {
                Box::new(Origin {
                    user_agent,
                    ip,
                    method,
                })
            });
        let session = Session {
            no: u64_at(record, 32),
            user: UserId(u64_at(record, 40)),
            created_at: Timestamp::from_millis(u64_at(record, 48) as i64),
            expires_at: Timestamp::from_millis(u64_at(record, 56) as i64),
            seen: AtomicI64::new(u64_at(record, 64) as i64),
            origin,
            refresh,
        };
        if table.insert(hash, session).is_some() {
            return Err(invalid("a session appears twice"));
        }
    }
    if extras.next().is_some() {
        return Err(invalid("extras name no session"));
    }
    Ok(table)
}

/// Users, their e-mail and username indexes, and each user's sessions.
fn user_indexes(
    users_bytes: &[u8],
    records: &[u8],
    count: usize,
) -> Result<UserIndexes, SnapshotError> {
    let (users, used): (Vec<Account>, usize) =
        bincode::serde::decode_from_slice(users_bytes, bincode::config::standard())
            .map_err(|e| invalid(format!("users: {e}")))?;
    if used != users_bytes.len() {
        return Err(invalid("users: trailing bytes"));
    }
    let mut indexes = UserIndexes {
        users: super::UserMap::with_capacity_and_hasher(users.len(), Default::default()),
        by_email: std::collections::HashMap::with_capacity(users.len()),
        by_username: std::collections::HashMap::with_capacity(users.len()),
        by_user: super::UserMap::default(),
        max_user: 0,
    };
    for user in users {
        indexes.max_user = indexes.max_user.max(user.id.0);
        indexes.by_email.insert(user.email.clone(), user.id);
        indexes.by_username.insert(user.username.clone(), user.id);
        indexes.users.insert(user.id, user);
    }
    // Count first, so every list is allocated once at its final size.
    let mut sizes: super::UserMap<usize> =
        super::UserMap::with_capacity_and_hasher(indexes.users.len(), Default::default());
    for record in records.chunks_exact(RECORD) {
        *sizes.entry(UserId(u64_at(record, 40))).or_default() += 1;
    }
    let mut by_user: super::UserMap<super::UserSessions> =
        super::UserMap::with_capacity_and_hasher(sizes.len(), Default::default());
    for (user, size) in sizes {
        by_user.insert(
            user,
            super::UserSessions::with_capacity_and_hasher(size, Default::default()),
        );
    }
    for record in records.chunks_exact(RECORD) {
        if let Some(set) = by_user.get_mut(&UserId(u64_at(record, 40))) {
            set.insert(hash_at(record));
        }
    }
    debug_assert_eq!(by_user.values().map(|s| s.len()).sum::<usize>(), count);
    indexes.by_user = by_user;
    Ok(indexes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Envelope, Event};

    fn state() -> State {
        let mut state = State::new(10_000);
        let at = Timestamp::from_millis(1_767_225_600_000);
        let mut seq = 0;
        let mut next = |event| {
            seq += 1;
            Envelope {
                version: crate::event::FORMAT_VERSION,
                seq: Seq(seq),
                at,
                event,
            }
        };
        for user in 1..=3u64 {
            state.apply(&next(Event::UserSignedUp {
                user: UserId(user),
                email: format!("u{user}@example.com"),
                username: format!("u{user}"),
                password_hash: crate::event::PasswordHash::unusable(),
            }));
        }
        for i in 0..40u8 {
            let method = [
                AuthMethod::Unknown,
                AuthMethod::SignUp,
                AuthMethod::Password,
            ][usize::from(i % 3)];
            state.apply(&next(Event::SessionCreated {
                session: SessionHash([i; 32]),
                user: UserId(1 + u64::from(i % 3)),
                expires_at: at.plus_secs(3_600),
                user_agent: (i % 2 == 0).then(|| format!("agent/{}", i % 4)),
                ip: (i % 5 != 0).then(|| "192.0.2.1".to_owned()),
                refresh: (i % 4 != 0).then_some((Jti([i; 16]), at.plus_secs(60))),
                method,
            }));
        }
        // A session with two live refresh tokens goes to the extras section.
        state
            .sessions
            .get_mut(&SessionHash([1; 32]))
            .unwrap()
            .refresh
            .push((Jti([200; 16]), at.plus_secs(90)));
        state.apply(&next(Event::RefreshRotated {
            session: SessionHash([2; 32]),
            old: Jti([2; 16]),
            new: Jti([201; 16]),
            expires_at: at.plus_secs(120),
        }));
        state
    }

    #[test]
    fn round_trip() {
        let state = state();
        let bytes = state.to_snapshot();
        let loaded = State::from_snapshot(&bytes, 10_000).unwrap();
        assert_eq!(loaded.first_difference(&state), None);
        assert_eq!(loaded.to_snapshot(), bytes);
    }

    /// Account agents and IPs are held once however many sessions share them, survive a snapshot
    /// round trip as the same set, and leave with their last session.
    #[test]
    fn shared_strings_leave_with_their_last_session() {
        let mut state = state();
        let strings = |s: &State| {
            let mut v: Vec<String> = s.strings.0.iter().map(|s| s.to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(
            strings(&state),
            ["192.0.2.1", "agent/0", "agent/2"],
            "distinct strings only"
        );
        let loaded = State::from_snapshot(&state.to_snapshot(), 10_000).unwrap();
        assert_eq!(strings(&loaded), strings(&state));
        let hashes: Vec<SessionHash> = state.sessions.keys().copied().collect();
        for (i, session) in hashes.into_iter().enumerate() {
            state.apply(&Envelope {
                version: crate::event::FORMAT_VERSION,
                seq: Seq(1_000 + i as u64),
                at: Timestamp::from_millis(1_767_225_600_000),
                event: Event::SessionRevoked {
                    session,
                    reason: crate::event::RevokeReason::Logout,
                },
            });
        }
        assert!(strings(&state).is_empty(), "{:?}", strings(&state));
    }

    #[test]
    fn every_truncation_and_trailing_byte_is_an_error() {
        let bytes = state().to_snapshot();
        for len in 0..bytes.len() {
            assert!(
                State::from_snapshot(&bytes[..len], 10_000).is_err(),
                "{len}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(State::from_snapshot(&longer, 10_000).is_err());
    }

    /// The snapshot file is checksummed, but a corrupt body must still be an error, never a
    /// panic: flip every bit of the fixed records and the headers.
    #[test]
    fn flipped_bits_never_panic() {
        let bytes = state().to_snapshot();
        for i in 0..bytes.len() * 8 {
            let mut bad = bytes.clone();
            bad[i / 8] ^= 1 << (i % 8);
            let _ = State::from_snapshot(&bad, 10_000);
        }
    }

    #[test]
    fn unknown_flags_and_references_are_rejected() {
        let bytes = state().to_snapshot();
        let first_record = bytes.len() - 40 * RECORD;
        let mut bad = bytes.clone();
        bad[first_record + RECORD - 1] |= 0b10_0000;
        assert!(State::from_snapshot(&bad, 10_000).is_err());
        let mut bad = bytes.clone();
        bad[first_record + 96..first_record + 100].copy_from_slice(&999u32.to_le_bytes());
        assert!(State::from_snapshot(&bad, 10_000).is_err());
        let mut bad = bytes;
        bad[0] = 9;
        assert_eq!(
            State::from_snapshot(&bad, 10_000).unwrap_err(),
            SnapshotError::UnknownVersion { version: 9 }
        );
    }
}
