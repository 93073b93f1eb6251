//! Per-connection tunables, with Linux-like defaults.

use super::cc::CongestionAlgorithm;
use crate::time::Duration;

/// Configuration of one TCP connection. `Default` gives values close to a stock Linux host.
///
/// Connections share one configuration (`Connection::config`, an `Arc` the stack keeps one
/// of per setting in use, copied for a connection only when a socket option changes it),
/// so its lines stay in the cache whatever the number of connections (docs/benchmarks.md,
/// "The configuration shared"; before, each connection held a copy and its per-segment
/// line was a miss per segment at 100,000 connections). `repr(C)` with the fields the
/// per-segment path reads in one 64-byte run, from `delayed_ack_timeout` to `rmem.max`
/// (57 of its bytes; the handshake's flags and `wmem.min` are the other 7), as that copy
/// needed: kept, as the shared one is read the same way (two lines of it at most).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct TcpConfig {
    // ----- read on handshakes, timeouts and probes (40 bytes before the per-segment run) -----
    /// RTO before any RTT sample (RFC 6298 §2.1): 1 s.
    pub initial_rto: Duration,
    /// Lower bound of the RTO: 200 ms (Linux `TCP_RTO_MIN`; RFC 6298 suggests 1 s).
    pub min_rto: Duration,
    /// Clock granularity `G` of RFC 6298 §2: 1 ms (timestamps tick in milliseconds).
    pub clock_granularity: Duration,
    /// Idle time before the first keepalive probe: 7200 s (`tcp_keepalive_time`).
    pub keepalive_idle: Duration,
    /// Interval between unanswered keepalive probes: 75 s (`tcp_keepalive_intvl`).
    pub keepalive_interval: Duration,
    // ----- read per segment: `delayed_ack_timeout` .. `flags`, then `wmem` and `rmem` but
    // their `min`s (64 bytes from `delayed_ack_timeout` to `rmem.max`) -----
    /// Delayed-ACK timer: 40 ms (Linux `TCP_DELACK_MIN`; RFC 1122 caps it at 500 ms).
    pub delayed_ack_timeout: Duration,
    /// `TCP_NOTSENT_LOWAT`: how many bytes may wait unsent before writes stop (`tcp::lowat`);
    /// `u32::MAX` (the default, Linux's `tcp_notsent_lowat`) leaves only the send buffer.
    pub notsent_lowat: u32,
    /// The MSS we advertise and the largest payload we send: 1460 (Ethernet MTU 1500 minus
    /// 40 bytes of IPv4 and TCP headers). Timestamps take 12 bytes out of it when negotiated.
    pub mss: u16,
    /// Initial congestion window in segments (RFC 6928): 10. (16 bits: Linux caps the route
    /// metric it comes from far lower, and the configuration fits `Connection`'s budget.)
    pub initial_cwnd_segments: u16,
    /// The on/off settings, one bit each (delayed ACKs, Nagle, keepalive, RACK, pacing,
    /// F-RTO): read and set them with the accessors below ([`TcpConfig::nodelay`],
    /// [`TcpConfig::set_nodelay`], [`TcpConfig::with_nodelay`], ...). One byte instead of
    /// one per setting keeps the per-segment fields in their line of `Connection` and
    /// left room for `frto` (`connection::layout`).
    pub flags: TcpFlags,
    // ----- read on handshakes (they fill the word of `flags`, with no padding) -----
    /// Offer window scaling (RFC 7323 §2): on.
    pub window_scaling: bool,
    /// Offer timestamps (RFC 7323 §3): on.
    pub timestamps: bool,
    /// Offer SACK (RFC 2018): on. This engine generates SACK blocks as a receiver.
    pub sack: bool,
    /// Negotiate ECN (RFC 3168) and react to congestion marks: off, like Linux for active
    /// opens (`tcp_ecn` = 2 accepts it when asked; here both sides must enable it).
    pub ecn: bool,
    /// Congestion-control algorithm: CUBIC (RFC 9438), the Linux default.
    pub congestion: CongestionAlgorithm,
    /// SYN retransmissions before an active open gives up: 6 (`tcp_syn_retries`).
    pub syn_retries: u8,
    /// SYN-ACK retransmissions before a passive open gives up: 5 (`tcp_synack_retries`).
    pub synack_retries: u8,
    // ----- read per segment but for the two `min`s (last in each `BufferSizes`) -----
    /// Send buffer sizes (Linux `tcp_wmem`): the most bytes queued and unacknowledged starts
    /// at `default` and grows with the congestion window up to `max` (`tcp_sndbuf_expand`).
    /// `4096 16384 4194304`. Memory is taken in chunks as data is queued, never up front.
    pub wmem: BufferSizes,
    /// Receive buffer sizes (Linux `tcp_rmem`): the window offered starts at `default` and
    /// grows with what the application reads per round trip up to `max`
    /// (`tcp_rcv_space_adjust`); `max` also sets the window scale we offer.
    /// `4096 131072 33554432`.
    pub rmem: BufferSizes,
    // ----- read on timeouts and probes -----
    /// `TCP_USER_TIMEOUT` (RFC 5482): how long sent data may stay unacknowledged before the
    /// connection times out, in place of the `retries2` count; `None` (the default) leaves
    /// the count in charge.
    pub user_timeout: Option<Duration>,
    /// Maximum segment lifetime: 30 s, so TIME-WAIT lasts 2·MSL = 60 s like Linux.
    pub msl: Duration,
    /// How long a connection the application has closed waits in FIN-WAIT-2 for the peer's
    /// FIN before it is reset and freed: 60 s (`tcp_fin_timeout`). RFC 9293 sets no limit,
    /// so a peer that acknowledges our FIN and never sends its own would otherwise hold the
    /// connection (and its memory) forever. A connection whose application still reads
    /// (after `shutdown_write` only) waits as long as the peer keeps it open, as in Linux.
    pub fin_timeout: Duration,
    /// Upper bound of the RTO and of the persist interval: 120 s (Linux `TCP_RTO_MAX`).
    pub max_rto: Duration,
    /// Challenge ACKs sent per second at most (RFC 5961 §7): 1000 (Linux
    /// `tcp_challenge_ack_limit`; applied per connection here, where 16 bits are plenty).
    pub challenge_ack_limit: u16,
    /// Data/FIN retransmissions before the connection times out: 15 (`tcp_retries2`).
    pub retries2: u8,
    /// Unanswered probes before the connection is dropped: 9 (`tcp_keepalive_probes`).
    pub keepalive_count: u8,
}

impl TcpConfig {
    /// A stock Linux host's TCP, every value named after the Linux constant or sysctl it
    /// copies (quick-ACK mode is not modelled). This is also [`Default`].
    pub const fn linux() -> TcpConfig {
        TcpConfig {
            // Ethernet MTU 1500 less 40 bytes of IPv4 and TCP headers.
            mss: 1460,
            // net.ipv4.tcp_wmem and tcp_rmem as read on Linux 6.18 here.
            wmem: BufferSizes { min: 4096, default: 16384, max: 4 << 20 },
            rmem: BufferSizes { min: 4096, default: 128 << 10, max: 32 << 20 },
            // TCP_TIMEOUT_INIT (RFC 6298 §2.1).
            initial_rto: Duration::from_secs(1),
            // TCP_RTO_MIN.
            min_rto: Duration::from_millis(200),
            // TCP_RTO_MAX.
            max_rto: Duration::from_secs(120),
            clock_granularity: Duration::from_millis(1),
            // tcp_syn_retries, tcp_synack_retries, tcp_retries2.
            syn_retries: 6,
            synack_retries: 5,
            retries2: 15,
            // Delayed ACKs, Nagle, RACK-TLP (tcp_recovery = 1) and F-RTO (tcp_frto = 2) on;
            // keepalive off; no pacing (no fq qdisc: Linux paces only under fq or when a CC
            // asks for it).
            flags: TcpFlags::LINUX.with(TcpFlags::SEND_FAST, true),
            // TCP_DELACK_MIN.
            delayed_ack_timeout: Duration::from_millis(40),
            // tcp_keepalive_time, tcp_keepalive_intvl, tcp_keepalive_probes.
            keepalive_idle: Duration::from_secs(7200),
            keepalive_interval: Duration::from_secs(75),
            keepalive_count: 9,
            // TCP_TIMEWAIT_LEN is 60 s = 2·MSL.
            msl: Duration::from_secs(30),
            // net.ipv4.tcp_fin_timeout.
            fin_timeout: Duration::from_secs(60),
            // tcp_window_scaling, tcp_timestamps, tcp_sack.
            window_scaling: true,
            timestamps: true,
            sack: true,
            // tcp_challenge_ack_limit.
            challenge_ack_limit: 1000,
            // TCP_INIT_CWND (RFC 6928).
            initial_cwnd_segments: 10,
            // net.ipv4.tcp_congestion_control = cubic.
            congestion: CongestionAlgorithm::Cubic,
            // tcp_ecn = 2 does not ask for ECN on active opens.
            ecn: false,
            user_timeout: None,
            notsent_lowat: u32::MAX,
        }
    }
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig::linux()
    }
}

impl TcpConfig {
    /// The window-scale shift we offer, computed as Linux's `tcp_select_initial_window` does
    /// for the largest receive buffer auto-tuning may reach: `ilog2(rmem.max) - 15`, so that
    /// the largest window fits the 16-bit field, clamped to 0..=14 (RFC 7323 §2.3). 32 MiB
    /// gives 10 (Linux 6.18 here), 6 MiB gives 7, 128 KiB gives 2.
    pub fn recv_window_scale(&self) -> u8 {
        let space = self.rmem.max.max(1);
        (space.ilog2().saturating_sub(15)).min(14) as u8
    }

    /// This configuration with fixed buffers of `send` and `recv` bytes (no auto-tuning), as
    /// `SO_SNDBUF`/`SO_RCVBUF` give.
    pub fn with_fixed_buffers(mut self, send: usize, recv: usize) -> Self {
        self.wmem = BufferSizes::fixed(send);
        self.rmem = BufferSizes::fixed(recv);
        self
    }
}

/// The on/off settings of [`TcpConfig`], one bit each. Build one with the `with_*` methods
/// of [`TcpConfig`] or read it through its getters; the bits themselves stay private so the
/// set can be reordered freely.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TcpFlags(u8);

/// Declares each flag once: its bit, its getter, setter and builder on [`TcpConfig`], and its
/// name in `Debug`.
macro_rules! tcp_flags {
    ($( $(#[$doc:meta])* $bit:ident = $value:literal, $get:ident, $set:ident, $with:ident; )*) => {
        impl TcpFlags {
            $( const $bit: u8 = $value; )*

            fn get(self, bit: u8) -> bool {
                self.0 & bit != 0
            }

            const fn with(self, bit: u8, on: bool) -> Self {
                TcpFlags(if on { self.0 | bit } else { self.0 & !bit })
            }

            $(
                #[inline]
                pub(crate) fn $get(self) -> bool {
                    self.get(TcpFlags::$bit)
                }
            )*
        }

        impl TcpConfig {
            $(
                $(#[$doc])*
                #[inline]
                pub fn $get(&self) -> bool {
                    self.flags.get(TcpFlags::$bit)
                }

                #[doc = concat!("Sets [`", stringify!($get), "`](Self::", stringify!($get), ").")]
                pub fn $set(&mut self, on: bool) {
                    self.flags = self.flags.with(TcpFlags::$bit, on);
                }

                #[doc = concat!("This configuration with [`", stringify!($get), "`](Self::",
                    stringify!($get), ") set to `on`.")]
                pub const fn $with(mut self, on: bool) -> Self {
                    self.flags = self.flags.with(TcpFlags::$bit, on);
                    self
                }
            )*
        }

        impl core::fmt::Debug for TcpFlags {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct("TcpFlags")
                    $( .field(stringify!($get), &self.get(TcpFlags::$bit)) )*
                    .finish()
            }
        }
    };
}

tcp_flags! {
    /// Whether ACKs are delayed (RFC 1122 §4.2.3.2): on.
    DELAYED_ACK = 1, delayed_ack, set_delayed_ack, with_delayed_ack;
    /// Disable Nagle's algorithm (`TCP_NODELAY`): off, so Nagle is on.
    NODELAY = 2, nodelay, set_nodelay, with_nodelay;
    /// Send keepalive probes (`SO_KEEPALIVE`): off.
    KEEPALIVE = 4, keepalive, set_keepalive, with_keepalive;
    /// Use RACK-TLP loss detection (RFC 8985) when SACK is negotiated: on, as in Linux. Off
    /// means RFC 6675 duplicate-threshold marking and no tail loss probes.
    RACK = 8, rack, set_rack, with_rack;
    /// Pace new data as Linux does when it paces (fq, or a congestion control that asks for
    /// it): at `max(cwnd, in flight) / SRTT` times 2 while cwnd is under half of ssthresh and
    /// 1.2 after, from the tenth segment on, per TSO packet (`Connection::pacing_sent`),
    /// instead of sending whole windows back to back: off, as on a Linux host without fq.
    PACING = 16, pacing, set_pacing, with_pacing;
    /// Detect spurious retransmission timeouts with F-RTO (RFC 5682) and undo their
    /// congestion response (`recovery::frto`): on, as Linux's `tcp_frto` = 2. Linux no
    /// longer tells its values 1 (basic) and 2 (SACK-enhanced) apart: since its 2013
    /// rewrite (`tcp_enter_loss` sets `tp->frto` from `sysctl_tcp_frto` being non-zero)
    /// every non-zero value runs the one algorithm, which uses SACK whenever the connection
    /// negotiated it. Off: every timeout's response stays, as with `tcp_frto` = 0.
    FRTO = 32, frto, set_frto, with_frto;
    /// Plan the common data segment of an ESTABLISHED connection beside the general planner
    /// (`tcp::send_fast`; issue 11): on. Off changes nothing but speed (every segment takes
    /// the general planner, which `tests/tcp_send_fast_equiv.rs` holds the fast path to);
    /// for tests and benchmarks. Linux has no such switch.
    SEND_FAST = 64, send_fast, set_send_fast, with_send_fast;
}

impl TcpFlags {
    /// Linux's defaults: delayed ACKs, Nagle, RACK-TLP and F-RTO on; keepalive and pacing
    /// off.
    pub const LINUX: TcpFlags = TcpFlags(TcpFlags::DELAYED_ACK | TcpFlags::RACK | TcpFlags::FRTO);
}

/// A Linux `tcp_rmem`/`tcp_wmem` triple, in bytes.
///
/// `repr(C)` with `min` last: a segment reads `default` and `max`, never `min`, so in
/// [`TcpConfig`] `rmem.min` falls just past the per-segment run (`wmem.min` stays inside it,
/// in the room the handshake's flags leave).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct BufferSizes {
    /// Size a connection starts with.
    pub default: usize,
    /// Most auto-tuning grows it to.
    pub max: usize,
    /// Least the buffer is ever allowed (also under memory pressure).
    pub min: usize,
}

impl BufferSizes {
    /// One size that never changes: auto-tuning off, as after `SO_RCVBUF`/`SO_SNDBUF`
    /// (Linux's `SOCK_RCVBUF_LOCK`/`SOCK_SNDBUF_LOCK`).
    pub const fn fixed(bytes: usize) -> Self {
        BufferSizes { min: bytes, default: bytes, max: bytes }
    }

    /// Whether auto-tuning may grow the buffer.
    pub fn tunable(&self) -> bool {
        self.max > self.default
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_keep_linux_defaults_and_change_one_at_a_time() {
        let c = TcpConfig::default();
        assert!(c.delayed_ack() && !c.nodelay() && !c.keepalive());
        assert!(c.rack() && !c.pacing() && c.frto(), "tcp_recovery = 1, no fq, tcp_frto = 2");
        let mut d = c.with_frto(false).with_pacing(true);
        assert!(!d.frto() && d.pacing() && d.rack() && d.delayed_ack());
        d.set_frto(true);
        d.set_pacing(false);
        assert_eq!(d, c);
        d.set_nodelay(true);
        assert!(d.nodelay() && d != c);
        // One byte for all of them: the configuration stays at its 160 bytes
        // (`connection::layout`).
        assert_eq!(size_of::<TcpFlags>(), 1);
        assert_eq!(size_of::<TcpConfig>(), 160);
    }

    #[test]
    fn window_scale_covers_the_largest_buffer_as_linux_computes_it() {
        let mut c = TcpConfig::default();
        assert_eq!(c.recv_window_scale(), 10, "tcp_rmem[2] = 32 MiB on Linux 6.18 offers 10");
        c.rmem = BufferSizes::fixed(65535);
        assert_eq!(c.recv_window_scale(), 0);
        c.rmem.max = 65536;
        assert_eq!(c.recv_window_scale(), 1);
        c.rmem.max = 128 * 1024;
        assert_eq!(c.recv_window_scale(), 2);
        c.rmem.max = 6 << 20;
        assert_eq!(c.recv_window_scale(), 7, "the older 6 MiB maximum offers 7");
        c.rmem.max = usize::MAX;
        assert_eq!(c.recv_window_scale(), 14);
        // The largest buffer fits the 16-bit field at that scale.
        c.rmem.max = 32 << 20;
        assert!((c.rmem.max >> c.recv_window_scale()) <= usize::from(u16::MAX));
    }
}
