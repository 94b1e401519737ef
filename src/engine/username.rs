//! Usernames made unique: the writer's choice when a user signs up, decided against the state
//! and the batch being planned, so two concurrent sign-ups never get the same name.

/// Django's `max_length` of `User.username`.
pub(crate) const MAX_USERNAME_CHARS: usize = 150;

/// allauth's last-resort username.
pub(crate) const FALLBACK_USERNAME: &str = "user";

/// Highest number tried as a sequential suffix.
const MAX_SEQUENTIAL_SUFFIX: u32 = 9999;

/// Random suffixes tried once the sequential ones are exhausted.
const RANDOM_SUFFIX_ATTEMPTS: u32 = 16;

/// The first of `base`, `base2`, `base3`, ... for which `taken` is false, at most
/// [`MAX_USERNAME_CHARS`] characters long.
///
/// When appending the number would exceed the limit, `base` is cut to make room (`aaa…a2`). An
/// empty `base` is treated as `user`. `taken` should compare case-insensitively, as allauth does.
///
/// The search is bounded: after `base9999` it tries a few random 12-digit suffixes, then
/// returns the last of them unchecked (one chance in 10^12 of a clash, with at least ten
/// thousand names sharing this base). The store must still refuse a duplicate on insert.
///
/// allauth draws random suffixes from the start; sequential numbers are easier to read and
/// keep the choice a pure function of `taken`.
pub(crate) fn unique_username(base: &str, taken: impl Fn(&str) -> bool) -> String {
    let base = if base.is_empty() {
        FALLBACK_USERNAME
    } else {
        base
    };
    let mut candidate = truncate_chars(base, MAX_USERNAME_CHARS).to_owned();
    if !taken(&candidate) {
        return candidate;
    }
    for n in 2..=MAX_SEQUENTIAL_SUFFIX {
        candidate = with_suffix(base, &n.to_string());
        if !taken(&candidate) {
            return candidate;
        }
    }
    for _ in 0..RANDOM_SUFFIX_ATTEMPTS {
        let n = u64::from_le_bytes(crate::crypto::random_bytes::<8>()) % 1_000_000_000_000;
        candidate = with_suffix(base, &format!("{n:012}"));
        if !taken(&candidate) {
            break;
        }
    }
    candidate
}

/// `base` cut so that `base + suffix` fits in [`MAX_USERNAME_CHARS`], then `suffix` appended.
fn with_suffix(base: &str, suffix: &str) -> String {
    let room = MAX_USERNAME_CHARS.saturating_sub(suffix.chars().count());
    let mut out = truncate_chars(base, room).to_owned();
    out.push_str(suffix);
    out
}

/// The longest prefix of `s` with at most `max` characters.
pub(crate) fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn unique_username_counts_up() {
        let taken: HashSet<&str> = ["john", "john2", "john3"].into();
        assert_eq!(unique_username("john", |c| taken.contains(c)), "john4");
        assert_eq!(unique_username("jane", |c| taken.contains(c)), "jane");
        assert_eq!(unique_username("", |_| false), "user");
    }

    #[test]
    fn unique_username_stays_within_150() {
        let base = "y".repeat(150);
        let taken = |c: &str| c == base;
        let name = unique_username(&base, taken);
        assert_eq!(name, format!("{}2", "y".repeat(149)));
        let long = "z".repeat(400);
        assert_eq!(unique_username(&long, |_| false), "z".repeat(150));
        let name = unique_username(&long, |c| !c.ends_with("77"));
        assert_eq!(name, format!("{}77", "z".repeat(148)));
    }

    #[test]
    fn unique_username_is_bounded_when_everything_is_taken() {
        let calls = Cell::new(0u32);
        let name = unique_username("bob", |_| {
            calls.set(calls.get() + 1);
            true
        });
        assert_eq!(calls.get(), MAX_SEQUENTIAL_SUFFIX + RANDOM_SUFFIX_ATTEMPTS);
        assert!(name.starts_with("bob") && name.len() == 3 + 12, "{name}");
        assert!(name[3..].bytes().all(|b| b.is_ascii_digit()));
        // Random fallback kicks in after the sequential range and is then accepted.
        let name = unique_username("bob", |c| c.len() < 3 + 12);
        assert_eq!(name.len(), 15);
    }
}
