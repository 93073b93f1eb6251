//! Entering a named network namespace (`ip netns add NAME`) from the calling thread.
//!
//! `setns(CLONE_NEWNET)` moves only the calling thread; sockets, XDP attachment and interface
//! lookups it makes afterwards happen in that namespace. This is how the lab tests run a worker
//! inside the stack-side namespace without a separate process.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Moves the calling thread into the network namespace `/var/run/netns/NAME`.
pub fn enter(name: &str) -> io::Result<()> {
    if name.is_empty() || name.contains('/') {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad namespace name"));
    }
    let file = File::open(format!("/var/run/netns/{name}"))?;
    // SAFETY: `file` is an open namespace file for the duration of the call; setns only
    // changes the calling thread's namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
