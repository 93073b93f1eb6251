#![cfg(feature = "sim")]
//! A bulk sender that writes only when told (`Writable` after a refused write, as Linux wakes
//! a writer that found the buffer full: `SOCK_NOSPACE`) still completes over a lossy,
//! reordering, duplicating link, and hears `Writable` only while it waits.

use xdptcp_stack::sim::*;
use xdptcp_stack::stack::StackEvent;
use xdptcp_stack::tcp::{Event, State};
use xdptcp_stack::time::Duration;

const LIMIT: Duration = Duration::from_secs(600);
const TOTAL: usize = 2 << 20;

fn byte(i: usize) -> u8 {
    (i % 251) as u8
}

/// Returns (bytes received intact, `Writable` events, `Writable` events that came while the
/// writer was not waiting or found less than a third of the buffer free).
fn transfer(seed: u64) -> (usize, usize, usize) {
    let link = LinkConfig { loss: 0.01, reorder: 0.01, duplicate: 0.005, ..LinkConfig::default() };
    let mut p = Pair::with_link(link, seed);
    let (a, b, _) = establish(&mut p, 80, LIMIT).expect("handshake");
    let third = p.a.tcp_send_space(a) / 3;
    assert!(third > 0);
    let (mut sent, mut got, mut bad) = (0usize, 0usize, 0usize);
    let (mut waiting, mut wakes, mut stray) = (false, 0usize, 0usize);
    // The first write, as an application would start: then only on `Writable`.
    let write = |p: &mut Pair, sent: &mut usize| -> bool {
        while *sent < TOTAL {
            let n =
                p.a.tcp_write(a, |room| {
                    let n = room.len().min(TOTAL - *sent);
                    for (k, x) in room[..n].iter_mut().enumerate() {
                        *x = byte(*sent + k);
                    }
                    *sent += n; // `tcp_write` may call again for the next piece
                    n
                })
                .expect("write");
            if n == 0 {
                return true; // refused: wait for Writable
            }
        }
        let _ = p.a.tcp_close(a);
        false
    };
    waiting = write(&mut p, &mut sent) || waiting;
    let until = p.now + LIMIT;
    p.drive(until, |p| {
        while let Some(ev) = p.a.poll_event() {
            if let StackEvent::Tcp(h, Event::Writable) = ev {
                assert_eq!(h, a);
                wakes += 1;
                let before = sent;
                let was_waiting = waiting;
                waiting = write(p, &mut sent);
                if !was_waiting || (sent - before < third && sent < TOTAL) {
                    stray += 1;
                }
            }
        }
        while p.b.poll_event().is_some() {}
        while let Ok(n @ 1..) = p.b.tcp_read(b, |x, y| {
            for (k, &v) in x.iter().chain(y).enumerate() {
                bad += usize::from(v != byte(got + k));
            }
            x.len() + y.len()
        }) {
            got += n;
        }
        if p.b.tcp_recv_finished(b) && p.b.tcp_state(b) == State::CloseWait {
            let _ = p.b.tcp_close(b);
        }
        p.a.tcp_state(a) == State::Closed && p.b.tcp_state(b) == State::Closed
    });
    assert_eq!(bad, 0);
    (got, wakes, stray)
}

#[test]
fn a_writer_woken_only_after_refusal_completes_a_bulk_transfer() {
    for seed in 1..=3 {
        let (got, wakes, stray) = transfer(seed);
        assert_eq!(got, TOTAL, "seed {seed}");
        assert!(wakes > 0, "seed {seed}: the writer was refused and woken");
        assert_eq!(
            stray, 0,
            "seed {seed}: Writable only while the writer waits, with a third of the buffer free"
        );
    }
}
