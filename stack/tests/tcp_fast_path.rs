//! Header prediction: which segments take the established-state fast path, and that what
//! they do is what the full RFC 9293 §3.10.7.4 path does.

mod common;

use common::*;
use xdptcp_stack::tcp::{Flags, TcpConfig};

fn predicted(c: &xdptcp_stack::tcp::Endpoint) -> u64 {
    c.counters().predicted_segments
}

#[test]
fn in_order_segments_are_predicted_and_the_rest_take_the_full_path() {
    let mut c = client(TcpConfig::default());
    let p0 = predicted(&c);

    // The next segment in sequence, same window, ACK + PSH: predicted, data delivered.
    rx(&mut c, ms(20), &seg(IRS + 1, Some(ISS + 1), Flags::PSH).with_payload(b"abc"));
    assert_eq!(predicted(&c), p0 + 1);
    assert_eq!(read_all(&mut c), b"abc");

    // A new window: predicted too (the window is not part of the prediction), and taken.
    rx(&mut c, ms(21), &seg(IRS + 4, Some(ISS + 1), Flags::NONE).with_window(2000));
    assert_eq!(predicted(&c), p0 + 2);
    assert_eq!(c.info().snd_wnd, 2000);

    // Out of order: the full path queues it.
    rx(
        &mut c,
        ms(22),
        &seg(IRS + 7, Some(ISS + 1), Flags::NONE).with_window(2000).with_payload(b"gh"),
    );
    assert_eq!(predicted(&c), p0 + 2);
    assert_eq!(c.recv_queue_len(), 0);

    // The segment that fills the gap is in order again: predicted, and the queued bytes follow.
    rx(
        &mut c,
        ms(23),
        &seg(IRS + 4, Some(ISS + 1), Flags::NONE).with_window(2000).with_payload(b"def"),
    );
    assert_eq!(predicted(&c), p0 + 3);
    assert_eq!(read_all(&mut c), b"defgh");

    // FIN, SYN, RST, a SACK block, an old sequence number or an ACK beyond what was sent are
    // never predicted.
    let next = IRS + 9;
    let mut sacked = seg(next, Some(ISS + 1), Flags::NONE).with_window(2000);
    sacked.options.sack_blocks.push(s(ISS + 1), s(ISS + 1));
    for (why, x) in [
        ("sack", sacked),
        ("old", seg(next - 1, Some(ISS + 1), Flags::NONE).with_window(2000).with_payload(b"h")),
        ("ack beyond", seg(next, Some(ISS + 50), Flags::NONE).with_window(2000)),
        ("fin", seg(next, Some(ISS + 1), Flags::FIN).with_window(2000)),
    ] {
        rx(&mut c, ms(24), &x);
        assert_eq!(predicted(&c), p0 + 3, "{why}");
    }
}

#[test]
fn acknowledgments_of_our_data_are_predicted() {
    let mut c = client(TcpConfig::default().with_nodelay(true));
    let p0 = predicted(&c);
    c.send(b"request");
    let out = tx(&mut c, ms(20)).expect("data");
    assert_eq!(out.payload, b"request");
    // The response acknowledges the request and carries data: one predicted segment.
    rx(&mut c, ms(21), &seg(IRS + 1, Some(ISS + 8), Flags::PSH).with_payload(b"response"));
    assert_eq!(predicted(&c), p0 + 1);
    assert_eq!(c.send_queue_len(), 0, "request acknowledged");
    assert_eq!(read_all(&mut c), b"response");
}
