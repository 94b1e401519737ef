//! JWT sign/verify cost per algorithm, against plain `jsonwebtoken::encode`/`decode` in the
//! same run, plus the verified-token cache hit and the `sid` cipher.
//!
//! `cargo bench --bench jwt`; keep it short on the shared machine (20 samples, 2 s each).
//! Keys are the test-only fixtures in tests/fixtures/keys.
//!
//! Before criterion runs, an interleaved A/B pass prints hallpass/jsonwebtoken time ratios to
//! stderr: the two sides alternate in short blocks and the median block ratio is reported, so
//! load from other processes on a shared machine hits both sides alike (criterion measures
//! one function after the other, and its absolute times drift with the machine's load).

#![expect(
    clippy::expect_used,
    reason = "a bench on fixed fixtures aborts on any failure"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use hallpass::testing::VerifiedCache;
use hallpass::{
    Algorithm, Claims, Clock, JwtCodec, KeySet, SessionHash, SidCipher, SystemClock, TokenUse,
};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/keys/",
            $name
        ))
    };
}

const SECRET: &[u8] = b"django-insecure-bench-secret-0123456789abcdefghij";

/// The same six claims as hallpass writes, for the plain jsonwebtoken baseline.
#[derive(Serialize, Deserialize)]
struct PlainClaims {
    iat: i64,
    exp: i64,
    sid: String,
    jti: String,
    token_use: String,
    sub: String,
}

/// The algorithms compared (allauth's documented ones plus ES256 and EdDSA).
const ALGORITHMS: [Algorithm; 6] = [
    Algorithm::HS256,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS512,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// One algorithm's keys and inputs, for hallpass and for the jsonwebtoken baseline.
struct Setup {
    codec: JwtCodec,
    claims: Claims,
    encoding: EncodingKey,
    decoding: DecodingKey,
    header: Header,
    validation: Validation,
    plain_claims: PlainClaims,
}

fn setup(alg: Algorithm, now: i64) -> Setup {
    let (keys, encoding, decoding) = match alg {
        Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 => (
            KeySet::from_private_pem(alg, fixture!("rsa.pem")),
            EncodingKey::from_rsa_pem(fixture!("rsa.pem")),
            DecodingKey::from_rsa_pem(fixture!("rsa.pub.pem")),
        ),
        Algorithm::ES256 => (
            KeySet::from_private_pem(alg, fixture!("ec.pem")),
            EncodingKey::from_ec_pem(fixture!("ec.pem")),
            DecodingKey::from_ec_pem(fixture!("ec.pub.pem")),
        ),
        Algorithm::EdDSA => (
            KeySet::from_private_pem(alg, fixture!("ed25519.pem")),
            EncodingKey::from_ed_pem(fixture!("ed25519.pem")),
            DecodingKey::from_ed_pem(fixture!("ed25519.pub.pem")),
        ),
        _ => (
            KeySet::from_secret(alg, SECRET),
            EncodingKey::from_secret(SECRET),
            DecodingKey::from_secret(SECRET),
        ),
    };
    let codec = JwtCodec::new(keys.expect("fixture key"));
    let mut header = Header::new(alg.to_string().parse().expect("same names"));
    header.kid = codec.keys().signing_kid().map(str::to_owned);
    let mut validation = Validation::new(header.alg);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "iat", "sub"]);
    let claims = claims(now);
    Setup {
        plain_claims: plain(&claims),
        codec,
        claims,
        encoding: encoding.expect("fixture key"),
        decoding: decoding.expect("fixture key"),
        header,
        validation,
    }
}

fn claims(now: i64) -> Claims {
    let sid = SidCipher::from_secret_key(SECRET).encrypt("k3j4h5g6j7h8k9l0m1n2o3p4q5r6s7t8");
    Claims {
        sub: "12345".into(),
        iat: now,
        exp: now + 3600,
        jti: uuid::Uuid::new_v4().to_string(),
        sid,
        token_use: TokenUse::Access,
    }
}

fn plain(claims: &Claims) -> PlainClaims {
    PlainClaims {
        iat: claims.iat,
        exp: claims.exp,
        sid: claims.sid.clone(),
        jti: claims.jti.clone(),
        token_use: "access".into(),
        sub: claims.sub.clone(),
    }
}

fn sign_and_verify(c: &mut Criterion) {
    let now = SystemClock.now().as_secs();
    for alg in ALGORITHMS {
        let s = setup(alg, now);
        let (claims, plain_claims, header, validation) =
            (&s.claims, &s.plain_claims, &s.header, &s.validation);

        let ours = s.codec.sign(claims, None).expect("sign");
        let theirs = jsonwebtoken::encode(header, plain_claims, &s.encoding).expect("encode");
        // Each side must accept the other's token, or the comparison means nothing.
        s.codec
            .verify(&theirs, TokenUse::Access, now)
            .expect("ours verifies theirs");
        jsonwebtoken::decode::<PlainClaims>(&ours, &s.decoding, validation).expect("decode");

        let mut group = c.benchmark_group(format!("jwt/{alg}"));
        group.bench_function("hallpass_sign", |b| {
            b.iter(|| s.codec.sign(black_box(claims), None).expect("sign"))
        });
        group.bench_function("jsonwebtoken_encode", |b| {
            b.iter(|| jsonwebtoken::encode(header, black_box(plain_claims), &s.encoding))
        });
        group.bench_function("hallpass_verify", |b| {
            b.iter(|| {
                s.codec
                    .verify(black_box(&ours), TokenUse::Access, now)
                    .expect("verify")
            })
        });
        group.bench_function("jsonwebtoken_decode", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<PlainClaims>(black_box(&ours), &s.decoding, validation)
                    .expect("decode")
            })
        });
        group.finish();
    }
}

/// Median over rounds of time(ours) / time(theirs), each round timing a block of each side
/// (alternating which goes first), blocks sized to about 2 ms.
fn ab_ratio(mut ours: impl FnMut(), mut theirs: impl FnMut()) -> f64 {
    let start = Instant::now();
    ours();
    theirs();
    let once = start.elapsed().as_secs_f64() / 2.0;
    let block = ((0.002 / once) as usize).clamp(1, 10_000);
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..block {
            f();
        }
        start.elapsed().as_secs_f64()
    };
    let mut ratios: Vec<f64> = (0..31)
        .map(|round| {
            if round % 2 == 0 {
                let a = time(&mut ours);
                a / time(&mut theirs)
            } else {
                let b = time(&mut theirs);
                time(&mut ours) / b
            }
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

/// Prints the interleaved hallpass/jsonwebtoken ratios (1.00 = same cost, < 1 = we are faster).
fn ab_summary() {
    let now = SystemClock.now().as_secs();
    eprintln!("interleaved A/B, median time ratio hallpass / jsonwebtoken:");
    for alg in ALGORITHMS {
        let s = setup(alg, now);
        let (claims, plain_claims, header, validation) =
            (&s.claims, &s.plain_claims, &s.header, &s.validation);
        let token = s.codec.sign(claims, None).expect("sign");
        let sign = ab_ratio(
            || {
                black_box(s.codec.sign(black_box(claims), None).expect("sign"));
            },
            || {
                black_box(jsonwebtoken::encode(
                    header,
                    black_box(plain_claims),
                    &s.encoding,
                ))
                .expect("encode");
            },
        );
        let verify = ab_ratio(
            || {
                black_box(s.codec.verify(black_box(&token), TokenUse::Access, now))
                    .expect("verify");
            },
            || {
                black_box(jsonwebtoken::decode::<PlainClaims>(
                    black_box(&token),
                    &s.decoding,
                    validation,
                ))
                .expect("decode");
            },
        );
        eprintln!("  {alg:<6} sign {sign:.2}  verify {verify:.2}");
    }
}

fn cache_and_sid(c: &mut Criterion) {
    let now = SystemClock.now().as_secs();
    let s = setup(Algorithm::RS256, now);
    let cache = VerifiedCache::default();
    let token = s.codec.sign(&claims(now), None).expect("sign");
    // Fill the cache so the hit is not on an empty map; insert does not check signatures, so
    // same-length variants of one token stand in for 10k signed ones.
    for i in 0..10_000 {
        let other = format!("{}{i:05}", &token[..token.len() - 5]);
        cache.insert(&other, claims(now), SessionHash([0; 32]));
    }
    let verified = s
        .codec
        .verify(&token, TokenUse::Access, now)
        .expect("verify");
    cache.insert(&token, verified, SessionHash([0; 32]));
    let mut group = c.benchmark_group("cache");
    group.bench_function(format!("hit_rs256_{}_bytes", token.len()), |b| {
        b.iter(|| cache.get(black_box(&token), now).expect("hit"))
    });
    group.bench_function("miss_rs256", |b| {
        let other = format!("{}x", &token[..token.len() - 1]);
        b.iter(|| cache.get(black_box(&other), now))
    });
    group.finish();

    let cipher = SidCipher::from_secret_key(SECRET);
    let sid = cipher.encrypt("k3j4h5g6j7h8k9l0m1n2o3p4q5r6s7t8");
    let mut group = c.benchmark_group("sid");
    group.bench_function("encrypt", |b| {
        b.iter(|| cipher.encrypt(black_box("k3j4h5g6j7h8k9l0m1n2o3p4q5r6s7t8")))
    });
    group.bench_function("decrypt", |b| b.iter(|| cipher.decrypt(black_box(&sid))));
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = sign_and_verify, cache_and_sid
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not and only smoke-tests.
    if std::env::args().any(|arg| arg == "--bench") {
        ab_summary();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
