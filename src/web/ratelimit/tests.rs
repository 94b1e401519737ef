//! The rate limiter's tests.

use super::*;

const T: Timestamp = Timestamp::from_secs(1_000_000);

#[test]
fn sliding_window_allows_max_then_refuses_until_oldest_expires() {
    let rl = RateLimiter::new(true);
    for i in 0..5 {
        assert!(rl.hit(Limit::LoginFailedEmail, "a@x", T.plus_secs(i)));
    }
    assert!(rl.exhausted(Limit::LoginFailedEmail, "a@x", T.plus_secs(10)));
    assert!(!rl.hit(Limit::LoginFailedEmail, "a@x", T.plus_secs(10)));
    assert!(!rl.exhausted(Limit::LoginFailedEmail, "b@x", T));
    // The oldest leaves the window at T+300 (a hit exactly a window old no longer counts):
    // one slot, then refused again until the next one leaves.
    assert!(!rl.hit(Limit::LoginFailedEmail, "a@x", T.plus_secs(299)));
    assert!(rl.hit(Limit::LoginFailedEmail, "a@x", T.plus_secs(300)));
    assert!(!rl.hit(Limit::LoginFailedEmail, "a@x", T.plus_secs(300)));
    assert!(rl.hit(Limit::LoginFailedEmail, "a@x", T.plus_secs(301)));
}

#[test]
fn disabled_allows_everything() {
    let rl = RateLimiter::new(false);
    for _ in 0..100 {
        assert!(rl.hit(Limit::Login, "ip", T));
        let reservation = rl.reserve(Limit::LoginFailedIp, "ip", T);
        rl.release(reservation.expect("disabled limiters always reserve"));
    }
    assert!(!rl.exhausted(Limit::Login, "ip", T));
    assert_eq!(rl.tracked_keys(), 0);
}

#[test]
fn memory_is_bounded_by_pruning() {
    // 10,000 expired keys are swept out by later hits on other keys, two entries per hit,
    // without any hit walking a shard.
    let rl = RateLimiter::new(true);
    for i in 0..10_000 {
        assert!(rl.hit(Limit::Login, &i.to_string(), T));
    }
    assert_eq!(rl.tracked_keys(), 10_000);
    let late = T.plus_secs(61);
    for _ in 0..2 {
        for i in 0..10_000 {
            assert!(rl.hit(Limit::Login, &format!("late{i}"), late));
        }
    }
    // The second round adds no key, and its sweeps finish every shard's cycle.
    assert_eq!(rl.tracked_keys(), 10_000);
    assert!(!rl.exhausted(Limit::Login, "0", late));
}

#[test]
fn expired_keys_are_swept_incrementally() {
    let mut shard = Shard::default();
    let key = |i: u64| Fingerprint { index: i, shard: 0 };
    for i in 0..1_000 {
        assert!(shard.record(key(i), Limit::Login, T, 10_000).is_some());
    }
    let late = T.plus_secs(61);
    shard.sweep(late);
    assert_eq!(shard.expiries.len(), 998, "one sweep inspects two keys");
    for _ in 0..499 {
        shard.sweep(late);
    }
    assert!(shard.expiries.is_empty());
    assert!(shard.windows.is_empty());
    // Live entries are skipped, not removed.
    for i in 0..10 {
        assert!(shard.record(key(i), Limit::Login, late, 10_000).is_some());
    }
    for _ in 0..20 {
        shard.sweep(late.plus_secs(59));
    }
    assert_eq!(shard.expiries.len(), 10);
}

#[test]
fn a_full_shard_evicts_to_admit_a_new_key() {
    let mut shard = Shard::default();
    let key = |i: u64| Fingerprint { index: i, shard: 0 };
    for i in 0..100 {
        assert!(shard.record(key(i), Limit::Login, T, 10).is_some());
        assert!(shard.expiries.len() <= 10);
        assert_eq!(shard.windows.len(), shard.expiries.len());
    }
    for (slot, expiry) in shard.expiries.iter().enumerate() {
        assert_eq!(shard.windows[&expiry.fingerprint].slot, slot);
    }
}

#[test]
fn two_hundred_thousand_keys_stay_within_the_cap() {
    let cap = 10_000;
    let rl = RateLimiter::with_limits(true, 64, cap);
    for i in 0..200_000u32 {
        let ip = IpAddr::from(i.to_be_bytes());
        assert!(rl.hit(Limit::Login, ip, T), "a new key is always allowed");
        if i % 10_000 == 0 {
            assert!(rl.tracked_keys() <= cap);
        }
    }
    // Every shard filled up (200k keys over 32 shards of 312), none past it.
    assert_eq!(rl.tracked_keys(), cap / SHARDS * SHARDS);
}

#[test]
fn eviction_forgives_the_evicted_keys() {
    let cap = 1_000;
    let rl = RateLimiter::with_limits(true, 64, cap);
    let email = |i: usize| format!("{i}@example.com");
    for i in 0..20_000 {
        for _ in 0..5 {
            assert!(rl.hit(Limit::LoginFailedEmail, &email(i), T));
        }
        assert!(!rl.hit(Limit::LoginFailedEmail, &email(i), T));
    }
    assert!(rl.tracked_keys() <= cap);
    // At most `cap` keys are remembered, so most of the first thousand were forgotten.
    let remembered = (0..1_000)
        .filter(|i| rl.exhausted(Limit::LoginFailedEmail, &email(*i), T))
        .count();
    assert!(remembered < 1_000, "{remembered}");
}

#[test]
fn the_default_cap_holds_two_hundred_thousand_live_keys() {
    let rl = RateLimiter::new(true);
    for i in 0..200_000u32 {
        assert!(rl.hit(Limit::Login, IpAddr::from(i.to_be_bytes()), T));
    }
    assert_eq!(rl.tracked_keys(), 200_000);
    // None was evicted: each is still counted.
    let probe = IpAddr::from(123_456u32.to_be_bytes());
    for _ in 1..30 {
        assert!(rl.hit(Limit::Login, probe, T));
    }
    assert!(!rl.hit(Limit::Login, probe, T));
}

#[test]
fn ipv6_clients_share_a_limit_per_64() {
    let rl = RateLimiter::new(true);
    let ip = |text: &str| -> IpAddr { text.parse().expect("test address") };
    for i in 0..30 {
        let same_64 = ip(&format!("2001:db8:1:2:{i:x}::{i:x}"));
        assert!(rl.hit(Limit::Login, same_64, T));
    }
    assert!(!rl.hit(Limit::Login, ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), T));
    assert!(
        rl.hit(Limit::Login, ip("2001:db8:1:3::1"), T),
        "another /64"
    );
    assert!(rl.hit(Limit::Login, ip("2001:db8:1:2::1"), T.plus_secs(60)));
}

#[test]
fn the_ipv6_prefix_is_configurable() {
    let rl = RateLimiter::with_limits(true, 48, DEFAULT_MAX_KEYS);
    let ip = |text: &str| -> IpAddr { text.parse().expect("test address") };
    for i in 0..30 {
        assert!(rl.hit(Limit::Login, ip(&format!("2001:db8:1:{i:x}::1")), T));
    }
    assert!(!rl.hit(Limit::Login, ip("2001:db8:1:ffff::1"), T));
    assert!(rl.hit(Limit::Login, ip("2001:db8:2::1"), T), "another /48");
    // /128: every address on its own.
    let rl = RateLimiter::with_limits(true, 128, DEFAULT_MAX_KEYS);
    for _ in 0..30 {
        assert!(rl.hit(Limit::Login, ip("2001:db8::1"), T));
    }
    assert!(!rl.hit(Limit::Login, ip("2001:db8::1"), T));
    assert!(rl.hit(Limit::Login, ip("2001:db8::2"), T));
}

#[test]
fn mask_address_keeps_ipv4_and_unmaps_ipv4_mapped() {
    let ip = |text: &str| -> IpAddr { text.parse().expect("test address") };
    assert_eq!(mask_address(ip("192.0.2.7"), 64), ip("192.0.2.7"));
    assert_eq!(mask_address(ip("192.0.2.7"), 0), ip("192.0.2.7"));
    assert_eq!(mask_address(ip("::ffff:192.0.2.7"), 64), ip("192.0.2.7"));
    assert_eq!(
        mask_address(ip("2001:db8:1:2:3:4:5:6"), 64),
        ip("2001:db8:1:2::")
    );
    assert_eq!(
        mask_address(ip("2001:db8:1:2:3:4:5:6"), 56),
        ip("2001:db8:1::")
    );
    assert_eq!(mask_address(ip("2001:db8:1:2:3:4:5:6"), 0), ip("::"));
    assert_eq!(
        mask_address(ip("2001:db8:1:2:3:4:5:6"), 128),
        ip("2001:db8:1:2:3:4:5:6")
    );
    assert_eq!(
        mask_address(ip("2001:db8:1:2:3:4:5:6"), 200),
        ip("2001:db8:1:2:3:4:5:6")
    );
    // Loopback and the IPv4-compatible (deprecated, not mapped) form are plain IPv6.
    assert_eq!(mask_address(ip("::1"), 64), ip("::"));
    assert_eq!(mask_address(ip("::192.0.2.7"), 64), ip("::"));
}

#[test]
fn ipv4_mapped_clients_share_the_ipv4_window_and_not_each_other() {
    let rl = RateLimiter::new(true);
    let ip = |text: &str| -> IpAddr { text.parse().expect("test address") };
    for _ in 0..15 {
        assert!(rl.hit(Limit::Login, ip("192.0.2.7"), T));
        assert!(rl.hit(Limit::Login, ip("::ffff:192.0.2.7"), T));
    }
    assert!(!rl.hit(Limit::Login, ip("192.0.2.7"), T));
    // Another IPv4 client behind the same dual-stack socket is not in that window (at /64
    // allauth would put all of ::ffff:0:0/96 in one).
    assert!(rl.hit(Limit::Login, ip("::ffff:192.0.2.8"), T));
}

#[test]
fn addresses_and_text_keys_and_limits_are_separate_windows() {
    let rl = RateLimiter::new(true);
    let ip: IpAddr = "192.0.2.7".parse().expect("test address");
    for _ in 0..10 {
        assert!(rl.hit(Limit::LoginFailedIp, ip, T));
    }
    assert!(!rl.hit(Limit::LoginFailedIp, ip, T));
    assert!(rl.hit(Limit::LoginFailedIp, "192.0.2.7", T));
    assert!(rl.hit(Limit::Login, ip, T));
    for _ in 0..10 {
        assert!(rl.hit(Limit::LoginFailedIp, None, T));
    }
    assert!(
        !rl.hit(Limit::LoginFailedIp, None, T),
        "unknown clients share one"
    );
    assert!(rl.hit(Limit::LoginFailedIp, "unknown", T));
}

#[test]
fn reservations_are_exact_and_can_be_given_back() {
    let rl = RateLimiter::new(true);
    let held: Vec<Reservation> = (0..5)
        .map(|_| {
            rl.reserve(Limit::LoginFailedEmail, "a@x", T)
                .expect("under the limit")
        })
        .collect();
    assert!(rl.reserve(Limit::LoginFailedEmail, "a@x", T).is_none());
    let mut held = held.into_iter();
    rl.release(held.next().expect("five held"));
    let again = rl.reserve(Limit::LoginFailedEmail, "a@x", T.plus_secs(1));
    assert!(again.is_some());
    assert!(
        rl.reserve(Limit::LoginFailedEmail, "a@x", T.plus_secs(1))
            .is_none()
    );
    // Giving all back forgets the key.
    for reservation in held.chain(again) {
        rl.release(reservation);
    }
    assert_eq!(rl.tracked_keys(), 0);
    // A reservation outliving its key's clear gives nothing back, not even a later hit at
    // the same time.
    let stale = rl
        .reserve(Limit::LoginFailedEmail, "a@x", T)
        .expect("fresh");
    rl.clear(Limit::LoginFailedEmail, "a@x");
    for _ in 0..5 {
        assert!(rl.hit(Limit::LoginFailedEmail, "a@x", T));
    }
    rl.release(stale);
    assert!(rl.exhausted(Limit::LoginFailedEmail, "a@x", T));
    assert_eq!(rl.tracked_keys(), 1);
}

#[test]
fn concurrent_reservations_never_exceed_the_limit() {
    let rl = RateLimiter::new(true);
    let granted = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..100 {
                    if let Some(reservation) = rl.reserve(Limit::LoginFailedEmail, "a@x", T) {
                        granted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        drop(reservation);
                    }
                }
            });
        }
    });
    assert_eq!(granted.into_inner(), 5);
}

#[test]
fn hits_recorded_out_of_order_expire_in_order() {
    let rl = RateLimiter::new(true);
    assert!(rl.hit(Limit::LoginFailedIp, "k", T.plus_secs(2)));
    assert!(rl.hit(Limit::LoginFailedIp, "k", T));
    for _ in 0..8 {
        assert!(rl.hit(Limit::LoginFailedIp, "k", T.plus_secs(3)));
    }
    assert!(rl.exhausted(Limit::LoginFailedIp, "k", T.plus_secs(3)));
    // The hit at T leaves first, though it was recorded second.
    assert!(!rl.exhausted(Limit::LoginFailedIp, "k", T.plus_secs(60)));
    assert!(rl.hit(Limit::LoginFailedIp, "k", T.plus_secs(60)));
    assert!(!rl.hit(Limit::LoginFailedIp, "k", T.plus_secs(61)));
    assert!(rl.hit(Limit::LoginFailedIp, "k", T.plus_secs(62)));
}

#[test]
fn clear_forgets_a_key() {
    let rl = RateLimiter::new(true);
    for _ in 0..5 {
        assert!(rl.hit(Limit::LoginFailedEmail, "a@x", T));
    }
    rl.clear(Limit::LoginFailedEmail, "a@x");
    assert!(!rl.exhausted(Limit::LoginFailedEmail, "a@x", T));
    assert_eq!(rl.tracked_keys(), 0);
}
