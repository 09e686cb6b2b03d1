//! The simulated studio behind `examples/job_queue.rs`: what customers ask
//! for (tier and style), the stand-ins for the AI model service (busy now and
//! then, slow for some styles, crashing on a corrupt upload), and a tiny
//! deterministic random generator. Nothing here touches a mailbox.

use std::fmt;
use std::thread;
use std::time::Duration;

use crate::{ProfileRequest, LEVELS};

/// How much the customer paid, which decides the request's priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tier {
    /// Free tier: best effort.
    Free,
    /// Paid: ahead of free requests.
    Paid,
    /// Paid and flagged urgent: ahead of everything.
    Urgent,
}

impl Tier {
    pub(crate) const ALL: [Tier; 3] = [Tier::Urgent, Tier::Paid, Tier::Free];

    /// The message priority (a higher number is more urgent).
    pub(crate) fn priority(self) -> u8 {
        match self {
            Tier::Free => 0,
            Tier::Paid => 5,
            Tier::Urgent => LEVELS - 1,
        }
    }

    /// 70% free, 20% paid, 10% urgent.
    pub(crate) fn pick(roll: u64) -> Tier {
        match roll % 10 {
            0 => Tier::Urgent,
            1 | 2 => Tier::Paid,
            _ => Tier::Free,
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Tier::Free => "free",
            Tier::Paid => "paid",
            Tier::Urgent => "urgent",
        })
    }
}

/// The look the customer asked for; some take the generator longer than others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Passport,
    Sketch,
    Anime,
    Watercolor,
    StudioPortrait,
}

impl Style {
    pub(crate) const ALL: [Style; 5] = [
        Style::Passport,
        Style::Sketch,
        Style::Anime,
        Style::Watercolor,
        Style::StudioPortrait,
    ];

    /// Simulated generation time, given the mean over all styles.
    pub(crate) fn work(self, mean_us: u64) -> Duration {
        // Weights in quarters of the mean; they average 4.
        let quarters = match self {
            Style::Passport => 1,
            Style::Sketch => 2,
            Style::Anime => 4,
            Style::Watercolor => 5,
            Style::StudioPortrait => 8,
        };
        Duration::from_micros(mean_us * quarters / 4)
    }
}

/// A tiny deterministic pseudo-random generator (xorshift64*), so the run
/// needs no dependency and is the same every time.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 16
    }
}

/// Whether the model service turns this try away (`--flaky` percent of
/// tries). Decided by the request and its try number, so that a run is
/// reproducible and a retry may succeed.
pub(crate) fn service_busy(user_id: u64, attempt: u32, flaky_pct: u64) -> bool {
    flaky_pct > 0 && Rng::new(user_id << 8 | u64::from(attempt & 0xff)).next() % 100 < flaky_pct
}

/// Stands in for the AI model: sleeps for the style's generation time (the
/// real one waits on a GPU service), and crashes on a corrupt upload.
pub(crate) fn generate_profile(request: &ProfileRequest, mean_us: u64) {
    assert!(
        !request.corrupt,
        "corrupt upload from user {}",
        request.user_id
    );
    if mean_us > 0 {
        thread::sleep(request.style.work(mean_us));
    }
}
