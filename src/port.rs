//! Ports: many-to-one mailboxes whose single receive right belongs to one
//! owner, and whose lifetime is that owner's.

use std::fmt;
use std::sync::{Arc, Weak};

use crate::journal::OpenError;
use crate::mailbox::{DurableBuilder, MailboxBuilder, Receiver, Sender, Sink};
use crate::message::Message;

/// A many-to-one mailbox owned by its receiver.
///
/// Any number of senders, one receive right: `Port` is not `Clone`. The port
/// lives as long as its owner holds it. Dropping it destroys it: blocked and
/// later senders get `Closed` with their message back at once, and what was
/// still queued goes to dead letters (the builder's
/// [`dead_letters`](MailboxBuilder::dead_letters) sender, or the office's
/// store for ports made by a [`PostOffice`](crate::PostOffice)), or, for a
/// standalone port without one, is dropped and counted in
/// [`MailboxStats::dropped`](crate::MailboxStats::dropped).
/// [`close`](Port::close) takes the queued messages back instead.
///
/// # Examples
///
/// ```
/// use postbox::{Port, SendError};
/// use std::thread;
///
/// let (tx, port) = Port::<String>::builder().capacity(8).build();
/// let clients: Vec<_> = (0..3)
///     .map(|n| {
///         let tx = tx.clone();
///         thread::spawn(move || tx.send(format!("hello from {n}")).unwrap())
///     })
///     .collect();
/// for c in clients { c.join().unwrap(); }
/// assert_eq!(port.try_iter().count(), 3);
///
/// drop(port); // the owner is done: the port is gone
/// assert!(matches!(tx.send("late".to_string()), Err(SendError::Closed(_))));
/// ```
pub struct Port<T: Send> {
    receiver: Receiver<T>,
    /// The port's name in an office, released when the port drops.
    registration: Option<Registration>,
}

impl<T: Send> Port<T> {
    /// A builder for a port: the same settings as a mailbox (FIFO, bounded at
    /// [`DEFAULT_CAPACITY`](crate::DEFAULT_CAPACITY), until told otherwise);
    /// `build` returns a sender and the port.
    pub fn builder() -> MailboxBuilder<T, Port<T>> {
        MailboxBuilder::new()
    }

    pub(crate) fn from_parts(receiver: Receiver<T>, registration: Option<Registration>) -> Port<T> {
        Port {
            receiver,
            registration,
        }
    }

    receive_methods!(receiver, Message<T>);
    status_methods!(receiver);
    ack_methods!(receiver);

    async_receive_methods!(receiver);

    /// Closes the port and returns what was still queued, instead of sending
    /// it to dead letters when the port drops. Senders get `Closed` from now
    /// on.
    pub fn close(&self) -> Vec<Message<T>> {
        self.receiver.close()
    }

    /// The office name the port is registered under, if any.
    pub fn name(&self) -> Option<&str> {
        self.registration.as_ref().map(Registration::name)
    }

    /// The port's receiver, for [`Select`](crate::Select) and other
    /// crate-internal users.
    pub(crate) fn receiver(&self) -> &Receiver<T> {
        &self.receiver
    }
}

impl<T: Send> MailboxBuilder<T, Port<T>> {
    /// Builds the port and returns a first sender (clone it for more) and the
    /// port.
    pub fn build(self) -> (Sender<T>, Port<T>) {
        let (tx, rx) = self.build_with(Sink::Drop);
        (tx, Port::from_parts(rx, None))
    }
}

impl<T: Send> DurableBuilder<T, Port<T>> {
    /// Opens the log and builds the durable port over it: what the log
    /// held comes back (see [`DurableBuilder::open`](crate::DurableBuilder)).
    pub fn open(self) -> Result<(Sender<T>, Port<T>), OpenError> {
        let (tx, rx) = self.open_with(Sink::Drop)?;
        Ok((tx, Port::from_parts(rx, None)))
    }
}

impl<T: Send> Drop for Port<T> {
    fn drop(&mut self) {
        // The owner is done with it: the port is destroyed, not merely
        // deserted, so its leftovers are dead letters even while senders live.
        // A durable port keeps them in its log instead, for the next open:
        // a port dropped because its process stopped is not a loss.
        if !self.receiver.is_durable() {
            self.receiver.destroy();
        }
    }
}

impl<T: Send> fmt::Debug for Port<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Port")
            .field("name", &self.name())
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// A name registry that ports (and process inboxes) can be registered in:
/// the one thing a port needs of the office that named it, so that the port
/// sits below the office and never names it.
pub(crate) trait Registry: Send + Sync {
    /// Frees `name` if registration `id` still holds it.
    fn unregister(&self, name: &str, id: u64);
}

/// A name held in a registry by a port or a process; released when dropped.
pub(crate) struct Registration {
    /// Where the name is held; weak, so a port does not keep its office alive.
    registry: Weak<dyn Registry>,
    /// The name.
    name: Arc<str>,
    /// Which registration of the name this is (a name can be taken again
    /// after it was freed).
    id: u64,
}

impl Registration {
    pub(crate) fn new(registry: Weak<dyn Registry>, name: Arc<str>, id: u64) -> Registration {
        Registration { registry, name, id }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(registry) = self.registry.upgrade() {
            registry.unregister(&self.name, self.id);
        }
    }
}
