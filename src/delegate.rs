//! Receiving handles that wrap a [`Receiver`](crate::Receiver) (ports, topic
//! subscribers, monitors) share its methods through these macros rather than
//! through `Deref`, which would also hand out `clone()` and with it a second
//! receive right.

/// The receiving methods, delegated to the `Receiver` at `self.$field`.
macro_rules! receive_methods {
    ($field:ident, $item:ty) => {
        /// Receives, waiting as long as it takes. Fails only once the source
        /// is closed and empty.
        #[inline(always)]
        pub fn recv(&self) -> Result<$item, $crate::RecvError> {
            self.$field.recv()
        }

        /// Receives if a message is queued now, never waiting.
        #[inline]
        pub fn try_recv(&self) -> Result<$item, $crate::TryRecvError> {
            self.$field.try_recv()
        }

        /// Receives, waiting at most `timeout`.
        pub fn recv_timeout(
            &self,
            timeout: std::time::Duration,
        ) -> Result<$item, $crate::RecvTimeoutError> {
            self.$field.recv_timeout(timeout)
        }

        /// Receives, waiting until `deadline` at the latest.
        pub fn recv_deadline(
            &self,
            deadline: std::time::Instant,
        ) -> Result<$item, $crate::RecvTimeoutError> {
            self.$field.recv_deadline(deadline)
        }

        /// Receives with the wait chosen for this call.
        pub fn recv_with(&self, wait: $crate::Wait) -> Result<$item, $crate::RecvTimeoutError> {
            self.$field.recv_with(wait)
        }

        /// A blocking iterator: yields messages until the source is closed and
        /// empty.
        pub fn iter(&self) -> $crate::Iter<'_, T> {
            self.$field.iter()
        }

        /// A non-blocking iterator: yields the messages queued now, then stops.
        pub fn try_iter(&self) -> $crate::TryIter<'_, T> {
            self.$field.try_iter()
        }

        /// Receives up to `max` messages at once into `buf`: waits for the
        /// first, then takes what is queued now (see
        /// [`Receiver::recv_many`](crate::Receiver::recv_many)). Returns
        /// how many; `max` 0 returns `Ok(0)` at once. Fails only once the
        /// source is closed and empty.
        pub fn recv_many(
            &self,
            buf: &mut Vec<$item>,
            max: usize,
        ) -> Result<usize, $crate::RecvError> {
            self.$field.recv_many(buf, max)
        }

        /// Receives up to `max` messages at once into `buf` if any is
        /// queued now, never waiting: `Empty` or `Closed` otherwise.
        pub fn try_recv_many(
            &self,
            buf: &mut Vec<$item>,
            max: usize,
        ) -> Result<usize, $crate::TryRecvError> {
            self.$field.try_recv_many(buf, max)
        }

        /// Receives up to `max` messages at once into `buf`, waiting at
        /// most `timeout` for the first.
        pub fn recv_many_timeout(
            &self,
            buf: &mut Vec<$item>,
            max: usize,
            timeout: std::time::Duration,
        ) -> Result<usize, $crate::RecvTimeoutError> {
            self.$field.recv_many_timeout(buf, max, timeout)
        }
    };
}

/// The state queries, delegated to the `Receiver` at `self.$field`.
macro_rules! status_methods {
    ($field:ident) => {
        /// How many messages are queued.
        pub fn len(&self) -> usize {
            self.$field.len()
        }

        /// Whether no message is queued.
        pub fn is_empty(&self) -> bool {
            self.$field.is_empty()
        }

        /// Whether a bounded queue is at capacity (never for unbounded).
        pub fn is_full(&self) -> bool {
            self.$field.is_full()
        }

        /// The most messages the queue holds, or `None` if unbounded.
        pub fn capacity(&self) -> Option<usize> {
            self.$field.capacity()
        }

        /// Whether the queue is closed. Queued messages can still be received.
        pub fn is_closed(&self) -> bool {
            self.$field.is_closed()
        }

        /// Why the queue was closed, `None` while it is open (see
        /// [`ClosedReason`](crate::ClosedReason)).
        pub fn closed_reason(&self) -> Option<$crate::ClosedReason> {
            self.$field.closed_reason()
        }

        /// The queue's counters.
        pub fn stats(&self) -> $crate::MailboxStats {
            self.$field.stats()
        }
    };
}

/// The acknowledged receives and the prefetch limit, delegated to the
/// `Receiver` at `self.$field` (see [`Receiver::recv_ack`](crate::Receiver::recv_ack)).
macro_rules! ack_methods {
    ($field:ident) => {
        /// Receives with acknowledgement, waiting as long as it takes (see
        /// [`Receiver::recv_ack`](crate::Receiver::recv_ack)): answer the
        /// [`Delivery`](crate::Delivery) with `ack`, `nack` or `reject`;
        /// dropped unanswered, it is requeued. Fails only once the source is
        /// closed and empty.
        #[inline]
        pub fn recv_ack(&self) -> Result<$crate::Delivery<'_, T>, $crate::RecvError>
        where
            T: 'static,
        {
            self.$field.recv_ack()
        }

        /// Receives with acknowledgement if a message and a prefetch slot are
        /// there now, never waiting: `PrefetchFull`, `Empty` or `Closed`
        /// otherwise (see
        /// [`Receiver::try_recv_ack`](crate::Receiver::try_recv_ack)).
        pub fn try_recv_ack(&self) -> Result<$crate::Delivery<'_, T>, $crate::TryRecvAckError>
        where
            T: 'static,
        {
            self.$field.try_recv_ack()
        }

        /// Receives with acknowledgement, waiting at most `timeout` for a
        /// prefetch slot and a message: `Timeout` if they did not come,
        /// `Closed` once the source is closed and empty.
        pub fn recv_ack_timeout(
            &self,
            timeout: std::time::Duration,
        ) -> Result<$crate::Delivery<'_, T>, $crate::RecvTimeoutError>
        where
            T: 'static,
        {
            self.$field.recv_ack_timeout(timeout)
        }

        /// Receives with acknowledgement, waiting until `deadline` for a
        /// prefetch slot and a message: `Timeout` if they did not come,
        /// `Closed` once the source is closed and empty.
        pub fn recv_ack_deadline(
            &self,
            deadline: std::time::Instant,
        ) -> Result<$crate::Delivery<'_, T>, $crate::RecvTimeoutError>
        where
            T: 'static,
        {
            self.$field.recv_ack_deadline(deadline)
        }

        /// Receives with acknowledgement with the wait chosen for this call
        /// (a non-blocking wait that finds nothing fails with `Timeout`).
        pub fn recv_ack_with(
            &self,
            wait: $crate::Wait,
        ) -> Result<$crate::Delivery<'_, T>, $crate::RecvTimeoutError>
        where
            T: 'static,
        {
            self.$field.recv_ack_with(wait)
        }

        /// Receives up to `max` messages at once with acknowledgement, one
        /// [`Delivery`](crate::Delivery) each, within the prefetch limit
        /// (see [`Receiver::recv_ack_many`](crate::Receiver::recv_ack_many)):
        /// waits for the first, then takes what is queued now. Fails only
        /// once the source is closed and empty.
        pub fn recv_ack_many<'a>(
            &'a self,
            buf: &mut Vec<$crate::Delivery<'a, T>>,
            max: usize,
        ) -> Result<usize, $crate::RecvError>
        where
            T: 'static,
        {
            self.$field.recv_ack_many(buf, max)
        }

        /// Receives up to `max` messages at once with acknowledgement if a
        /// message and a prefetch slot are there now, never waiting:
        /// `PrefetchFull`, `Empty` or `Closed` otherwise.
        pub fn try_recv_ack_many<'a>(
            &'a self,
            buf: &mut Vec<$crate::Delivery<'a, T>>,
            max: usize,
        ) -> Result<usize, $crate::TryRecvAckError>
        where
            T: 'static,
        {
            self.$field.try_recv_ack_many(buf, max)
        }

        /// Receives up to `max` messages at once with acknowledgement,
        /// waiting at most `timeout` for the first and its prefetch slot.
        pub fn recv_ack_many_timeout<'a>(
            &'a self,
            buf: &mut Vec<$crate::Delivery<'a, T>>,
            max: usize,
            timeout: std::time::Duration,
        ) -> Result<usize, $crate::RecvTimeoutError>
        where
            T: 'static,
        {
            self.$field.recv_ack_many_timeout(buf, max, timeout)
        }

        /// Limits this handle to `n` unanswered deliveries at a time
        /// (RabbitMQ's prefetch count); `0`: no limit.
        #[must_use]
        pub fn with_prefetch(self, n: usize) -> Self {
            self.$field.set_prefetch(n);
            self
        }

        /// This handle's prefetch limit, `None` if it has none.
        pub fn prefetch(&self) -> Option<usize> {
            self.$field.prefetch()
        }

        /// How many deliveries this handle has handed out and not seen
        /// answered.
        pub fn unacked(&self) -> u64 {
            self.$field.unacked()
        }
    };
}

/// The async receiving methods, delegated to the `Receiver` at `self.$field`
/// (its docs have the examples; everything said there holds here).
macro_rules! async_receive_methods {
    ($field:ident) => {
        /// Receives without blocking a thread: the async form of `recv`
        /// (see [`Receiver::recv_async`](crate::Receiver::recv_async)).
        /// Fails only once the source is closed and empty.
        ///
        /// **Cancel-safe.** A message leaves the queue only in the poll
        /// that returns it; a dropped future leaves the queue as it was and
        /// passes a wake-up it had received to another waiting task.
        pub fn recv_async(&self) -> $crate::Recv<'_, T> {
            self.$field.recv_async()
        }

        /// Receives with acknowledgement without blocking a thread: the
        /// async form of `recv_ack` (see
        /// [`Receiver::recv_ack_async`](crate::Receiver::recv_ack_async)).
        ///
        /// **Cancel-safe, and leaves no trace:** a future dropped before it
        /// returned took no message and no prefetch slot, counted no
        /// redelivery, and changed no order.
        pub fn recv_ack_async(&self) -> $crate::RecvAck<'_, T>
        where
            T: 'static,
        {
            self.$field.recv_ack_async()
        }

        /// Receives up to `max` messages at once without blocking a thread:
        /// the async form of `recv_many` (see
        /// [`Receiver::recv_many_async`](crate::Receiver::recv_many_async)).
        /// Cancel-safe: a future dropped before it returned took nothing.
        pub fn recv_many_async<'a>(
            &'a self,
            buf: &'a mut Vec<$crate::Message<T>>,
            max: usize,
        ) -> $crate::RecvMany<'a, T> {
            self.$field.recv_many_async(buf, max)
        }

        /// Receives up to `max` messages at once with acknowledgement
        /// without blocking a thread: the async form of `recv_ack_many` (see
        /// [`Receiver::recv_ack_many_async`](crate::Receiver::recv_ack_many_async)).
        /// Cancel-safe, and leaves no trace.
        pub fn recv_ack_many_async<'a, 'b>(
            &'a self,
            buf: &'b mut Vec<$crate::Delivery<'a, T>>,
            max: usize,
        ) -> $crate::RecvAckMany<'a, 'b, T>
        where
            T: 'static,
        {
            self.$field.recv_ack_many_async(buf, max)
        }

        /// A [`Stream`](futures_core::Stream) of the messages, ending once
        /// the source is closed and empty; cancel-safe as `recv_async` is
        /// (see [`Receiver::stream`](crate::Receiver::stream)).
        pub fn stream(&self) -> $crate::RecvStream<'_, T> {
            self.$field.stream()
        }
    };
}
