//! The engine's account commands (format 4): addresses, password changes, link keys, code
//! flows, reauthentication and the outbox. Each is decided by the writer, so concurrent uses of
//! one key or code cannot both succeed, and each survives a reopen.

use std::sync::{Arc, Barrier};

use hallpass::{
    AddEmailOutcome, AuthMethod, CodeCheck, EngineConfig, FlowKind, KeyPurpose, MailOutcome,
    PasswordChange, PasswordHash, PrimaryOutcome, RemoveEmailOutcome, SecretDigest, SessionHash,
    SessionMeta,
};

use crate::util::{assert_same_state, mem_engine, open, user};

fn digest(n: u8) -> SecretDigest {
    SecretDigest([n; 32])
}

#[test]
fn addresses_are_unique_capped_and_the_primary_stays() {
    let (engine, _, _) = mem_engine(EngineConfig::default());
    let ann = user(&engine, 1);
    let bob = user(&engine, 2);
    assert_eq!(
        engine.add_email(ann, "ann@work.example", 2).unwrap(),
        AddEmailOutcome::Added
    );
    assert_eq!(
        engine.add_email(ann, "ann@work.example", 2).unwrap(),
        AddEmailOutcome::AlreadyYours
    );
    assert_eq!(
        engine.add_email(bob, "ann@work.example", 2).unwrap(),
        AddEmailOutcome::Taken
    );
    assert_eq!(
        engine.add_email(bob, "user1@example.com", 2).unwrap(),
        AddEmailOutcome::Taken,
        "a sign-up address is taken too"
    );
    assert_eq!(
        engine.add_email(ann, "third@example.com", 2).unwrap(),
        AddEmailOutcome::TooMany
    );
    // An added address finds its user, as a login by it does.
    assert_eq!(engine.user_by_email("ann@work.example").unwrap().id, ann);

    assert_eq!(
        engine
            .set_primary_email(ann, "ann@work.example", false)
            .unwrap(),
        PrimaryOutcome::Unverified
    );
    assert!(engine.verify_email(ann, "ann@work.example").unwrap());
    assert_eq!(
        engine
            .set_primary_email(ann, "ann@work.example", false)
            .unwrap(),
        PrimaryOutcome::Set
    );
    assert_eq!(engine.user(ann).unwrap().email, "ann@work.example");
    assert_eq!(
        engine.remove_email(ann, "ann@work.example").unwrap(),
        RemoveEmailOutcome::Primary
    );
    assert_eq!(
        engine.remove_email(ann, "user1@example.com").unwrap(),
        RemoveEmailOutcome::Removed
    );
    assert_eq!(
        engine.remove_email(ann, "user1@example.com").unwrap(),
        RemoveEmailOutcome::NotYours
    );
    let book = engine.email_addresses(ann);
    assert_eq!(book.len(), 1);
    assert!(book[0].primary && book[0].verified);
    // The removed address is free again.
    assert_eq!(
        engine.add_email(bob, "user1@example.com", 2).unwrap(),
        AddEmailOutcome::Added
    );
}

#[test]
fn concurrent_adds_of_one_address_give_it_to_one_user() {
    let (engine, _, _) = mem_engine(EngineConfig::default());
    let users: Vec<_> = (0..16).map(|n| user(&engine, n)).collect();
    let barrier = Arc::new(Barrier::new(users.len()));
    let outcomes: Vec<AddEmailOutcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = users
            .iter()
            .map(|&u| {
                let (engine, barrier) = (engine.clone(), Arc::clone(&barrier));
                scope.spawn(move || {
                    barrier.wait();
                    engine.add_email(u, "shared@example.com", 0).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let added = outcomes
        .iter()
        .filter(|o| **o == AddEmailOutcome::Added)
        .count();
    assert_eq!(added, 1, "{outcomes:?}");
}

#[test]
fn a_password_change_ends_the_other_sessions_and_voids_reset_keys() {
    let (engine, _, _) = mem_engine(EngineConfig::default());
    let ann = user(&engine, 1);
    let sessions: Vec<_> = (0..3)
        .map(|_| {
            engine
                .create_session(ann, SessionMeta::default(), None)
                .unwrap()
        })
        .collect();
    engine
        .issue_key(
            digest(9),
            KeyPurpose::ResetPassword,
            ann,
            "user1@example.com",
            60_000,
            None,
        )
        .unwrap();
    let keep = sessions[0].info.hash;
    let hash = PasswordHash::from_phc("$argon2id$new".into());
    let ended = engine
        .change_password(ann, hash, PasswordChange::Changed, Some(keep))
        .unwrap();
    assert_eq!(ended, 2);
    assert!(engine.is_live(&keep));
    assert!(!engine.is_live(&sessions[1].info.hash));
    assert!(
        engine.key(&digest(9), KeyPurpose::ResetPassword).is_none(),
        "a reset key does not outlive the password it would reset"
    );
    // No session kept: all end (ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE).
    let hash = PasswordHash::from_phc("$argon2id$newer".into());
    let ended = engine
        .change_password(ann, hash, PasswordChange::Reset, None)
        .unwrap();
    assert_eq!(ended, 1);
    assert!(engine.user_sessions(ann).is_empty());
}

#[test]
fn a_link_key_works_once_however_many_present_it_at_once() {
    let (engine, _, clock) = mem_engine(EngineConfig::default());
    let ann = user(&engine, 1);
    let purpose = KeyPurpose::VerifyEmail;
    engine
        .issue_key(digest(1), purpose, ann, "user1@example.com", 60_000, None)
        .unwrap();
    assert!(
        engine.key(&digest(1), KeyPurpose::ResetPassword).is_none(),
        "a key is for its purpose only"
    );
    let barrier = Arc::new(Barrier::new(32));
    let spent: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..32)
            .map(|_| {
                let (engine, barrier) = (engine.clone(), Arc::clone(&barrier));
                scope.spawn(move || {
                    barrier.wait();
                    engine.spend_key(digest(1), purpose).unwrap().is_some() as usize
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(spent, 1);
    // Expiry: a key past its time does nothing, and a sweep forgets it.
    engine
        .issue_key(digest(2), purpose, ann, "user1@example.com", 60_000, None)
        .unwrap();
    clock.advance_secs(61);
    assert!(engine.key(&digest(2), purpose).is_none());
    assert!(engine.spend_key(digest(2), purpose).unwrap().is_none());
    engine.sweep().unwrap();
    assert_eq!(engine.with_state(|s| s.flow_key_mail_counts().1), 0);
}

#[test]
fn a_code_is_accepted_once_and_wrong_codes_end_the_flow_at_the_limit() {
    let (engine, _, clock) = mem_engine(EngineConfig::default());
    let ann = user(&engine, 1);
    let holder = SessionHash([7; 32]);
    let kind = FlowKind::LoginByCode;
    let start = |code| {
        engine
            .start_flow(
                holder,
                kind,
                Some(ann),
                Some("user1@example.com"),
                Some(code),
                AuthMethod::Unknown,
                180_000,
                None,
            )
            .unwrap()
    };
    start(digest(1));
    // 32 concurrent presentations of the right code: exactly one is accepted.
    let barrier = Arc::new(Barrier::new(32));
    let accepted: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..32)
            .map(|_| {
                let (engine, barrier) = (engine.clone(), Arc::clone(&barrier));
                scope.spawn(move || {
                    barrier.wait();
                    let check = engine.check_code(holder, kind, digest(1), 3, true).unwrap();
                    matches!(check, CodeCheck::Accepted(_)) as usize
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(accepted, 1);

    // allauth's max attempts of 3: two wrong codes leave one attempt, the third ends the flow
    // and then even the right code finds nothing.
    start(digest(2));
    let wrong = |remaining| {
        assert_eq!(
            engine.check_code(holder, kind, digest(0), 3, true).unwrap(),
            CodeCheck::Wrong { remaining }
        );
    };
    wrong(2);
    wrong(1);
    assert_eq!(
        engine.check_code(holder, kind, digest(0), 3, true).unwrap(),
        CodeCheck::Exhausted
    );
    assert_eq!(
        engine.check_code(holder, kind, digest(2), 3, true).unwrap(),
        CodeCheck::NoFlow
    );

    // A resent code replaces the old one; a check that does not consume leaves the flow.
    start(digest(3));
    engine
        .resend_code(holder, kind, digest(4), None)
        .unwrap()
        .unwrap();
    assert!(matches!(
        engine
            .check_code(holder, kind, digest(3), 3, false)
            .unwrap(),
        CodeCheck::Wrong { remaining: 2 }
    ));
    assert!(matches!(
        engine.check_code(holder, kind, digest(4), 3, false).unwrap(),
        CodeCheck::Accepted(f) if f.resends == 1 && f.failed_attempts == 1
    ));
    assert!(engine.flow(&holder, kind).is_some());
    // Timeout: the flow is gone for reads at once, and a sweep frees it.
    clock.advance_secs(181);
    assert!(engine.flow(&holder, kind).is_none());
    assert_eq!(
        engine.check_code(holder, kind, digest(4), 3, true).unwrap(),
        CodeCheck::NoFlow
    );
    engine.sweep().unwrap();
    assert_eq!(engine.with_state(|s| s.flow_key_mail_counts().0), 0);
}

#[test]
fn a_session_holds_its_flows_and_reauthentications_until_it_ends() {
    let (engine, _, clock) = mem_engine(EngineConfig::default());
    let ann = user(&engine, 1);
    let session = engine
        .create_session(ann, SessionMeta::default(), None)
        .unwrap();
    let hash = session.info.hash;
    assert_eq!(
        engine.last_authenticated(&hash),
        Some(session.info.created_at)
    );
    clock.advance_secs(600);
    assert!(engine.reauthenticate(hash, AuthMethod::Password).unwrap());
    assert_eq!(engine.last_authenticated(&hash), Some(engine.now()));
    engine
        .start_flow(
            hash,
            FlowKind::VerifyEmail,
            Some(ann),
            Some("user1@example.com"),
            Some(digest(5)),
            AuthMethod::Unknown,
            900_000,
            None,
        )
        .unwrap();
    assert_eq!(engine.flows(&hash).len(), 1);
    engine
        .revoke(session.key.expose(), hallpass::RevokeReason::Logout)
        .unwrap();
    assert!(
        engine.flows(&hash).is_empty(),
        "flows end with their session"
    );
    assert!(engine.reauthentications(&hash).is_empty());
    assert!(!engine.reauthenticate(hash, AuthMethod::Password).unwrap());
}

#[test]
fn the_outbox_survives_a_reopen_and_empties_as_mail_is_delivered() {
    let (engine, store, clock) = mem_engine(EngineConfig::default());
    let ann = user(&engine, 1);
    let first = engine
        .issue_key(
            digest(1),
            KeyPurpose::VerifyEmail,
            ann,
            "user1@example.com",
            60_000,
            Some(b"sealed one".to_vec()),
        )
        .unwrap()
        .unwrap();
    let second = engine
        .start_flow(
            SessionHash([3; 32]),
            FlowKind::LoginByCode,
            Some(ann),
            Some("user1@example.com"),
            Some(digest(2)),
            AuthMethod::Unknown,
            60_000,
            Some(b"sealed two".to_vec()),
        )
        .unwrap()
        .unwrap();
    assert_eq!(second, first + 1);
    engine.mailed(first, MailOutcome::Failed).unwrap();
    drop(engine);
    let (engine, _) = open(store.clone(), &clock, EngineConfig::default());
    let waiting = engine.outbox();
    assert_eq!(waiting.len(), 2);
    assert_eq!(waiting[0].sealed, b"sealed one");
    assert_eq!(waiting[0].failed_attempts, 1);
    engine.mailed(first, MailOutcome::Sent).unwrap();
    engine.mailed(second, MailOutcome::GaveUp).unwrap();
    assert!(engine.outbox().is_empty());
    // Ids are never reused.
    let third = engine
        .issue_key(
            digest(3),
            KeyPurpose::VerifyEmail,
            ann,
            "user1@example.com",
            60_000,
            Some(b"sealed three".to_vec()),
        )
        .unwrap()
        .unwrap();
    assert_eq!(third, second + 1);
    // And the whole account state replays and snapshots to the same thing.
    engine.snapshot().unwrap();
    let (reopened, _) = open(store, &clock, EngineConfig::default());
    assert_same_state(&engine, &reopened);
}

#[test]
fn oversized_inputs_are_refused_before_the_writer() {
    let (engine, _, _) = mem_engine(EngineConfig::default());
    let ann = user(&engine, 1);
    let long = format!("{}@example.com", "a".repeat(320));
    assert!(engine.add_email(ann, &long, 0).is_err());
    let huge = Some(vec![0u8; hallpass::MAX_SEALED_MAIL_BYTES + 1]);
    assert!(
        engine
            .issue_key(digest(1), KeyPurpose::VerifyEmail, ann, "a@b.c", 1, huge)
            .is_err()
    );
}

// --- password change and reset ---

/// `queue_mail` (the "Unknown Account" answer to a reset by link, which no key or flow goes
/// with) numbers its message in line with the others, in one batch or across several,
/// survives a reopen, and refuses an oversized message before the writer.
#[test]
fn a_message_queued_on_its_own_is_durable_and_numbered_in_line() {
    let (engine, store, clock) = mem_engine(EngineConfig::default());
    let ann = user(&engine, 1);
    let first = engine.queue_mail(b"unknown account".to_vec()).unwrap();
    let second = engine
        .issue_key(
            digest(1),
            KeyPurpose::ResetPassword,
            ann,
            "user1@example.com",
            60_000,
            Some(b"reset link".to_vec()),
        )
        .unwrap()
        .unwrap();
    assert_eq!(second, first + 1);
    // Concurrent ones share batches and still get distinct ids.
    let barrier = Arc::new(Barrier::new(8));
    let mut ids: Vec<u64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8u8)
            .map(|i| {
                let (engine, barrier) = (engine.clone(), Arc::clone(&barrier));
                scope.spawn(move || {
                    barrier.wait();
                    engine.queue_mail(vec![i]).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    ids.sort_unstable();
    assert_eq!(ids, ((second + 1)..=(second + 8)).collect::<Vec<_>>());
    let huge = vec![0u8; hallpass::MAX_SEALED_MAIL_BYTES + 1];
    assert!(engine.queue_mail(huge).is_err());
    drop(engine);
    let (engine, _) = open(store, &clock, EngineConfig::default());
    let waiting = engine.outbox();
    assert_eq!(waiting.len(), 10);
    assert_eq!(waiting[0].sealed, b"unknown account");
}
