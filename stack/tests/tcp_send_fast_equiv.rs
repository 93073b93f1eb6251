//! The common-case sender changes nothing but speed: the same traffic, run once with it on
//! and once with it off (`Connection::set_send_fast`), must give the same segments on the
//! wire, at the same instants, and the same connection state to the last byte (the `Debug`
//! form of each endpoint, connection and chunk pool, compared with only the switch masked).
//!
//! The harness is `common::equiv`'s, with the sender's rarer inputs on: loss, duplication
//! and reordering (so SACK, DSACK, recovery, RTOs and tail loss probes come and go, and the
//! fast path must step aside for them), writes with `MSG_MORE` or `MSG_EOR`, cork set and
//! lifted, windows that close and reopen, and per seed timestamps, SACK, window scaling,
//! delayed ACKs, Nagle, RACK and pacing on or off. A fast path that skipped an effect of the
//! general planner (an RTT probe, a timer, the TSO packet cut, a scoreboard record, a
//! counter, the chronograph) shows up as a state or a segment that differs.

mod common;

use common::equiv::{check, FastPath};
use common::*;
use xdptcp_stack::tcp::{BufferSizes, Endpoint, TcpConfig};
use xdptcp_stack::time::{Duration, Instant};

const SEND_FAST: FastPath = FastPath {
    set: |c, on| c.set_send_fast(on),
    // Twice: the setting is in the connection's configuration and in its hot copy of the
    // on/off settings (`Negotiated::flags`).
    masks: &[
        ("send_fast: ", |c| c.is_ascii_alphabetic()),
        ("send_fast: ", |c| c.is_ascii_alphabetic()),
    ],
    ready: Some(|c| c.common_segment_ready()),
    send_marks: true,
};

#[test]
fn send_fast_on_and_off_give_the_same_segments_and_state() {
    let (mut fast, mut sent) = (0, 0);
    for seed in 0..32 {
        let (on, off) = check(seed, &SEND_FAST);
        assert_eq!(off.ready, 0, "seed {seed}: the fast path was off");
        fast += on.ready;
        sent += on.wire.iter().filter(|(_, _, x)| !x.payload.is_empty()).count() as u64;
    }
    // The fast path was taken, and often: the comparison above covered it. Pacing seeds,
    // cork, MSG_MORE, records, loss and SACK send the rest the general way.
    eprintln!("{fast} of {sent} data segments planned by the common-case sender");
    assert!(fast * 5 > sent, "only {fast} of {sent} data segments took the fast path");
}

/// The wire of a transfer into a receive buffer smaller than one segment: the peer's window
/// reopens in slivers (at least half its buffer, RFC 9293 §3.8.6.2.2), so the sender,
/// with nothing in flight, holds each sliver for the persist timer, whose wake-up
/// (`window_wakeup`) lets one short segment go (Linux `tcp_write_wakeup`). Rare in the seeded
/// scenarios, so driven here on purpose. Also returns how many segments left while the
/// wake-up was set.
fn sliver_windows(on: bool) -> (Vec<(Instant, bool, Seg)>, usize) {
    let config = TcpConfig {
        mss: 1460,
        rmem: BufferSizes::fixed(1000),
        wmem: BufferSizes::fixed(64 << 10),
        ..TcpConfig::default().with_nodelay(true)
    };
    let start = Instant::from_millis(1);
    let mut a = Endpoint::connect(start, config, LOCAL, REMOTE, s(1000));
    (SEND_FAST.set)(a.parts().0, on);
    let syn = tx(&mut a, start).expect("SYN");
    let mut b = Endpoint::accept_syn(start, config, REMOTE, LOCAL, s(5000), &syn.as_segment());
    (SEND_FAST.set)(b.parts().0, on);
    let mut wire = vec![(start, true, syn)];
    let mut link: Vec<(Instant, bool, Seg)> = Vec::new();
    let (mut now, mut woken, mut written, mut got) = (start, 0, 0, 0);
    let delay = Duration::from_millis(5);
    while got < 12_000 && now < Instant::from_millis(60_000) {
        if a.state().is_synchronized() && written < 12_000 {
            written += a.send(&[7u8; 3000][..3000.min(12_000 - written)]);
        }
        // The reader drains its buffer every 30 ms.
        if now.total_millis() % 30 == 0 {
            got += read_all(&mut b).len();
        }
        for (to_b, e) in [(true, &mut a), (false, &mut b)] {
            loop {
                let wakeup = format!("{e:?}").contains("window_wakeup: true");
                let Some(x) = tx(e, now) else { break };
                woken += usize::from(wakeup && !x.payload.is_empty());
                wire.push((now, to_b, x.clone()));
                link.push((now + delay, to_b, x));
            }
        }
        now += Duration::from_millis(1);
        while link.first().is_some_and(|q| q.0 <= now) {
            let (_, to_b, x) = link.remove(0);
            let dst = if to_b { &mut b } else { &mut a };
            dst.on_segment(now, &x.as_segment());
        }
        for e in [&mut a, &mut b] {
            if e.poll_timeout().is_some_and(|t| t <= now) {
                e.on_timeout(now);
            }
            while e.poll_event().is_some() {}
        }
    }
    assert_eq!(got, 12_000, "the transfer finished");
    (wire, woken)
}

#[test]
fn persist_wakeups_behind_sliver_windows_are_the_same_on_and_off() {
    let (on, woken) = sliver_windows(true);
    let (off, _) = sliver_windows(false);
    assert!(woken > 2, "only {woken} segments left on a persist wake-up");
    for (i, (x, y)) in on.iter().zip(&off).enumerate() {
        assert_eq!(x, y, "segment {i} differs (on, off)");
    }
    assert_eq!(on.len(), off.len());
}
