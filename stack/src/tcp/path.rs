//! What the network says about a connection's path through ICMP errors about its segments
//! (RFC 1122 §4.2.3.9), as Linux's `tcp_v4_err` acts on them:
//!
//! - the error must quote a sequence number the connection has sent and not had
//!   acknowledged, `SND.UNA <= SEG.SEQ <= SND.MAX`, or it is ignored (RFC 5927 §4.1: a blind
//!   attacker would otherwise reset or slow connections with forged errors);
//! - *Fragmentation Needed* lowers the path MTU (RFC 1191 §6.3), never below Linux's 552
//!   bytes (`ip_rt_min_pmtu`): the send MSS shrinks, and segments in flight that no longer
//!   fit are resent at the new size at once, without a window reduction (a smaller MTU is
//!   not congestion; Linux `tcp_simple_retransmit`);
//! - any other error in SYN-SENT ends the attempt (a *hard* error: the application's
//!   `connect` fails with it); a passive half-open connection is dropped on the fatal codes
//!   only (Linux `tcp_req_err`);
//! - in a synchronized state an error is *soft* (RFC 1122 §4.2.3.9: "TCP MUST NOT abort"):
//!   remembered, and reported only if the connection later times out.

use super::connection::{Connection, Event, State};
use super::recovery::{Episode, RecoveryKind};
use super::SeqNumber;

/// Linux's smallest path MTU (`ip_rt_min_pmtu`): 512 bytes of data plus IPv4 and TCP headers.
pub const MIN_PATH_MTU: u16 = 552;

use super::family::IPV6_MIN_MTU;

/// An error the network reported about the path (the ICMP types and codes of RFC 792 and
/// RFC 1812 grouped as Linux's `icmp_err_convert` maps them to error numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathError {
    /// Network unreachable or unknown, administratively prohibited, or unreachable for the
    /// type of service (`ENETUNREACH`).
    NetUnreachable,
    /// Host unreachable, prohibited, filtered or cut off by precedence, and time exceeded
    /// (`EHOSTUNREACH`).
    HostUnreachable,
    /// Protocol unreachable (`ENOPROTOOPT`).
    ProtocolUnreachable,
    /// Port unreachable (`ECONNREFUSED`).
    PortUnreachable,
    /// Destination host unknown (`EHOSTDOWN`).
    HostDown,
    /// Source host isolated (`ENONET`).
    Isolated,
    /// Source route failed (`EOPNOTSUPP`).
    SourceRouteFailed,
}

/// One ICMP error about a segment of this connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpReport {
    /// Destination unreachable, fragmentation needed, with the next hop's MTU (RFC 1191).
    FragmentationNeeded {
        /// The next-hop MTU the router reported (0 from routers older than RFC 1191).
        mtu: u16,
    },
    /// Any other destination unreachable or time exceeded. `fatal` for the codes Linux
    /// drops a half-open passive connection on.
    Unreachable {
        /// What went wrong.
        error: PathError,
        /// Whether the code is fatal to a half-open connection.
        fatal: bool,
    },
}

/// What [`Connection::on_icmp_error`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpVerdict {
    /// The quoted sequence number is not in flight (RFC 5927 §4.1): ignored.
    OutOfWindow,
    /// The path MTU fell: the send MSS is now this.
    MssLowered(usize),
    /// A Fragmentation Needed that changes nothing (an MTU no lower than the one in use, or
    /// none given).
    MtuUnchanged,
    /// The connection attempt ended with this error (SYN-SENT, or a half-open passive one).
    Aborted(PathError),
    /// Remembered as a soft error; the connection goes on.
    Soft(PathError),
}

impl Connection {
    /// An ICMP error quoting our segment with sequence number `seq` (see the module docs).
    pub fn on_icmp_error(&mut self, seq: SeqNumber, report: IcmpReport) -> IcmpVerdict {
        if self.state == State::Closed || seq < self.snd.una || seq > self.snd.max {
            return IcmpVerdict::OutOfWindow;
        }
        match report {
            IcmpReport::FragmentationNeeded { mtu } => self.lower_path_mtu(mtu),
            IcmpReport::Unreachable { error, fatal } => match self.state {
                State::SynSent => {
                    self.enter_closed(Event::Refused);
                    IcmpVerdict::Aborted(error)
                }
                State::SynReceived if fatal => {
                    self.enter_closed(Event::Refused);
                    IcmpVerdict::Aborted(error)
                }
                _ => IcmpVerdict::Soft(error),
            },
        }
    }

    /// RFC 1191 §6.3: segments no larger than the new MTU allows from now on, and the ones in
    /// flight that are larger marked lost to be resent in pieces.
    fn lower_path_mtu(&mut self, mtu: u16) -> IcmpVerdict {
        if mtu == 0 || self.state == State::SynSent {
            // RFC 1191 §5's plateau search is not done (Linux ignores such messages too);
            // before the handshake the MSS is not settled.
            return IcmpVerdict::MtuUnchanged;
        }
        let options = if self.opts.ts_ok { 12 } else { 0 };
        // RFC 8201 §4: an IPv6 path MTU is never below the minimum link MTU.
        let floor = if self.is_ipv6() { IPV6_MIN_MTU } else { MIN_PATH_MTU };
        let mss = usize::from(mtu.max(floor)) - self.family_overhead() - options;
        if mss >= self.opts.mss() {
            return IcmpVerdict::MtuUnchanged;
        }
        self.opts.set_mss(mss);
        let data_end = self.data_end();
        if self.loss.board.mark_lost_longer_than(mss, data_end) && self.loss.episode.is_none() {
            // Linux enters its Loss state without touching the window: no fast recovery (and
            // so no reduction) until what was in flight is acknowledged.
            let episode = Episode { kind: RecoveryKind::Timeout, point: self.snd.max };
            self.loss.set_episode(&mut self.cold.loss_cold, Some(episode));
            self.cold.loss_cold.retransmit_now = true;
        }
        IcmpVerdict::MssLowered(mss)
    }
}
