//! The in-memory outbox the local senders (text messages, e-mail) keep their newest messages
//! in, for the demo and the tests; the oldest go first once it is full.

use std::collections::VecDeque;
use std::sync::Mutex;

pub(crate) struct Outbox<T> {
    capacity: usize,
    messages: Mutex<VecDeque<T>>,
}

impl<T: Clone> Outbox<T> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            messages: Mutex::new(VecDeque::new()),
        }
    }

    pub(crate) fn push(&self, message: T) {
        let mut messages = self
            .messages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if messages.len() >= self.capacity {
            messages.pop_front();
        }
        messages.push_back(message);
    }

    /// The messages `keep` accepts, oldest first.
    pub(crate) fn matching(&self, keep: impl Fn(&T) -> bool) -> Vec<T> {
        self.messages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|m| keep(m))
            .cloned()
            .collect()
    }
}
