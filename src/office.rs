//! The post office: a registry of named mailboxes and processes (dynamic
//! association), with ownership-scoped lifetimes and dead letters.

use std::fmt;
use std::sync::{Arc, Weak};

use crate::dead_letter::DeadLetters;

/// A registry of named mailboxes, ports and processes.
#[derive(Clone)]
pub struct PostOffice {
    inner: Arc<OfficeInner>,
}

pub(crate) struct OfficeInner {
    dead_letters: DeadLetters,
}

impl PostOffice {
    /// A new, empty office.
    pub fn new() -> PostOffice {
        PostOffice {
            inner: Arc::new(OfficeInner {
                dead_letters: DeadLetters::new(),
            }),
        }
    }

    /// The office's dead letters.
    pub fn dead_letters(&self) -> DeadLetters {
        self.inner.dead_letters.clone()
    }
}

impl Default for PostOffice {
    fn default() -> PostOffice {
        PostOffice::new()
    }
}

impl fmt::Debug for PostOffice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostOffice").finish_non_exhaustive()
    }
}

/// A name held in an office; released when dropped.
pub(crate) struct Registration {
    _office: Weak<OfficeInner>,
    name: Arc<str>,
}

impl Registration {
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}
