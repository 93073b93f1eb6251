//! Passive open: the listening socket (RFC 9293 §3.10.7.2), with Linux's two queues and SYN
//! cookies (RFC 4987 §3.6).
//!
//! A [`Listener`] owns no connections. Its owner (the stack facade) keeps every half-open
//! connection in its flow table, so the ACK completing a handshake is matched by 4-tuple like
//! any other segment, and tells the listener when a connection enters or leaves a queue:
//!
//! - the **SYN queue** counts connections in SYN-RECEIVED created from one of our SYNs. Its
//!   SYN-ACK retransmissions are the connection's own timer (`TcpConfig::synack_retries`);
//! - the **accept queue** holds established connections the application has not accepted.
//!
//! Both are bounded by the backlog. Decisions follow Linux (`tcp_conn_request`,
//! `tcp_check_req`, `syn_flood_warning`):
//! - a SYN while the accept queue is full is dropped (`ListenOverflows`, `ListenDrops`): there
//!   would be nowhere to put the connection, and the client will retry;
//! - a SYN while the SYN queue is full gets a SYN cookie if cookies are enabled
//!   (`SyncookiesSent`), and is dropped otherwise (`ListenDrops`);
//! - the ACK completing a handshake while the accept queue is full is dropped by default, so
//!   the client retransmits it (or the server its SYN-ACK) until there is room
//!   ([`OverflowPolicy::Drop`]); [`OverflowPolicy::Reset`] answers RST instead (Linux
//!   `tcp_abort_on_overflow`).
//!
//! Cookies carry the MSS class in the ISN; window scaling and SACK survive only when the SYN
//! carried timestamps, through the low bits of our TSval (as Linux does). Without timestamps
//! the cookie SYN-ACK offers neither, so both ends agree they are off.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use super::config::TcpConfig;
use super::connection::CookieOptions;
use super::segment::{Flags, Segment, SegmentHeader, SegmentOptions};
use super::syncookie::{self, SynCookies, COUNTER_PERIOD, VALID_PERIODS};
use super::SeqNumber;
use crate::flow::FlowHandle;
use crate::time::Instant;

/// When SYN cookies are used (Linux `tcp_syncookies`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieMode {
    /// Never: a SYN that finds the SYN queue full is dropped.
    Never,
    /// Only when the SYN queue is full (Linux default, `tcp_syncookies = 1`).
    WhenFull,
    /// For every SYN (`tcp_syncookies = 2`), mostly for testing.
    Always,
}

/// What happens to the ACK completing a handshake when the accept queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverflowPolicy {
    /// Drop the ACK; the connection stays in SYN-RECEIVED and the handshake completes later
    /// (Linux default).
    Drop,
    /// Reset the connection (Linux `tcp_abort_on_overflow = 1`).
    Reset,
}

/// Listener tunables, Linux-like by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenConfig {
    /// SYN cookie use: [`CookieMode::WhenFull`].
    pub cookies: CookieMode,
    /// Accept-queue overflow: [`OverflowPolicy::Drop`].
    pub overflow: OverflowPolicy,
    /// Largest backlog accepted by `listen` (Linux `somaxconn`): 4096.
    pub max_backlog: usize,
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            cookies: CookieMode::WhenFull,
            overflow: OverflowPolicy::Drop,
            max_backlog: 4096,
        }
    }
}

/// Listener counters, named after Linux `TcpExt` ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenCounters {
    /// SYN cookies sent (`SyncookiesSent`).
    pub syncookies_sent: u64,
    /// Valid cookie ACKs received (`SyncookiesRecv`).
    pub syncookies_recv: u64,
    /// ACKs that failed cookie validation while cookies were in use (`SyncookiesFailed`).
    pub syncookies_failed: u64,
    /// Handshakes that found the accept queue full (`ListenOverflows`).
    pub listen_overflows: u64,
    /// SYNs and handshakes dropped for any reason (`ListenDrops`).
    pub listen_drops: u64,
    /// Half-open connections given up after [`PRESSED_SYNACK_RETRIES`] because the SYN
    /// queue was crowded (no Linux counter of its own: `reqsk_timer_handler` drops them).
    pub syn_queue_pruned: u64,
}

impl ListenCounters {
    /// Adds `o` into `self`.
    pub fn add(&mut self, o: &ListenCounters) {
        self.syncookies_sent += o.syncookies_sent;
        self.syncookies_recv += o.syncookies_recv;
        self.syncookies_failed += o.syncookies_failed;
        self.listen_overflows += o.listen_overflows;
        self.listen_drops += o.listen_drops;
        self.syn_queue_pruned += o.syn_queue_pruned;
    }
}

/// SYN-ACK retransmissions a half-open connection gets while its listener's SYN queue is
/// more than half full, instead of `TcpConfig::synack_retries` (5, 63 s). Linux's
/// `reqsk_timer_handler` lowers its threshold towards 2 when the queue is that full of
/// requests already retransmitted: without it, a flood's entries would keep a queue full
/// (and, without cookies, every legitimate SYN out) for a minute after the flood ended.
pub const PRESSED_SYNACK_RETRIES: u32 = 2;

/// What to do with a SYN that reached a listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynAction {
    /// Create a connection in SYN-RECEIVED (then call [`Listener::syn_queued`]).
    Queue,
    /// Answer statelessly with this SYN-ACK (a cookie); keep nothing.
    Cookie(SegmentHeader),
    /// Drop the SYN (counted).
    Drop,
}

/// What to do with a segment without SYN that reached a listener (no connection matched).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckAction {
    /// A valid cookie: build the connection with [`Open::Cookie`](super::Open::Cookie) and these values,
    /// then [`Listener::push_accepted`].
    Cookie {
        /// Our ISS (the cookie).
        iss: SeqNumber,
        /// What the cookie (and timestamp) carried.
        options: CookieOptions,
    },
    /// Answer with this RST (RFC 9293 §3.10.7.2: an ACK in LISTEN is bad).
    Reset(SegmentHeader),
    /// Drop silently (a RST, or a cookie ACK that found the accept queue full).
    Drop,
}

/// One listening socket's queues and policy.
#[derive(Debug)]
pub struct Listener {
    local: SocketAddr,
    backlog: usize,
    config: ListenConfig,
    tcp: TcpConfig,
    syn_queue_len: usize,
    accept_queue: VecDeque<FlowHandle>,
    last_cookie_sent: Option<Instant>,
    counters: ListenCounters,
    /// `IPV6_V6ONLY` on a `::` listener: IPv4 segments do not reach it.
    ipv6_only: bool,
}

impl Listener {
    /// A listener on `local` (the address may be unspecified: any of ours; `::` takes both
    /// families, `0.0.0.0` IPv4 only) with `backlog` (clamped to 1..=`config.max_backlog`),
    /// giving its connections `tcp`.
    pub fn new(
        local: impl Into<SocketAddr>,
        backlog: usize,
        config: ListenConfig,
        tcp: TcpConfig,
    ) -> Self {
        let local = local.into();
        let backlog = backlog.clamp(1, config.max_backlog.max(1));
        Listener {
            local,
            backlog,
            config,
            tcp,
            syn_queue_len: 0,
            accept_queue: VecDeque::with_capacity(backlog),
            last_cookie_sent: None,
            counters: ListenCounters::default(),
            ipv6_only: false,
        }
    }

    /// The bound address.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Whether segments over IPv6 may reach this listener: bound to an IPv6 address or to
    /// `::` (which takes IPv4 too, as Linux with `IPV6_V6ONLY` off).
    pub fn takes_ipv6(&self) -> bool {
        self.local.is_ipv6()
    }

    /// Whether segments over IPv4 may reach this listener: all but a `::` one made IPv6-only
    /// ([`set_ipv6_only`](Self::set_ipv6_only)).
    pub fn takes_ipv4(&self) -> bool {
        !(self.local.is_ipv6() && self.ipv6_only)
    }

    /// `IPV6_V6ONLY` (RFC 3493 §5.3): a listener on `::` takes IPv6 only. No effect on one
    /// bound to `0.0.0.0` or to an address, which take one family already. Set by
    /// `Stack::tcp_listen_ipv6_only`, which keys such a listener apart from `0.0.0.0`.
    pub fn set_ipv6_only(&mut self, on: bool) {
        self.ipv6_only = on;
    }

    /// The effective backlog.
    pub fn backlog(&self) -> usize {
        self.backlog
    }

    /// The configuration of connections made by this listener.
    pub fn tcp_config(&self) -> &TcpConfig {
        &self.tcp
    }

    /// Changes the configuration of connections made from now on (socket options set on a
    /// listening socket, e.g. `TCP_MAXSEG`, reach the SYN-ACKs that follow, as in Linux).
    pub fn set_tcp_config(&mut self, tcp: TcpConfig) {
        self.tcp = tcp;
    }

    /// The listener policy.
    pub fn config(&self) -> &ListenConfig {
        &self.config
    }

    /// Half-open connections counted in the SYN queue.
    pub fn syn_queue_len(&self) -> usize {
        self.syn_queue_len
    }

    /// Established connections waiting for accept.
    pub fn accept_queue_len(&self) -> usize {
        self.accept_queue.len()
    }

    /// Counters of this listener.
    pub fn counters(&self) -> &ListenCounters {
        &self.counters
    }

    /// Whether the accept queue has room for one more connection.
    pub fn accept_room(&self) -> bool {
        self.accept_queue.len() < self.backlog
    }

    /// Decides what to do with a SYN (no ACK, no RST) from `remote`. `local` is the address
    /// it was sent to; the cookie, if any, is made with `cookies` at `now`.
    pub fn on_syn(
        &mut self,
        now: Instant,
        cookies: &SynCookies,
        local: impl Into<SocketAddr>,
        remote: impl Into<SocketAddr>,
        syn: &Segment<'_>,
    ) -> SynAction {
        let (local, remote) = (local.into(), remote.into());
        if !self.accept_room() {
            // Linux `tcp_conn_request`: no room to ever accept it.
            self.counters.listen_overflows += 1;
            self.counters.listen_drops += 1;
            return SynAction::Drop;
        }
        let full = self.syn_queue_len >= self.backlog;
        let use_cookie = match self.config.cookies {
            CookieMode::Always => true,
            CookieMode::WhenFull => full,
            CookieMode::Never => false,
        };
        if use_cookie {
            self.counters.syncookies_sent += 1;
            self.last_cookie_sent = Some(now);
            return SynAction::Cookie(self.cookie_synack(now, cookies, local, remote, syn));
        }
        if full {
            self.counters.listen_drops += 1;
            return SynAction::Drop;
        }
        SynAction::Queue
    }

    /// The stateless SYN-ACK carrying a cookie (RFC 4987 §3.6).
    fn cookie_synack(
        &self,
        now: Instant,
        cookies: &SynCookies,
        local: SocketAddr,
        remote: SocketAddr,
        syn: &Segment<'_>,
    ) -> SegmentHeader {
        let peer_mss = syn.options.mss.unwrap_or(default_peer_mss(local));
        let iss = cookies.encode(now, local, remote, syn.seq, peer_mss);
        let tcp = &self.tcp;
        let mut options = SegmentOptions { mss: Some(tcp.mss), ..Default::default() };
        if let (true, Some((tsval, _))) = (tcp.timestamps, syn.options.timestamps) {
            let ws = syn.options.window_scale.filter(|_| tcp.window_scaling);
            let sack = syn.options.sack_permitted && tcp.sack;
            // The connection built from the cookie stamps with the same clock and keyed
            // offset (the stack sets it), so our later TSvals never run behind this one.
            let offset = cookies.ts_offset(local, remote);
            let base = (now.total_millis() as u32).wrapping_add(offset);
            let ts = syncookie::encode_ts_options(base, ws, sack, false);
            options.timestamps = Some((ts, tsval));
            options.window_scale = ws.map(|_| tcp.recv_window_scale());
            options.sack_permitted = sack;
        }
        SegmentHeader {
            seq: iss,
            ack: Some(syn.seq + 1u32),
            flags: Flags::SYN | Flags::ACK,
            // RFC 7323 §2.2: the window of a SYN-ACK is never scaled.
            window: tcp.rmem.default.min(usize::from(u16::MAX)) as u16,
            options,
        }
    }

    /// Records a connection created after [`SynAction::Queue`].
    pub fn syn_queued(&mut self) {
        self.syn_queue_len += 1;
    }

    /// Whether the SYN queue is more than half full (at least 8 places counted, as Linux's
    /// `max(8, sk_max_ack_backlog)`): its half-open connections then get only
    /// [`PRESSED_SYNACK_RETRIES`].
    pub fn syn_queue_crowded(&self) -> bool {
        self.syn_queue_len * 2 > self.backlog.max(8)
    }

    /// Counts a half-open connection given up because the SYN queue was crowded.
    pub fn syn_pruned(&mut self) {
        self.counters.syn_queue_pruned += 1;
    }

    /// Records that a connection left the SYN queue (established, failed or reset).
    pub fn syn_dequeued(&mut self) {
        self.syn_queue_len = self.syn_queue_len.saturating_sub(1);
    }

    /// Counts a handshake-completing ACK that found the accept queue full; returns the policy.
    pub fn on_overflow(&mut self) -> OverflowPolicy {
        self.counters.listen_overflows += 1;
        self.counters.listen_drops += 1;
        self.config.overflow
    }

    /// Queues an established connection for accept. Returns `false` (and counts an overflow)
    /// when the queue is full; the caller then disposes of the connection.
    pub fn push_accepted(&mut self, handle: FlowHandle) -> bool {
        if !self.accept_room() {
            self.counters.listen_overflows += 1;
            self.counters.listen_drops += 1;
            return false;
        }
        self.accept_queue.push_back(handle);
        true
    }

    /// The oldest established connection, removed from the accept queue.
    pub fn accept(&mut self) -> Option<FlowHandle> {
        self.accept_queue.pop_front()
    }

    /// Empties the accept queue (when the listener closes), for the caller to abort each.
    pub fn drain_accept_queue(&mut self) -> impl Iterator<Item = FlowHandle> + '_ {
        self.accept_queue.drain(..)
    }

    /// RFC 9293 §3.10.7.2 for a segment without SYN that matched no connection: a RST is
    /// ignored, an ACK is either a valid cookie or answered by a RST, anything else dropped.
    pub fn on_non_syn(
        &mut self,
        now: Instant,
        cookies: &SynCookies,
        local: impl Into<SocketAddr>,
        remote: impl Into<SocketAddr>,
        seg: &Segment<'_>,
    ) -> AckAction {
        let (local, remote) = (local.into(), remote.into());
        if seg.flags.rst() {
            return AckAction::Drop;
        }
        let Some(ack) = seg.ack else {
            return AckAction::Drop;
        };
        if self.cookies_recent(now) && !seg.flags.syn() {
            let client_isn = seg.seq - 1u32;
            let cookie = ack - 1u32;
            let decoded = cookies.decode(now, local, remote, client_isn, cookie);
            match decoded {
                Some(c) => {
                    if !self.accept_room() {
                        self.counters.listen_overflows += 1;
                        self.counters.listen_drops += 1;
                        return AckAction::Drop;
                    }
                    self.counters.syncookies_recv += 1;
                    return AckAction::Cookie {
                        iss: cookie,
                        options: self.cookie_options(c.mss, seg),
                    };
                }
                None => self.counters.syncookies_failed += 1,
            }
        }
        seg.reset_reply().map_or(AckAction::Drop, AckAction::Reset)
    }

    /// Whether a cookie sent recently might still come back (Linux only validates cookies
    /// while `tcp_synq_no_recent_overflow` is false, sparing the hash on ordinary stray ACKs).
    fn cookies_recent(&self, now: Instant) -> bool {
        let window = COUNTER_PERIOD.saturating_mul(VALID_PERIODS);
        self.last_cookie_sent.is_some_and(|t| now.saturating_duration_since(t) <= window)
    }

    /// The options a valid cookie ACK lets us rebuild.
    fn cookie_options(&self, mss: u16, ack: &Segment<'_>) -> CookieOptions {
        let from_ts = match (self.tcp.timestamps, ack.options.timestamps) {
            (true, Some((_, tsecr))) => syncookie::decode_ts_options(tsecr),
            _ => None,
        };
        match from_ts {
            Some(o) => CookieOptions {
                mss,
                window_scale: o.wscale.filter(|_| self.tcp.window_scaling),
                sack_permitted: o.sack_permitted && self.tcp.sack,
                timestamps: true,
            },
            None => {
                CookieOptions { mss, window_scale: None, sack_permitted: false, timestamps: false }
            }
        }
    }
}

/// The local address to use for a connection accepted by a listener bound to `bound` when the
/// segment was sent to `dst`.
pub fn accepted_local(bound: SocketAddr, dst: impl Into<IpAddr>) -> SocketAddr {
    SocketAddr::new(if bound.ip().is_unspecified() { dst.into() } else { bound.ip() }, bound.port())
}

/// The MSS to assume of a peer that sent no MSS option: 536 over IPv4 (RFC 9293 §3.7.1), 1220
/// over IPv6 (RFC 8200 §5: the minimum link MTU 1280, less 60 bytes of headers).
pub fn default_peer_mss(local: SocketAddr) -> u16 {
    if local.is_ipv6() {
        1220
    } else {
        536
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::FlowKey;
    use crate::flow::FlowTable;
    use crate::tcp::Connection;
    use crate::tcp::{ConnectionParams, Open};
    use crate::time::Duration;
    use std::net::{Ipv4Addr, SocketAddrV4};

    const L: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80);
    const R: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 40000);

    fn syn(seq: u32, ts: bool) -> Segment<'static> {
        Segment {
            seq: SeqNumber(seq),
            ack: None,
            flags: Flags::SYN,
            window: 65535,
            options: SegmentOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                sack_blocks: Default::default(),
                timestamps: ts.then_some((1000, 0)),
            },
            payload: &[],
        }
    }

    fn handles(n: usize) -> Vec<FlowHandle> {
        let mut t: FlowTable<()> = FlowTable::new(n, [1; 16]);
        (0..n)
            .map(|i| {
                let key = FlowKey {
                    local_ip: *L.ip(),
                    local_port: 80,
                    remote_ip: *R.ip(),
                    remote_port: 1000 + i as u16,
                };
                t.insert(key, ()).unwrap()
            })
            .collect()
    }

    fn listener(backlog: usize, cookies: CookieMode, overflow: OverflowPolicy) -> Listener {
        let cfg = ListenConfig { cookies, overflow, ..ListenConfig::default() };
        Listener::new(L, backlog, cfg, TcpConfig::default())
    }

    #[test]
    fn syn_queue_bounded_by_backlog_then_drops_without_cookies() {
        let ck = SynCookies::new([9; 16]);
        let mut l = listener(2, CookieMode::Never, OverflowPolicy::Drop);
        let now = Instant::from_millis(5);
        for _ in 0..2 {
            assert_eq!(l.on_syn(now, &ck, L, R, &syn(1, false)), SynAction::Queue);
            l.syn_queued();
        }
        assert_eq!(l.on_syn(now, &ck, L, R, &syn(1, false)), SynAction::Drop);
        assert_eq!(l.counters().listen_drops, 1);
        l.syn_dequeued();
        assert_eq!(l.on_syn(now, &ck, L, R, &syn(1, false)), SynAction::Queue);
    }

    #[test]
    fn syn_queue_full_sends_cookie() {
        let ck = SynCookies::new([9; 16]);
        let mut l = listener(1, CookieMode::WhenFull, OverflowPolicy::Drop);
        let now = Instant::from_millis(5);
        assert_eq!(l.on_syn(now, &ck, L, R, &syn(1, true)), SynAction::Queue);
        l.syn_queued();
        let SynAction::Cookie(h) = l.on_syn(now, &ck, L, R, &syn(77, true)) else {
            panic!("expected a cookie");
        };
        assert_eq!(h.flags, Flags::SYN | Flags::ACK);
        assert_eq!(h.ack, Some(SeqNumber(78)));
        assert!(ck.decode(now, (*L.ip(), 80), (*R.ip(), 40000), SeqNumber(77), h.seq).is_some());
        let (tsval, tsecr) = h.options.timestamps.unwrap();
        assert_eq!(tsecr, 1000);
        let o = syncookie::decode_ts_options(tsval).unwrap();
        assert_eq!(o.wscale, Some(7));
        assert!(o.sack_permitted);
        assert_eq!(l.counters().syncookies_sent, 1);
    }

    #[test]
    fn cookie_without_timestamps_offers_no_scaling_or_sack() {
        let ck = SynCookies::new([9; 16]);
        let mut l = listener(4, CookieMode::Always, OverflowPolicy::Drop);
        let SynAction::Cookie(h) = l.on_syn(Instant::ZERO, &ck, L, R, &syn(5, false)) else {
            panic!("expected a cookie");
        };
        assert_eq!(h.options.window_scale, None);
        assert!(!h.options.sack_permitted);
        assert_eq!(h.options.timestamps, None);
        assert_eq!(h.options.mss, Some(1460));
    }

    fn final_ack(synack: &SegmentHeader, client_isn: u32, data: &'static [u8]) -> Segment<'static> {
        Segment {
            seq: SeqNumber(client_isn) + 1u32,
            ack: Some(synack.seq + 1u32),
            flags: Flags::ACK,
            window: 1000,
            options: SegmentOptions {
                timestamps: synack.options.timestamps.map(|(v, _)| (2000, v)),
                ..Default::default()
            },
            payload: data,
        }
    }

    #[test]
    fn options_set_after_listen_reach_later_syn_acks() {
        let ck = SynCookies::new([9; 16]);
        let mut l = listener(4, CookieMode::Always, OverflowPolicy::Drop);
        // TCP_MAXSEG on the listening socket: the next SYN-ACK announces it.
        l.set_tcp_config(TcpConfig { mss: 1100, ..*l.tcp_config() });
        let SynAction::Cookie(h) = l.on_syn(Instant::ZERO, &ck, L, R, &syn(5, false)) else {
            panic!("expected a cookie");
        };
        assert_eq!(h.options.mss, Some(1100));
    }

    #[test]
    fn valid_cookie_ack_builds_established_connection() {
        let ck = SynCookies::new([3; 16]);
        let mut l = listener(4, CookieMode::Always, OverflowPolicy::Drop);
        let now = Instant::from_millis(100);
        let SynAction::Cookie(h) = l.on_syn(now, &ck, L, R, &syn(500, true)) else {
            panic!("expected a cookie");
        };
        let later = now + Duration::from_millis(30);
        let ack = final_ack(&h, 500, b"hello");
        let AckAction::Cookie { iss, options } = l.on_non_syn(later, &ck, L, R, &ack) else {
            panic!("cookie rejected");
        };
        assert_eq!(iss, h.seq);
        assert_eq!(options.window_scale, Some(7));
        assert!(options.sack_permitted && options.timestamps);
        assert_eq!(options.mss, 1460);
        let mut pool = crate::tcp::ChunkPool::unbounded();
        let mut c = Connection::new(ConnectionParams {
            now: later,
            config: (*l.tcp_config()).into(),
            local: L,
            remote: R,
            iss,
            open: Open::Cookie { options, ack: &ack, pool: &mut pool },
        });
        // As the stack does: the keyed offset the cookie's SYN-ACK was stamped with.
        c.set_ts_offset(ck.ts_offset((*L.ip(), L.port()), (*R.ip(), R.port())));
        assert_eq!(c.state(), crate::tcp::State::Established);
        let mut buf = [0u8; 16];
        assert_eq!(c.recv(&mut pool, &mut buf), 5);
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(l.counters().syncookies_recv, 1);
        // The connection's own timestamps never run behind the cookie's.
        let t = c.poll_transmit(later, &mut pool).unwrap();
        let (tsval, _) = t.header.options.timestamps.unwrap();
        assert!(tsval.wrapping_sub(h.options.timestamps.unwrap().0) as i32 >= 0);
    }

    #[test]
    fn forged_cookie_ack_is_reset_and_counted() {
        let ck = SynCookies::new([3; 16]);
        let mut l = listener(4, CookieMode::Always, OverflowPolicy::Drop);
        let now = Instant::from_millis(100);
        let SynAction::Cookie(mut h) = l.on_syn(now, &ck, L, R, &syn(500, true)) else {
            panic!("expected a cookie");
        };
        h.seq += 1u32;
        let ack = final_ack(&h, 500, b"");
        match l.on_non_syn(now, &ck, L, R, &ack) {
            AckAction::Reset(r) => {
                assert_eq!(r.flags, Flags::RST);
                assert_eq!(r.seq, h.seq + 1u32);
            }
            other => panic!("expected a reset, got {other:?}"),
        }
        assert_eq!(l.counters().syncookies_failed, 1);
        // Without recent cookies, a stray ACK is reset without a cookie check.
        let mut quiet = listener(4, CookieMode::Never, OverflowPolicy::Drop);
        assert!(matches!(quiet.on_non_syn(now, &ck, L, R, &ack), AckAction::Reset(_)));
        assert_eq!(quiet.counters().syncookies_failed, 0);
        // A RST to a listener is ignored.
        let rst = Segment { flags: Flags::RST, ack: None, ..ack };
        assert_eq!(l.on_non_syn(now, &ck, L, R, &rst), AckAction::Drop);
    }

    #[test]
    fn accept_queue_bounded_and_overflow_policy_reported() {
        let ck = SynCookies::new([3; 16]);
        let hs = handles(3);
        let mut l = listener(2, CookieMode::WhenFull, OverflowPolicy::Reset);
        assert!(l.push_accepted(hs[0]));
        assert!(l.push_accepted(hs[1]));
        assert!(!l.accept_room());
        assert!(!l.push_accepted(hs[2]));
        assert_eq!(l.on_overflow(), OverflowPolicy::Reset);
        // A SYN that finds the accept queue full is dropped, not cookied.
        assert_eq!(l.on_syn(Instant::ZERO, &ck, L, R, &syn(1, true)), SynAction::Drop);
        assert_eq!(l.counters().listen_overflows, 3);
        assert_eq!(l.accept(), Some(hs[0]));
        assert_eq!(l.accept(), Some(hs[1]));
        assert_eq!(l.accept(), None);
        assert_eq!(
            listener(2, CookieMode::Never, OverflowPolicy::Drop).on_overflow(),
            OverflowPolicy::Drop
        );
    }

    #[test]
    fn backlog_is_clamped() {
        let cfg = ListenConfig { max_backlog: 8, ..ListenConfig::default() };
        assert_eq!(Listener::new(L, 0, cfg, TcpConfig::default()).backlog(), 1);
        assert_eq!(Listener::new(L, 100, cfg, TcpConfig::default()).backlog(), 8);
        let any = SocketAddr::from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80));
        assert_eq!(accepted_local(any, *L.ip()), SocketAddr::from(L));
        assert_eq!(accepted_local(L.into(), Ipv4Addr::new(1, 1, 1, 1)), SocketAddr::from(L));
        let any6: SocketAddr = "[::]:80".parse().unwrap();
        let dst6: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(accepted_local(any6, dst6), "[2001:db8::1]:80".parse().unwrap());
    }
}
