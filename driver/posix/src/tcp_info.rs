//! `TCP_INFO` in the byte layout of Linux's `struct tcp_info`, for the fields the stack knows.
//!
//! Every field is placed with `offset_of!` on `libc::tcp_info` (libc ≥ 0.2.191 carries the
//! whole UAPI struct), into a byte buffer, so no `unsafe` is needed to hand it out.

use core::mem::offset_of;

use libc::tcp_info as Ti;
use xdptcp_stack::tcp::{State, TcpInfo};
use xdptcp_stack::time::Instant;

/// Bytes of `struct tcp_info` we report: Linux 6.18's whole struct (`tcpi_rcv_wnd` ends at
/// 236; `tcpi_rehash`, the RTO totals, `tcpi_received_ce` and the accurate-ECN counters follow
/// up to 280), so that a caller that insists on the current length (packetdrill does) gets it.
/// Fields past those `libc` describes stay zero.
pub const TCP_INFO_LEN: usize = 280;
/// `tcpi_options` bits (`include/uapi/linux/tcp.h`; not in the `libc` crate).
pub const TCPI_OPT_TIMESTAMPS: u8 = 1;
/// SACK was negotiated.
pub const TCPI_OPT_SACK: u8 = 2;
/// Window scaling was negotiated.
pub const TCPI_OPT_WSCALE: u8 = 4;

/// Linux's `TCP_*` state numbers (`include/net/tcp_states.h`).
pub fn linux_state(s: State) -> u8 {
    match s {
        State::Established => 1,
        State::SynSent => 2,
        State::SynReceived => 3,
        State::FinWait1 => 4,
        State::FinWait2 => 5,
        State::TimeWait => 6,
        State::Closed => 7,
        State::CloseWait => 8,
        State::LastAck => 9,
        State::Listen => 10,
        State::Closing => 11,
    }
}

fn put_u32(b: &mut [u8; TCP_INFO_LEN], at: usize, v: u32) {
    if let Some(d) = b.get_mut(at..at + 4) {
        d.copy_from_slice(&v.to_ne_bytes());
    }
}

fn put_u64(b: &mut [u8; TCP_INFO_LEN], at: usize, v: u64) {
    if let Some(d) = b.get_mut(at..at + 8) {
        d.copy_from_slice(&v.to_ne_bytes());
    }
}

fn sat32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Linux's congestion-avoidance state (`enum tcp_ca_state`): Open (0), Disorder (1: SACKed
/// data, no loss yet), Recovery (3: fast recovery) or Loss (4: after a timeout, which marks
/// everything lost). CWR (2, an ECN reduction) is not told apart from Open.
pub fn ca_state(i: &TcpInfo) -> u8 {
    if i.in_recovery {
        if i.lost > 0 && i.lost + i.sacked >= i.unacked && i.unacked > 0 {
            4
        } else {
            3
        }
    } else if i.sacked > 0 {
        1
    } else {
        0
    }
}

/// A `tcp_info` for a socket with no connection (fresh: CLOSE, or listening: LISTEN).
pub fn encode_state_only(state: State) -> [u8; TCP_INFO_LEN] {
    let mut b = [0u8; TCP_INFO_LEN];
    b[offset_of!(Ti, tcpi_state)] = linux_state(state);
    b
}

/// Encodes a connection's snapshot taken at `now`. `advmss` is the MSS we announce, `pmtu`
/// the device MTU, `ato_us` the delayed-ACK timeout.
pub fn encode(
    i: &TcpInfo,
    now: Instant,
    advmss: u32,
    pmtu: u32,
    ato_us: u32,
) -> [u8; TCP_INFO_LEN] {
    let mut b = [0u8; TCP_INFO_LEN];
    let mss = i.snd_mss.max(1);
    b[offset_of!(Ti, tcpi_state)] = linux_state(i.state);
    b[offset_of!(Ti, tcpi_ca_state)] = ca_state(i);
    let backoff = u8::try_from(i.backoff).unwrap_or(u8::MAX);
    b[offset_of!(Ti, tcpi_retransmits)] = backoff;
    b[offset_of!(Ti, tcpi_backoff)] = backoff;
    let mut options = 0u8;
    if i.timestamps {
        options |= TCPI_OPT_TIMESTAMPS;
    }
    if i.sack {
        options |= TCPI_OPT_SACK;
    }
    if let Some((ours, peers)) = i.window_scale {
        options |= TCPI_OPT_WSCALE;
        // Bit-fields: tcpi_snd_wscale (the peer's shift) in the low nibble, tcpi_rcv_wscale
        // (ours) in the high one, as GCC lays them out on little-endian targets.
        b[offset_of!(Ti, tcpi_snd_rcv_wscale)] = (peers & 0x0f) | ((ours & 0x0f) << 4);
    }
    b[offset_of!(Ti, tcpi_options)] = options;
    put_u32(&mut b, offset_of!(Ti, tcpi_rto), sat32(i.rto.total_micros()));
    put_u32(&mut b, offset_of!(Ti, tcpi_ato), ato_us);
    put_u32(&mut b, offset_of!(Ti, tcpi_snd_mss), sat32(i.snd_mss as u64));
    put_u32(&mut b, offset_of!(Ti, tcpi_rcv_mss), advmss);
    put_u32(&mut b, offset_of!(Ti, tcpi_unacked), sat32(i.unacked.div_ceil(mss) as u64));
    put_u32(&mut b, offset_of!(Ti, tcpi_sacked), sat32(i.sacked.div_ceil(mss) as u64));
    put_u32(&mut b, offset_of!(Ti, tcpi_lost), sat32(i.lost.div_ceil(mss) as u64));
    put_u32(&mut b, offset_of!(Ti, tcpi_pmtu), pmtu);
    let since_data = now.saturating_duration_since(i.last_data_recv);
    put_u32(&mut b, offset_of!(Ti, tcpi_last_data_recv), sat32(since_data.total_millis()));
    put_u64(&mut b, offset_of!(Ti, tcpi_busy_time), i.chrono.busy_time(now).total_micros());
    put_u64(&mut b, offset_of!(Ti, tcpi_rwnd_limited), i.chrono.rwnd_limited(now).total_micros());
    if let Some(rtt) = i.rtt {
        put_u32(&mut b, offset_of!(Ti, tcpi_rtt), sat32(rtt.total_micros()));
        put_u32(&mut b, offset_of!(Ti, tcpi_rttvar), sat32(i.rttvar.total_micros()));
    }
    // Linux reports an unset ssthresh as TCP_INFINITE_SSTHRESH (0x7fffffff).
    let ssthresh = (i.ssthresh / mss).min(0x7fff_ffff);
    put_u32(&mut b, offset_of!(Ti, tcpi_snd_ssthresh), ssthresh as u32);
    put_u32(&mut b, offset_of!(Ti, tcpi_snd_cwnd), sat32((i.cwnd / mss) as u64));
    put_u32(&mut b, offset_of!(Ti, tcpi_advmss), advmss);
    put_u32(&mut b, offset_of!(Ti, tcpi_reordering), i.reordering);
    put_u32(&mut b, offset_of!(Ti, tcpi_rcv_space), sat32(i.rcv_space as u64));
    put_u32(&mut b, offset_of!(Ti, tcpi_total_retrans), sat32(i.retransmits));
    put_u64(&mut b, offset_of!(Ti, tcpi_bytes_acked), i.bytes_acked);
    put_u64(&mut b, offset_of!(Ti, tcpi_bytes_received), i.bytes_received);
    put_u32(&mut b, offset_of!(Ti, tcpi_snd_wnd), i.snd_wnd);
    put_u32(&mut b, offset_of!(Ti, tcpi_rcv_wnd), sat32(i.rcv_space as u64));
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_match_the_linux_uapi() {
        // include/uapi/linux/tcp.h, x86-64.
        assert_eq!(offset_of!(Ti, tcpi_rto), 8);
        assert_eq!(offset_of!(Ti, tcpi_total_retrans), 100);
        assert_eq!(offset_of!(Ti, tcpi_bytes_acked), 120);
        assert_eq!(offset_of!(Ti, tcpi_snd_wnd), 228);
        assert_eq!(offset_of!(Ti, tcpi_rcv_wnd) + 4, 236);
        const { assert!(TCP_INFO_LEN >= 236) };
    }

    #[test]
    fn state_numbers_follow_linux() {
        // include/net/tcp_states.h
        assert_eq!(linux_state(State::Established), 1);
        assert_eq!(linux_state(State::Listen), 10);
        assert_eq!(linux_state(State::TimeWait), 6);
        assert_eq!(linux_state(State::Closing), 11);
    }
}
