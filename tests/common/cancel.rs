//! What the cancellation tests share: a timer that keeps cancelling the
//! futures raced against it, and a gate that makes sure it did so at least
//! once while messages were still flowing.

use std::sync::mpsc;
use std::time::Duration;

use super::TIMEOUT;

/// A timer that fires constantly, to cancel the futures raced against it
/// in a `select!`: every microsecond, missed ticks delayed rather than
/// burst (a burst of a thousand ticks per timer turn, 1 µs against the
/// driver's 1 ms, each costing more than a microsecond in a debug build on
/// a loaded machine, would never catch up, and a `biased` select would
/// never poll the other branch again).
///
/// Its first tick waits for the runtime's next timer turn (up to 1 ms):
/// a fast consumer can take every message before any tick, so a test that
/// asserts a cancellation holds its producer with [`first_cancel`].
pub(crate) fn ticker() -> tokio::time::Interval {
    let mut tick = tokio::time::interval(Duration::from_micros(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

/// A one-shot signal from the cancelling side ([`Cancelled::note`], on
/// every cancellation) to the side that feeds it ([`FirstCancel::wait`],
/// before its last step), so that at least one cancellation happens while
/// the exchange is still running, however fast the rest of it goes.
pub(crate) fn first_cancel() -> (Cancelled, FirstCancel) {
    let (tx, rx) = mpsc::sync_channel(1);
    (Cancelled(tx), FirstCancel(rx))
}

/// The cancelling side of [`first_cancel`].
pub(crate) struct Cancelled(mpsc::SyncSender<()>);

impl Cancelled {
    /// Says a cancellation happened (the first one opens the gate; the rest
    /// find the slot full or the gate gone, and change nothing).
    pub(crate) fn note(&self) {
        let _ = self.0.try_send(());
    }
}

/// The feeding side of [`first_cancel`].
pub(crate) struct FirstCancel(mpsc::Receiver<()>);

impl FirstCancel {
    /// Waits for the first cancellation; fails the test after [`TIMEOUT`]
    /// (the other side ended, or never cancelled anything).
    pub(crate) fn wait(&self) {
        self.0
            .recv_timeout(TIMEOUT)
            .expect("no cancellation within the timeout");
    }
}
