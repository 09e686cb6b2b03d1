//! What the benches share: the peer adapters ([`peers`]: every channel under
//! test behind one pair of traits, with its constructor; [`async_peers`]: the
//! same for async channels) and the harness
//! ([`harness`]: shapes, message counts, timing, criterion settings), and
//! for the durability benches ([`baselines`]) scratch directories, the
//! fixed-duration rate runner and the two hand-written log baselines.
//!
//! Each bench includes it with `mod common;`. Cargo takes no bench target
//! from `benches/common/`, which has no `main.rs`.

// Each bench uses a different part of this module.
#![allow(dead_code)]

pub(crate) mod async_peers;
pub(crate) mod baselines;
pub(crate) mod harness;
pub(crate) mod peers;
