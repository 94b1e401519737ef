//! Model-based property test: random operation sequences run against the engine and a small
//! reference model (`hallpass::testing::model`), on the in-memory and the sled store. The
//! model checks every answer and the invariants after every step; failing cases shrink to
//! readable sequences and are kept under `proptest-regressions/`.

use hallpass::testing::model::{Backend, Op, Settings, run, run_with};
use proptest::prelude::*;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::SignUp),
        3 => any::<u8>().prop_map(Op::LogIn),
        6 => any::<u8>().prop_map(Op::Refresh),
        2 => (any::<u8>(), 2u8..9).prop_map(|(n, k)| Op::ConcurrentRefresh(n, k)),
        1 => any::<u8>().prop_map(Op::LogOut),
        1 => any::<u8>().prop_map(Op::RevokeAll),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(n, m)| Op::ChangePassword(n, m)),
        1 => any::<u8>().prop_map(Op::ResetPassword),
        3 => (0u32..15_000).prop_map(Op::Advance),
        1 => (0u32..4 * 3_600_000).prop_map(Op::Advance),
        1 => Just(Op::Restart),
        1 => Just(Op::Snapshot),
        1 => Just(Op::Sweep),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 1..48)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_model_in_memory(ops in ops()) {
        run(&ops, Backend::Memory);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_model_on_sled(ops in ops()) {
        run(&ops, Backend::Sled);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// With no grace window, concurrent presentations of one token in one batch: exactly one
    /// rotates (the runs above, with a window, never exercised the closed-window batch path).
    #[test]
    fn engine_matches_model_without_a_grace_window(ops in ops()) {
        run_with(&ops, Backend::Memory, Settings::NO_GRACE);
    }
}

/// A readable scenario: the seed's React Native client refreshing on concurrent 401s, a retry
/// after a restart, and a reuse after the window.
#[test]
fn scripted_scenario() {
    run(
        &[
            Op::SignUp,
            Op::LogIn(0),
            Op::ConcurrentRefresh(0, 8),
            Op::Advance(5_000),
            Op::Refresh(0),
            Op::Restart,
            Op::Refresh(0),
            Op::Refresh(1),
            Op::Advance(11_000),
            Op::Refresh(0),
            Op::Refresh(2),
            Op::LogIn(0),
            Op::Advance(4 * 3_600_000),
            Op::Sweep,
            Op::Snapshot,
            Op::Restart,
        ],
        Backend::Memory,
    );
}
