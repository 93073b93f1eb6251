//! The idle policy of a polling loop (see the [worker's documentation](crate::worker)):
//! what an iteration that moved no frame does — nothing, sleep, or block on the device until
//! a frame may have arrived or the next timer is due.

use xdptcp_stack::time::Instant;

use crate::device::Device;

/// What the worker loop does after an iteration that moved no frame. See the
/// [worker's documentation](crate::worker#when-nothing-moves-idlepolicy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdlePolicy {
    /// Never sleep: poll the rings every iteration (a dedicated core).
    BusyPoll,
    /// Sleep this long after every iteration that moved nothing.
    Sleep(std::time::Duration),
    /// Spin while frames moved within `spin`; after that, block in [`Device::wait`] until a
    /// frame may have arrived or the next timer is due (at most [`MAX_IDLE_WAIT`]).
    SpinThenWait {
        /// How long to keep polling after the last frame moved.
        spin: std::time::Duration,
    },
}

impl IdlePolicy {
    /// The policy of the older `idle_sleep` setting: zero busy-polls, anything else sleeps.
    pub fn from_sleep(idle_sleep: std::time::Duration) -> IdlePolicy {
        if idle_sleep.is_zero() {
            IdlePolicy::BusyPoll
        } else {
            IdlePolicy::Sleep(idle_sleep)
        }
    }
}

/// An [`IdlePolicy`] applied to a loop: call [`after_step`](Idler::after_step) after every
/// iteration. Shared by the worker loop and the raw reflector (bench), so both idle alike.
#[derive(Debug, Clone, Copy)]
pub struct Idler {
    policy: IdlePolicy,
    /// When the last frame moved, in the loop's clock.
    last_moved: Instant,
}

impl Idler {
    /// An idler for `policy`, the loop starting at `now`.
    pub fn new(policy: IdlePolicy, now: Instant) -> Idler {
        Idler { policy, last_moved: now }
    }

    /// After an iteration at `now` that moved `moved` frames, with the next timer at
    /// `next_timer`: does nothing, sleeps, or blocks in [`Device::wait`], as the policy says.
    /// Returns whether it waited on the device.
    pub fn after_step<D: Device>(
        &mut self,
        dev: &mut D,
        now: Instant,
        moved: usize,
        next_timer: Option<Instant>,
    ) -> bool {
        if moved > 0 {
            self.last_moved = now;
            return false;
        }
        let std =
            |d: xdptcp_stack::time::Duration| std::time::Duration::from_nanos(d.total_nanos());
        match self.policy {
            IdlePolicy::BusyPoll => false,
            IdlePolicy::Sleep(d) => {
                std::thread::sleep(d);
                false
            }
            IdlePolicy::SpinThenWait { spin } => {
                let idle_for = std(now.saturating_duration_since(self.last_moved));
                let until_timer = next_timer.map(|t| std(t.saturating_duration_since(now)));
                match idle_wait(spin, idle_for, until_timer) {
                    Some(t) if !t.is_zero() => {
                        dev.wait(t);
                        true
                    }
                    _ => false,
                }
            }
        }
    }
}

/// Longest single wait of [`IdlePolicy::SpinThenWait`]: the loop still looks at its stop
/// condition and the application's [`App::poll`](crate::app::App::poll) (which may act on time, e.g. a load
/// generator's end) this often when no timer is due.
pub const MAX_IDLE_WAIT: std::time::Duration = std::time::Duration::from_millis(1);

/// How long an idle [`IdlePolicy::SpinThenWait`] loop blocks: `None` to keep spinning (the
/// last frame moved less than `spin` ago), else until the next timer, capped at
/// [`MAX_IDLE_WAIT`]; `Some(ZERO)` when the timer is already due (run it, do not sleep).
/// `idle_for` is the time since the last frame moved; `until_timer` the time to the next
/// timer, if any.
pub fn idle_wait(
    spin: std::time::Duration,
    idle_for: std::time::Duration,
    until_timer: Option<std::time::Duration>,
) -> Option<std::time::Duration> {
    if idle_for < spin {
        return None;
    }
    Some(until_timer.map_or(MAX_IDLE_WAIT, |t| t.min(MAX_IDLE_WAIT)))
}
