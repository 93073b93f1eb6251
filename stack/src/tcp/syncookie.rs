//! SYN cookies (RFC 4987 §3.6), in the manner of Linux.
//!
//! Under a SYN flood the listener stops keeping state for half-open connections. Instead it
//! encodes what it must remember into the ISN of its SYN-ACK (the "cookie"); a legitimate
//! client echoes it back as `ACK - 1` in the third segment of the handshake, and the listener
//! rebuilds the connection from it. RFC 4987 §3.6 describes the idea and its cost: only a few
//! bits of state fit, so the MSS is coarsened to a small table and options the SYN carried are
//! lost unless they are stored elsewhere, which Linux does in the TCP timestamp (see
//! [`encode_ts_options`]).
//!
//! Cookie layout before whitening (32 bits):
//!
//! ```text
//!  31      24 23                              3 2   0
//! +----------+---------------------------------+-----+
//! | counter  |  MAC (21 bits)                  | MSS |
//! +----------+---------------------------------+-----+
//! ```
//!
//! - `counter`: the low 8 bits of a coarse clock that ticks every [`COUNTER_PERIOD`]. A cookie
//!   is accepted while the clock is less than [`VALID_PERIODS`] ticks ahead of it, which
//!   bounds how long a captured cookie can be replayed.
//! - `MAC`: keyed SipHash over the 4-tuple, the client's ISN, the full counter and the MSS
//!   index. A forged ACK passes with probability about 2^-21 per guess.
//! - `MSS`: index into [`MSS_TABLE`].
//!
//! The word is then offset by the client's ISN plus a keyed hash of the 4-tuple. That keeps
//! the ISN unpredictable per connection, as RFC 6528 wants of every ISN, and hides the
//! counter and MSS index from observers.

use super::SeqNumber;
use crate::time::{Duration, Instant};
use siphasher::sip::SipHasher24;
use std::net::SocketAddr;

/// MSS classes a cookie can carry, smallest first. Like Linux's IPv4 table: the RFC 9293
/// default (536) and the common sizes of tunnelled, PPPoE and plain Ethernet paths.
pub const MSS_TABLE: [u16; 4] = [536, 1300, 1440, 1460];

/// The IPv6 classes, as Linux's `msstab` for IPv6: the MTUs 1280 (the IPv6 minimum, RFC 8200
/// §5), 1480 (IPv6 in IPv4), 1500 and 9000, less 60 bytes of IPv6 and TCP headers.
pub const MSS_TABLE6: [u16; 4] = [1220, 1420, 1440, 8940];

/// The class table of the family `local` belongs to: the cookie's 2-bit index keeps its
/// meaning, only the sizes differ.
fn table_for(local: SocketAddr) -> &'static [u16; 4] {
    if local.is_ipv6() {
        &MSS_TABLE6
    } else {
        &MSS_TABLE
    }
}

/// How often the cookie clock ticks.
pub const COUNTER_PERIOD: Duration = Duration::from_secs(64);

/// A cookie is valid while it was made in the current period or one of the previous
/// `VALID_PERIODS - 1` (so for between 64 and 128 seconds).
pub const VALID_PERIODS: u64 = 2;

const COUNTER_SHIFT: u32 = 24;
const MAC_SHIFT: u32 = 3;
const MAC_MASK: u32 = (1 << 21) - 1;
const MSS_MASK: u32 = (1 << MAC_SHIFT) - 1;

/// Domain-separation tags, so the two hashes from one key are independent.
const TAG_WHITEN: u8 = 0;
const TAG_MAC: u8 = 1;

/// What a valid cookie carried.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CookieMss {
    /// The MSS to use towards the peer: the class encoded, never above what the peer offered
    /// (unless it offered less than the smallest class, see [`SynCookies::mss_class`]).
    pub mss: u16,
}

/// Makes and checks SYN cookies with one secret key.
///
/// The key should be 128 random bits drawn at start-up. The coarse counter is hashed with it,
/// so a cookie from one period says nothing about the next; rotating the key as well would
/// invalidate cookies in flight and is left to the caller (make a new `SynCookies`).
#[derive(Clone, Debug)]
pub struct SynCookies {
    hasher: SipHasher24,
}

impl SynCookies {
    /// Cookies keyed by `key`.
    pub fn new(key: [u8; 16]) -> Self {
        SynCookies { hasher: SipHasher24::new_with_key(&key) }
    }

    /// The timestamp offset of the connection from `local` to `remote`: a keyed hash of the
    /// 4-tuple, added to the millisecond clock to make its TSvals.
    ///
    /// RFC 7323 §7.1 asks for a per-connection random offset so that TSvals reveal neither
    /// the host's uptime nor which connections share a clock; Linux uses a keyed hash of the
    /// addresses (`secure_tcp_ts_off`). It lives here because the stateless SYN-ACK of a
    /// cookie stamps its TSval with it, and the connection built from the returning ACK must
    /// go on from the same offset; the stack uses it for every other connection too. The
    /// input carries a tag byte so it never collides with a cookie's hash input.
    pub fn ts_offset(&self, local: impl Into<SocketAddr>, remote: impl Into<SocketAddr>) -> u32 {
        super::isn::keyed_tuple_hash(&self.hasher, Some(b'T'), local.into(), remote.into())
    }

    /// The index into [`MSS_TABLE`] of the largest class not above `peer_mss`, or 0 if the
    /// peer offered less than the smallest class.
    pub fn mss_index(peer_mss: u16) -> usize {
        index_in(&MSS_TABLE, peer_mss)
    }

    /// The MSS a cookie for `peer_mss` will carry. A peer offering less than 536 gets 536:
    /// RFC 9293 §3.7.1 makes 536 the size every host must accept when no MSS is sent, and a
    /// cookie cannot carry anything smaller (Linux does the same).
    pub fn mss_class(peer_mss: u16) -> u16 {
        MSS_TABLE[Self::mss_index(peer_mss)]
    }

    /// The cookie to send as the ISN of the SYN-ACK answering a SYN with sequence number
    /// `client_isn` and MSS option `peer_mss` (536 if it had none, RFC 9293 §3.7.1; 1220 over
    /// IPv6, RFC 8200 §5). The MSS classes are the family's ([`MSS_TABLE`], [`MSS_TABLE6`]).
    pub fn encode(
        &self,
        now: Instant,
        local: impl Into<SocketAddr>,
        remote: impl Into<SocketAddr>,
        client_isn: SeqNumber,
        peer_mss: u16,
    ) -> SeqNumber {
        let (local, remote) = (local.into(), remote.into());
        let counter = counter(now);
        let index = index_in(table_for(local), peer_mss) as u32;
        let mac = self.mac(local, remote, client_isn, counter, index);
        let word = ((counter as u32) << COUNTER_SHIFT) | (mac << MAC_SHIFT) | index;
        SeqNumber(word.wrapping_add(self.whitening(local, remote)).wrapping_add(client_isn.0))
    }

    /// Checks a cookie echoed in the ACK completing a handshake: `cookie` is that ACK's
    /// acknowledgment number minus one, `client_isn` its sequence number minus one. Returns
    /// the MSS it carried, or `None` if it was not made by this key for this 4-tuple and
    /// client ISN, or is older than [`VALID_PERIODS`] periods (or from the future).
    pub fn decode(
        &self,
        now: Instant,
        local: impl Into<SocketAddr>,
        remote: impl Into<SocketAddr>,
        client_isn: SeqNumber,
        cookie: SeqNumber,
    ) -> Option<CookieMss> {
        let (local, remote) = (local.into(), remote.into());
        let word = cookie.0.wrapping_sub(client_isn.0).wrapping_sub(self.whitening(local, remote));
        let current = counter(now);
        // The counter travels modulo 256; the age is the distance back from now.
        let age = u64::from((current as u8).wrapping_sub((word >> COUNTER_SHIFT) as u8));
        if age >= VALID_PERIODS {
            return None;
        }
        let made = current.checked_sub(age)?;
        let index = word & MSS_MASK;
        let mss = *table_for(local).get(index as usize)?;
        let mac = (word >> MAC_SHIFT) & MAC_MASK;
        (mac == self.mac(local, remote, client_isn, made, index)).then_some(CookieMss { mss })
    }

    fn whitening(&self, local: SocketAddr, remote: SocketAddr) -> u32 {
        let mut buf = [0u8; 37];
        buf[0] = TAG_WHITEN;
        let n = put_tuple(&mut buf[1..], local, remote);
        self.hasher.hash(&buf[..1 + n]) as u32
    }

    fn mac(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        client_isn: SeqNumber,
        counter: u64,
        index: u32,
    ) -> u32 {
        let mut buf = [0u8; 1 + 36 + 4 + 8 + 1];
        buf[0] = TAG_MAC;
        let t = 1 + put_tuple(&mut buf[1..], local, remote);
        buf[t..t + 4].copy_from_slice(&client_isn.0.to_be_bytes());
        buf[t + 4..t + 12].copy_from_slice(&counter.to_be_bytes());
        buf[t + 12] = index as u8;
        let h = self.hasher.hash(&buf[..t + 13]);
        ((h ^ (h >> 32)) as u32) & MAC_MASK
    }
}

/// The index of the largest class in `table` not above `peer_mss`, or 0.
fn index_in(table: &[u16; 4], peer_mss: u16) -> usize {
    table.iter().rposition(|&m| m <= peer_mss).unwrap_or(0)
}

/// The coarse cookie clock: periods of [`COUNTER_PERIOD`] since the caller's epoch.
fn counter(now: Instant) -> u64 {
    now.total_nanos() / COUNTER_PERIOD.total_nanos()
}

use super::isn::put_tuple;

/// Options of the SYN that a cookie carried in the timestamp.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct CookieOptions {
    /// The peer's window-scale shift (RFC 7323 §2), `None` if it sent no option.
    pub wscale: Option<u8>,
    /// The peer sent SACK-permitted (RFC 2018 §2).
    pub sack_permitted: bool,
    /// The peer asked for ECN (RFC 3168 §6.1.1).
    pub ecn: bool,
}

/// Bits of TSval given over to options.
const TS_OPTION_BITS: u32 = 6;
const TS_OPTION_MASK: u32 = (1 << TS_OPTION_BITS) - 1;
const TS_WSCALE_MASK: u32 = 0xf;
const TS_WSCALE_NONE: u32 = 0xf;
const TS_SACK: u32 = 1 << 4;
const TS_ECN: u32 = 1 << 5;
/// RFC 7323 §2.3: a shift above 14 is treated as 14.
const MAX_WSCALE: u8 = 14;

/// The TSval to send in a cookie SYN-ACK when the SYN carried timestamps: `now_tsval_base`
/// (the current timestamp clock) with its low 6 bits replaced by the SYN's options, the way
/// Linux does. The peer echoes it in TSecr of the final ACK (RFC 7323 §3), so the options
/// come back without the listener storing anything.
///
/// Layout of the low bits: bits 0–3 the window-scale shift (0xf: no option), bit 4
/// SACK-permitted, bit 5 ECN. The result is never above `now_tsval_base` in the timestamp
/// clock's wrapping order, so the clock never appears to run ahead (RFC 7323 §5.4 wants
/// TSval monotonic), and never zero, which some peers echo when they have nothing.
pub fn encode_ts_options(now_tsval_base: u32, wscale: Option<u8>, sack_ok: bool, ecn: bool) -> u32 {
    let mut options = wscale.map_or(TS_WSCALE_NONE, |s| u32::from(s.min(MAX_WSCALE)));
    if sack_ok {
        options |= TS_SACK;
    }
    if ecn {
        options |= TS_ECN;
    }
    let mut ts = (now_tsval_base & !TS_OPTION_MASK) | options;
    if (ts.wrapping_sub(now_tsval_base) as i32) > 0 || ts == 0 {
        ts = ts.wrapping_sub(1 << TS_OPTION_BITS);
    }
    ts
}

/// The options [`encode_ts_options`] put into a TSval, read back from the TSecr of the ACK
/// that completes the handshake. `None` for a zero TSecr: the peer echoed nothing (RFC 7323
/// §3.2 lets a TSecr be meaningless), and no encoded value is zero.
pub fn decode_ts_options(tsecr: u32) -> Option<CookieOptions> {
    if tsecr == 0 {
        return None;
    }
    let wscale = tsecr & TS_WSCALE_MASK;
    Some(CookieOptions {
        wscale: (wscale != TS_WSCALE_NONE).then_some(wscale as u8),
        sack_permitted: tsecr & TS_SACK != 0,
        ecn: tsecr & TS_ECN != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const KEY: [u8; 16] = *b"syn-cookie-key!!";
    const LOCAL: (Ipv4Addr, u16) = (Ipv4Addr::new(192, 0, 2, 1), 80);
    const REMOTE: (Ipv4Addr, u16) = (Ipv4Addr::new(198, 51, 100, 7), 40_000);

    fn t(secs: u64) -> Instant {
        Instant::ZERO + Duration::from_secs(secs)
    }

    #[test]
    fn mss_classes() {
        assert_eq!(SynCookies::mss_class(1460), 1460);
        assert_eq!(SynCookies::mss_class(9000), 1460);
        assert_eq!(SynCookies::mss_class(1459), 1440);
        assert_eq!(SynCookies::mss_class(1300), 1300);
        assert_eq!(SynCookies::mss_class(1299), 536);
        assert_eq!(SynCookies::mss_class(100), 536);
    }

    #[test]
    fn round_trip_every_class() {
        let c = SynCookies::new(KEY);
        let isn = SeqNumber(0xdead_beef);
        for &mss in &[100, 536, 1000, 1300, 1400, 1440, 1450, 1460, 65535] {
            let cookie = c.encode(t(1000), LOCAL, REMOTE, isn, mss);
            let got = c.decode(t(1000), LOCAL, REMOTE, isn, cookie);
            assert_eq!(got, Some(CookieMss { mss: SynCookies::mss_class(mss) }));
        }
    }

    #[test]
    fn ipv6_cookies_use_the_ipv6_classes_and_the_whole_addresses() {
        use std::net::Ipv6Addr;
        let c = SynCookies::new(KEY);
        let local = (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 80);
        let remote = (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2), 40_000);
        let isn = SeqNumber(99);
        for (offered, class) in
            [(1220, 1220), (1000, 1220), (1440, 1440), (1460, 1440), (9000, 8940)]
        {
            let cookie = c.encode(t(70), local, remote, isn, offered);
            assert_eq!(c.decode(t(70), local, remote, isn, cookie), Some(CookieMss { mss: class }));
        }
        let cookie = c.encode(t(70), local, remote, isn, 1440);
        // A difference in the address's last byte, beyond an IPv4 key's 4, is seen.
        let other = (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 3), 40_000);
        assert_eq!(c.decode(t(70), local, other, isn, cookie), None);
        let prefix = (Ipv6Addr::new(0x2001, 0xdb9, 0, 0, 0, 0, 0, 2), 40_000);
        assert_eq!(c.decode(t(70), local, prefix, isn, cookie), None);
    }

    #[test]
    fn rejects_wrong_inputs() {
        let c = SynCookies::new(KEY);
        let isn = SeqNumber(12345);
        let cookie = c.encode(t(500), LOCAL, REMOTE, isn, 1460);
        assert!(c.decode(t(500), LOCAL, REMOTE, isn, cookie).is_some());
        let other = (Ipv4Addr::new(198, 51, 100, 8), 40_000);
        assert_eq!(c.decode(t(500), LOCAL, other, isn, cookie), None);
        assert_eq!(c.decode(t(500), LOCAL, (REMOTE.0, 40_001), isn, cookie), None);
        assert_eq!(c.decode(t(500), (LOCAL.0, 81), REMOTE, isn, cookie), None);
        assert_eq!(c.decode(t(500), REMOTE, LOCAL, isn, cookie), None);
        assert_eq!(c.decode(t(500), LOCAL, REMOTE, isn + 1u32, cookie), None);
        assert_eq!(
            SynCookies::new(*b"syn-cookie-key!?").decode(t(500), LOCAL, REMOTE, isn, cookie),
            None
        );
        for bit in 0..32 {
            let flipped = SeqNumber(cookie.0 ^ (1 << bit));
            assert_eq!(c.decode(t(500), LOCAL, REMOTE, isn, flipped), None, "bit {bit}");
        }
    }

    #[test]
    fn expires_after_valid_periods() {
        let c = SynCookies::new(KEY);
        let isn = SeqNumber(7);
        let made = t(64 * 10 + 63); // last second of period 10
        let cookie = c.encode(made, LOCAL, REMOTE, isn, 1440);
        assert!(c.decode(made, LOCAL, REMOTE, isn, cookie).is_some());
        assert!(c.decode(t(64 * 11), LOCAL, REMOTE, isn, cookie).is_some());
        assert!(c.decode(t(64 * 11 + 63), LOCAL, REMOTE, isn, cookie).is_some());
        assert_eq!(c.decode(t(64 * 12), LOCAL, REMOTE, isn, cookie), None);
        // The counter wraps at 256 periods: a cookie 256 periods old must still fail.
        assert_eq!(c.decode(t(64 * (10 + 256)), LOCAL, REMOTE, isn, cookie), None);
        // A cookie from the future (clock went back) is refused.
        assert_eq!(c.decode(t(64 * 9), LOCAL, REMOTE, isn, cookie), None);
    }

    #[test]
    fn ts_options_round_trip() {
        for base in [0u32, 1, 63, 64, 0x1234_5678, 0xffff_ffc0, u32::MAX] {
            for wscale in [None, Some(0), Some(7), Some(14), Some(15), Some(200)] {
                for sack in [false, true] {
                    for ecn in [false, true] {
                        let ts = encode_ts_options(base, wscale, sack, ecn);
                        assert_ne!(ts, 0);
                        // Never ahead of the clock, and at most 127 behind it.
                        let behind = base.wrapping_sub(ts);
                        assert!(behind < 128, "base {base:#x} ts {ts:#x}");
                        let opts = decode_ts_options(ts).unwrap();
                        assert_eq!(opts.wscale, wscale.map(|w| w.min(14)));
                        assert_eq!(opts.sack_permitted, sack);
                        assert_eq!(opts.ecn, ecn);
                    }
                }
            }
        }
        assert_eq!(decode_ts_options(0), None);
    }
}
