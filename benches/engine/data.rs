//! Synthetic data: events built straight from counters, and the on-disk data set of a million
//! sessions shared by the start-up and lookup benchmarks.

use std::sync::OnceLock;
use std::time::Instant;

use tempfile::TempDir;

use hallpass::testing::{Envelope, Event, FORMAT_VERSION, State, encode_record, sha256};
use hallpass::{
    AuthMethod, Durability, EventStore, Jti, PasswordHash, Seq, SessionHash, SledStore, Snapshot,
    Timestamp, UserId,
};

/// 2026-01-01T00:00:00Z: the synthetic data's "now", so runs are comparable.
pub(crate) const T0: Timestamp = Timestamp::from_secs(1_767_225_600);
pub(crate) const SESSION_TTL_SECS: i64 = 1_209_600;
pub(crate) const REFRESH_TTL_SECS: i64 = 86_400;
pub(crate) const GRACE_MS: i64 = 10_000;

/// Live sessions in the start-up and lookup data set, and how many of them arrive through log
/// records after the snapshot (one event per record, the replay's worst case).
pub(crate) const DATASET_SESSIONS: u64 = 1_000_000;
pub(crate) const DATASET_LOG_RECORDS: u64 = 5_000;
pub(crate) const DATASET_USERS: u64 = 100_000;

/// Users the throughput benchmarks spread their sessions over: a real user holds a handful of
/// sessions, and the per-user index is a sorted `Vec`.
pub(crate) const THROUGHPUT_USERS: u64 = 1_024;

/// Keys in the cache-resident lookup benchmarks.
pub(crate) const HOT_KEYS: usize = 1_024;

static DATASET: OnceLock<Dataset> = OnceLock::new();

/// On-disk data with [`DATASET_SESSIONS`] live sessions whose keys are known, built once.
pub(crate) struct Dataset {
    pub(crate) dir: TempDir,
    /// Session keys as clients present them.
    pub(crate) keys: Vec<String>,
    /// `sha256(key)` for each key, in the same order.
    pub(crate) hashes: Vec<SessionHash>,
}

/// The data set, built on first use (about ten seconds).
pub(crate) fn dataset() -> &'static Dataset {
    DATASET.get_or_init(build_dataset)
}

/// Whether [`dataset`] has been built (so a filtered run does not build it just to report).
pub(crate) fn dataset_built() -> bool {
    DATASET.get().is_some()
}

/// Deletes the data set's directory. A `static` is never dropped, so its `TempDir` would leave
/// 100 MB behind on every run; call this after the last benchmark that opens it.
pub(crate) fn remove_dataset(_c: &mut criterion::Criterion) {
    if let Some(data) = DATASET.get()
        && let Err(e) = std::fs::remove_dir_all(data.dir.path())
    {
        eprintln!(
            "could not remove the data set at {:?}: {e}",
            data.dir.path()
        );
    }
}

/// Folds users and sessions straight into a `State` (a million commands through the writer
/// would take hours of fsyncs), saves it as the snapshot, then appends
/// [`DATASET_LOG_RECORDS`] one-event records after it through the store.
fn build_dataset() -> Dataset {
    let started = Instant::now();
    let dir = TempDir::new().expect("temp dir");
    let in_snapshot = DATASET_SESSIONS - DATASET_LOG_RECORDS;
    let mut state = State::new(GRACE_MS);
    let mut seq = 0;
    for user in 1..=DATASET_USERS {
        seq += 1;
        state.apply(&user_signed_up(seq, user));
    }
    let mut keys = Vec::with_capacity(DATASET_SESSIONS as usize);
    let mut hashes = Vec::with_capacity(DATASET_SESSIONS as usize);
    for i in 0..in_snapshot {
        seq += 1;
        let envelope = session_created(seq, i, DATASET_USERS);
        state.apply(&envelope);
    }
    for i in 0..DATASET_SESSIONS {
        let key = session_key(i);
        hashes.push(SessionHash(sha256(key.as_bytes())));
        keys.push(key);
    }
    let mut store = SledStore::open(dir.path(), Durability::Fsync).expect("open store");
    let bytes = state.to_snapshot();
    let snapshot_len = bytes.len();
    store
        .save_snapshot(&Snapshot {
            seq: state.last_seq(),
            bytes,
        })
        .expect("save snapshot");
    drop(state);
    for i in in_snapshot..DATASET_SESSIONS {
        seq += 1;
        let record = encode_record(&[session_created(seq, i, DATASET_USERS)]).expect("encode");
        let expected_last = store.high_water();
        store
            .append(Seq(seq), Seq(seq), expected_last, &record)
            .expect("append");
    }
    store.sync().expect("sync");
    eprintln!(
        "dataset: {DATASET_SESSIONS} sessions of {DATASET_USERS} users, snapshot {} MB \
         ({} bytes per session) + {DATASET_LOG_RECORDS} log records, {} MB on disk, \
         built in {:.1} s",
        snapshot_len / 1_000_000,
        snapshot_len as u64 / in_snapshot,
        store.size_on_disk().unwrap_or(0) / 1_000_000,
        started.elapsed().as_secs_f64()
    );
    Dataset { dir, keys, hashes }
}

/// User `user` signing up, with a made-up e-mail address and no password.
pub(crate) fn user_signed_up(seq: u64, user: u64) -> Envelope {
    Envelope {
        version: FORMAT_VERSION,
        seq: Seq(seq),
        at: T0,
        event: Event::UserSignedUp {
            user: UserId(user),
            email: format!("user{user}@example.com"),
            username: format!("user{user}"),
            password_hash: PasswordHash::unusable(),
        },
    }
}

/// User agents of the data set's sessions: a real deployment sees a few app builds on a few
/// platforms, each string long.
const USER_AGENTS: [&str; 8] = [
    "MyApp/4.12.0 (iPhone; iOS 18.1; Scale/3.00) Alamofire/5.9.1",
    "MyApp/4.12.0 (iPad; iOS 17.6.1; Scale/2.00) Alamofire/5.9.1",
    "MyApp/4.11.2 (Android 15; Pixel 8 Build/AP4A.241205.013) okhttp/4.12.0",
    "MyApp/4.12.0 (Android 14; SM-S918B Build/UP1A.231005.007) okhttp/4.12.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Dart/3.5 (dart:io)",
];

/// Session number `i`, owned by one of `users` users (round robin), with one refresh token, a
/// user agent and an IP address, created by a password login: what an HTTP login records.
pub(crate) fn session_created(seq: u64, i: u64, users: u64) -> Envelope {
    let user = 1 + i % users;
    let digest = sha256(&i.to_le_bytes());
    let mut jti = [0; 16];
    jti.copy_from_slice(&digest[..16]);
    Envelope {
        version: FORMAT_VERSION,
        seq: Seq(seq),
        at: T0,
        event: Event::SessionCreated {
            session: SessionHash(sha256(session_key(i).as_bytes())),
            user: UserId(user),
            expires_at: T0.plus_secs(SESSION_TTL_SECS),
            user_agent: Some(USER_AGENTS[(i % USER_AGENTS.len() as u64) as usize].to_owned()),
            ip: Some(format!(
                "10.{}.{}.{}",
                user >> 16 & 255,
                user >> 8 & 255,
                user & 255
            )),
            refresh: Some((Jti(jti), T0.plus_secs(REFRESH_TTL_SECS))),
            method: AuthMethod::Password,
        },
    }
}

/// A Django-shaped session key (32 characters of `[a-z0-9]`) derived from `i`.
pub(crate) fn session_key(i: u64) -> String {
    const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut seed = b"key:".to_vec();
    seed.extend_from_slice(&i.to_le_bytes());
    sha256(&seed)
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b % 36)]))
        .collect()
}

/// A fixed pseudo-random walk over `0..len`, so lookups miss the CPU caches the way real
/// traffic over a million sessions does, and every run walks the same way.
pub(crate) struct AccessOrder {
    order: Vec<u32>,
    at: usize,
}

impl AccessOrder {
    pub(crate) fn new(len: usize) -> AccessOrder {
        let mut order: Vec<u32> = (0..len as u32).collect();
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for i in (1..order.len()).rev() {
            // xorshift64: deterministic and good enough to shuffle an access order.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            order.swap(i, (x % (i as u64 + 1)) as usize);
        }
        AccessOrder { order, at: 0 }
    }

    pub(crate) fn advance(&mut self) -> usize {
        self.at = (self.at + 1) % self.order.len();
        self.order[self.at] as usize
    }
}
