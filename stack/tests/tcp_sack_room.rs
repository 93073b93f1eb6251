//! Full-sized data segments make room for the SACK blocks they carry (Linux
//! `tcp_current_mss`), so a segment that reports out-of-order data still fits the MTU.

mod common;

use common::*;
use xdptcp_stack::tcp::{BufferSizes, Endpoint, Flags, TcpConfig};

const A: Flags = Flags::ACK;

/// A client with timestamps and SACK, MSS 112 both ways: 100 payload bytes per segment
/// beside the 12-byte timestamp option.
fn client() -> Endpoint {
    let cfg = TcpConfig {
        mss: 112,
        timestamps: true,
        sack: true,
        window_scaling: true,
        wmem: BufferSizes::fixed(64 * 1024),
        ..plain_config()
    };
    let mut c = Endpoint::connect(ms(0), cfg, LOCAL, REMOTE, s(ISS));
    let syn = tx(&mut c, ms(0)).expect("SYN");
    let our_ts = syn.options.timestamps.expect("offered").0;
    let mut sa = seg(IRS, Some(ISS + 1), Flags::SYN).with_ts(500, our_ts).with_window(60_000);
    sa.options.mss = Some(112);
    sa.options.window_scale = Some(0);
    sa.options.sack_permitted = true;
    rx(&mut c, ms(10), &sa);
    tx_all(&mut c, ms(10));
    events(&mut c);
    c
}

/// Option bytes of a segment as `wire::tcp` lays them out (timestamps 12, SACK 4 + 8n).
fn option_len(x: &Seg) -> usize {
    let ts = if x.options.timestamps.is_some() { 12 } else { 0 };
    let blocks = x.sack().len();
    ts + if blocks > 0 { 4 + 8 * blocks } else { 0 }
}

#[test]
fn data_segments_shrink_for_sack_blocks_and_grow_back() {
    let mut c = client();
    assert_eq!(c.info().snd_mss, 100);
    // Two out-of-order segments from the peer: two SACK blocks to report (20 bytes).
    for i in [1u32, 3] {
        let d = seg(IRS + 1 + i * 100, Some(ISS + 1), A).with_payload(&[7; 100]).with_ts(501, 0);
        rx(&mut c, ms(20), &d.with_window(60_000));
    }
    tx_all(&mut c, ms(20)); // the duplicate ACKs
    assert_eq!(c.send(&[1; 1000]), 1000);
    let segs = tx_all(&mut c, ms(21));
    assert!(!segs.is_empty());
    for x in &segs {
        assert_eq!(x.sack().len(), 2, "every segment reports the holes: {x:?}");
        assert!(x.payload.len() + option_len(x) <= 112, "fits the MSS: {x:?}");
    }
    assert_eq!(segs[0].payload.len(), 100 - 20, "full-sized less the two blocks");
    // The hole fills: no more SACK blocks, full-sized segments again.
    let fill = seg(IRS + 1, Some(ISS + 1), A).with_payload(&[7; 100]).with_ts(502, 0);
    rx(&mut c, ms(30), &fill.with_window(60_000));
    let fill2 = seg(IRS + 201, Some(ISS + 1), A).with_payload(&[7; 100]).with_ts(503, 0);
    rx(&mut c, ms(30), &fill2.with_window(60_000));
    // Acknowledge what was sent; the rest of the data goes out full-sized.
    let last = segs.last().expect("sent something");
    let sent_end = last.seq.0 + last.payload.len() as u32;
    let ack = seg(IRS + 401, Some(sent_end), A).with_ts(504, 0).with_window(60_000);
    rx(&mut c, ms(31), &ack);
    assert_eq!(c.send(&[2; 1000]), 1000);
    let segs = tx_all(&mut c, ms(32));
    let data: Vec<&Seg> = segs.iter().filter(|x| !x.payload.is_empty()).collect();
    assert!(!data.is_empty());
    assert!(data.iter().all(|x| x.sack().is_empty()));
    assert_eq!(data[0].payload.len(), 100);
}

/// A fast retransmission is sized by the MSS of the moment, which grows when a SACK block
/// goes away; it must still end at SND.MAX, else the peer acknowledges bytes we never
/// counted as sent and its ACK is refused forever (a stall seen in the AF_XDP interop).
#[test]
fn fast_retransmit_never_reaches_past_snd_max() {
    let mut c = client();
    // Two holes on our receive side: segments carry 100 - 20 = 80 bytes.
    for i in [1u32, 3] {
        let d = seg(IRS + 1 + i * 100, Some(ISS + 1), A).with_payload(&[7; 100]).with_ts(501, 0);
        rx(&mut c, ms(20), &d.with_window(80));
    }
    tx_all(&mut c, ms(20));
    assert_eq!(c.send(&[1; 1000]), 1000);
    // The peer's window (80) lets exactly one segment out.
    let first = tx_all(&mut c, ms(21));
    let data: Vec<&Seg> = first.iter().filter(|x| !x.payload.is_empty()).collect();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0].payload.len(), 80);
    // The peer fills our first hole (one SACK block left: the MSS of now is 88)...
    let fill = seg(IRS + 1, Some(ISS + 1), A).with_payload(&[7; 100]).with_ts(502, 0);
    rx(&mut c, ms(22), &fill.with_window(80));
    tx_all(&mut c, ms(22));
    // ...then three duplicate ACKs: fast retransmission of the first segment.
    for _ in 0..3 {
        let dup = seg(IRS + 201, Some(ISS + 1), A).with_ts(503, 0).with_window(80);
        rx(&mut c, ms(23), &dup);
    }
    let again = tx_all(&mut c, ms(23));
    let re: Vec<&Seg> =
        again.iter().filter(|x| x.seq == s(ISS + 1) && !x.payload.is_empty()).collect();
    assert_eq!(re.len(), 1, "fast retransmission: {again:?}");
    assert_eq!(re[0].payload.len(), 80, "no byte beyond what was sent");
    // The peer acknowledges the retransmission: accepted, the connection moves on.
    let ack = seg(IRS + 201, Some(ISS + 81), A).with_ts(504, 0).with_window(80);
    rx(&mut c, ms(24), &ack);
    assert_eq!(c.counters().challenge_acks, 0);
    // The window (80) is smaller than a segment of now (88): as Linux, the next data waits
    // for the persist timer, which sends what fits.
    let mut next = tx_all(&mut c, ms(24));
    if let Some(t) = c.poll_timeout() {
        c.on_timeout(t);
        next.extend(tx_all(&mut c, t));
    }
    assert!(next.iter().any(|x| x.seq == s(ISS + 81) && !x.payload.is_empty()), "{next:?}");
}
