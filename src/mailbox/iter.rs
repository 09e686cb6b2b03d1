//! Iterators over a [`Receiver`].

use std::fmt;

use crate::message::Message;

use super::Receiver;

/// A blocking iterator over a [`Receiver`]; see [`Receiver::iter`].
pub struct Iter<'a, T: Send> {
    /// The receiver it takes from.
    pub(super) receiver: &'a Receiver<T>,
}

impl<T: Send> Iterator for Iter<'_, T> {
    type Item = Message<T>;

    fn next(&mut self) -> Option<Message<T>> {
        self.receiver.recv().ok()
    }
}

impl<T: Send> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Iter { .. }")
    }
}

/// A non-blocking iterator over a [`Receiver`]; see [`Receiver::try_iter`].
pub struct TryIter<'a, T: Send> {
    /// The receiver it takes from.
    pub(super) receiver: &'a Receiver<T>,
}

impl<T: Send> Iterator for TryIter<'_, T> {
    type Item = Message<T>;

    fn next(&mut self) -> Option<Message<T>> {
        self.receiver.try_recv().ok()
    }
}

impl<T: Send> fmt::Debug for TryIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TryIter { .. }")
    }
}

/// An owning blocking iterator over a [`Receiver`].
pub struct IntoIter<T: Send> {
    /// The receiver it takes from.
    receiver: Receiver<T>,
}

impl<T: Send> Iterator for IntoIter<T> {
    type Item = Message<T>;

    fn next(&mut self) -> Option<Message<T>> {
        self.receiver.recv().ok()
    }
}

impl<T: Send> fmt::Debug for IntoIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IntoIter { .. }")
    }
}

impl<'a, T: Send> IntoIterator for &'a Receiver<T> {
    type Item = Message<T>;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T: Send> IntoIterator for Receiver<T> {
    type Item = Message<T>;
    type IntoIter = IntoIter<T>;

    fn into_iter(self) -> IntoIter<T> {
        IntoIter { receiver: self }
    }
}
