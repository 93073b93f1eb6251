//! Blocked calls and the virtual clock: time must not jump while a blocked call that the
//! last change woke has yet to look again.
//!
//! packetdrill runs a blocking call (`read`, `poll`, `accept`) on a second thread and takes
//! its return time from our clock. When the main thread injects the packet that completes
//! the call and then sleeps, both threads race for the engine: if the sleep advances the
//! virtual clock first, the call returns late, at the time of the next event (a flaky
//! `blocking-read`, 0.6 s instead of 0.5 s). So every change that may complete a blocked
//! call starts an *epoch*, each blocked call re-checks once per epoch, and a clock jump
//! first waits (a bounded real time) until every blocked call has re-checked, and until the
//! thread of every call that completed after blocking has come back (its next call, usually
//! the clock read that times the return).

use std::thread::ThreadId;

/// Bookkeeping of the calls blocked in [`Posix`](crate::Posix), under the engine's lock.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    /// Bumped by every change that may complete a blocked call.
    epoch: u64,
    /// Calls blocked now.
    blocked: usize,
    /// Blocked calls that have not looked again since the last bump.
    stale: usize,
    /// Threads whose blocked call completed and that have not called in since.
    returning: Vec<ThreadId>,
}

/// One blocked call's place in [`Waiters`].
#[derive(Debug, Default)]
pub(crate) struct Waiter {
    /// The epoch it last checked in; `None` until it first blocks.
    seen: Option<u64>,
}

impl Waiters {
    /// Something changed: every blocked call must look again before time moves.
    pub fn bump(&mut self) {
        self.epoch += 1;
        self.stale = self.blocked;
    }

    /// Whether some blocked call has yet to look at the latest change, or to be timed.
    pub fn unsettled(&self) -> bool {
        self.stale > 0 || !self.returning.is_empty()
    }

    /// The calling thread is back (any call): its completed call has been timed.
    pub fn back(&mut self) {
        if !self.returning.is_empty() {
            let me = std::thread::current().id();
            self.returning.retain(|&t| t != me);
        }
    }

    /// `w` is about to run its check: it counts as having seen the latest change. Returns
    /// whether it had not yet (a clock waiting on it should hear of it).
    pub fn checking(&mut self, w: &mut Waiter) -> bool {
        match w.seen {
            Some(seen) if seen < self.epoch => {
                self.stale = self.stale.saturating_sub(1);
                w.seen = Some(self.epoch);
                true
            }
            _ => false,
        }
    }

    /// `w` checked and must wait.
    pub fn block(&mut self, w: &mut Waiter) {
        if w.seen.is_none() {
            self.blocked += 1;
        }
        w.seen = Some(self.epoch);
    }

    /// `w` is done (completed, failed or timed out). If it had blocked, its thread counts
    /// as returning until its next call.
    pub fn leave(&mut self, w: &mut Waiter) {
        if let Some(seen) = w.seen.take() {
            self.blocked -= 1;
            if seen < self.epoch {
                self.stale = self.stale.saturating_sub(1);
            }
            self.returning.push(std::thread::current().id());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_settled_once_every_blocked_call_looked_again() {
        let mut ws = Waiters::default();
        let (mut a, mut b) = (Waiter::default(), Waiter::default());
        ws.checking(&mut a);
        ws.block(&mut a);
        ws.checking(&mut b);
        ws.block(&mut b);
        assert!(!ws.unsettled());
        ws.bump();
        assert!(ws.unsettled());
        ws.checking(&mut a);
        ws.block(&mut a);
        assert!(ws.unsettled(), "b has not looked yet");
        ws.checking(&mut b);
        ws.leave(&mut b);
        assert!(ws.unsettled(), "b's thread has not come back to read the clock");
        ws.back();
        assert!(!ws.unsettled());
        ws.bump();
        ws.leave(&mut a);
        ws.back();
        assert!(!ws.unsettled(), "a call that gives up counts as having looked");
    }
}
