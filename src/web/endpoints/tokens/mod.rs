//! `tokens/…`: the JWT strategy's token exchange.

pub(super) mod refresh;
