//! SIGINT/SIGTERM as a flag that run loops observe.
//!
//! The handler only stores to an atomic (async-signal-safe); the worker loop sees the flag,
//! returns, and the RAII guards (the XDP program, the sockets, the lab) clean up on the normal
//! path. A second signal is not intercepted differently: the loop checks the flag every
//! iteration, so one is enough.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    REQUESTED.store(true, Ordering::Relaxed);
}

/// Installs the handler for SIGINT and SIGTERM. Idempotent.
pub fn install() -> std::io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `sigaction` is plain data; zeroed is a valid empty mask and no flags.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: installs a handler that only touches an atomic; `action` is valid for the
        // call and the old action is not requested.
        let rc = unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether SIGINT or SIGTERM arrived since [`install`] (or the last [`reset`]).
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// Clears the flag.
pub fn reset() {
    REQUESTED.store(false, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigterm_sets_the_flag_instead_of_killing() {
        install().expect("sigaction works");
        // SAFETY: raising a signal whose handler was just installed; it only sets the flag.
        let rc = unsafe { libc::raise(libc::SIGTERM) };
        assert_eq!(rc, 0);
        assert!(requested(), "the process is alive and the flag is set");
        reset();
        assert!(!requested());
    }
}
