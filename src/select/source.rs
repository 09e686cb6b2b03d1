//! What a [`Select`](crate::Select) can wait on: the sealed [`Source`]
//! trait, and its implementation for every receiving handle.

use crate::error::TryRecvError;
use crate::mailbox::Receiver;
use crate::message::Message;
use crate::office::{Down, Monitor, Process};
use crate::port::Port;
use crate::topic::Subscriber;

use self::sealed::WatchersRef;

// Every receiving handle implements `Source` with the `source!` macro below;
// a new one needs one line there. `try_take` must never block and must report
// `Closed` only when nothing can arrive any more; anything that can make it
// succeed must ring `watchers`.

/// The crate-internal half of [`Source`]: users can neither name nor
/// implement it, so `Source` stays sealed and its methods stay ours.
pub(crate) mod sealed {
    use crate::error::TryRecvError;
    use crate::message::Message;
    use crate::signal::Watchers;

    /// What a select needs from a source.
    ///
    /// Its methods are reachable through an `S: Source` bound, so they only
    /// take and return public types: [`WatchersRef`] wraps the crate-private
    /// doorbell list without exposing it.
    pub trait Sealed<T> {
        /// Takes the next message if one is there now, never waiting; counts
        /// it as received, as `try_recv` does.
        fn try_take(&self) -> Result<Message<T>, TryRecvError>;

        /// The doorbells rung by every send that lands and every close.
        fn watchers(&self) -> WatchersRef<'_>;

        /// Whether a message can only be taken from a sender that is blocked
        /// at that moment (capacity 0).
        fn is_rendezvous(&self) -> bool;
    }

    /// A source's doorbell list, opaque outside the crate.
    #[derive(Clone, Copy, Debug)]
    pub struct WatchersRef<'a>(pub(crate) &'a Watchers);
}

/// Anything you can [`Select`](crate::Select) on: [`Receiver`], [`Port`], a topic's
/// [`Subscriber`], a [`Process`] inbox and a [`Monitor`].
///
/// The trait is sealed: it is implemented inside postbox only, because a
/// select relies on how a source announces new messages.
pub trait Source: sealed::Sealed<<Self as Source>::Item> {
    /// The body type of the messages this source delivers.
    type Item;
}

/// Implements [`Source`] for a receiving handle, given how to reach its
/// [`Receiver`] and how it takes a message without waiting.
macro_rules! source {
    (impl[$($gen:tt)*] $ty:ty, $item:ty, |$h:ident| receiver: $receiver:expr, take: $take:expr) => {
        impl<$($gen)*> sealed::Sealed<$item> for $ty {
            fn try_take(&self) -> Result<Message<$item>, TryRecvError> {
                let $h = self;
                $take
            }

            fn watchers(&self) -> WatchersRef<'_> {
                let $h = self;
                WatchersRef(Receiver::watchers($receiver))
            }

            fn is_rendezvous(&self) -> bool {
                let $h = self;
                $receiver.capacity() == Some(0)
            }
        }

        impl<$($gen)*> Source for $ty {
            type Item = $item;
        }
    };
}

source!(impl[T: Send] Receiver<T>, T, |h| receiver: h, take: h.try_recv());
source!(impl[T: Send] Port<T>, T, |h| receiver: h.receiver(), take: h.try_recv());
source!(impl[T: Send] Subscriber<T>, T, |h| receiver: h.receiver(), take: h.try_recv());
// A process takes what a selective receive set aside before its inbox.
source!(impl[T: Send + 'static] Process<T>, T, |h| receiver: h.receiver(), take: h.try_recv());
source!(impl[] Monitor, Down, |h| receiver: h.receiver(), take: h.receiver().try_recv());
