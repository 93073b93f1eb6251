//! ICMP errors about our TCP segments: from the interface to the connection they quote
//! (`tcp::path` decides what they do), and the errors the application is then told.
//!
//! An error that ends a connection attempt, and a soft error of a connection that goes on,
//! is kept per connection for [`Stack::tcp_path_error`]: a POSIX layer reports the first as
//! `connect`'s error and the second in place of `ETIMEDOUT` if the connection later times
//! out (Linux `sk_err`, `sk_err_soft`). The table holds at most one entry per connection
//! slot; entries of freed connections are swept when it outgrows the connection table.

use std::collections::HashMap;

use super::{Stack, TcpHandle};
use crate::flow::FlowKey;
use crate::iface::QuotedTcp;
use crate::tcp::path::{IcmpReport, IcmpVerdict, PathError};
use crate::tcp::SeqNumber;
use crate::wire::icmp::{DstUnreachable, Icmpv4Repr};

/// The last path error of each connection that had one.
#[derive(Debug, Default)]
pub(super) struct PathErrors {
    by_conn: HashMap<TcpHandle, PathError>,
}

/// What an ICMP message says for TCP (Linux `icmp_err_convert`, and `tcp_v4_err` for the time
/// exceeded message, which is never fatal).
fn report_of(message: &Icmpv4Repr<'_>) -> Option<IcmpReport> {
    use DstUnreachable as D;
    use PathError as P;
    let (error, fatal) = match *message {
        Icmpv4Repr::DstUnreachable { reason: D::FragRequired, next_hop_mtu, .. } => {
            return Some(IcmpReport::FragmentationNeeded { mtu: next_hop_mtu });
        }
        Icmpv4Repr::DstUnreachable { reason, .. } => match reason {
            D::NetUnreachable | D::DstNetUnknown | D::NetProhibited => (P::NetUnreachable, true),
            D::NetUnreachToS => (P::NetUnreachable, false),
            D::HostUnreachable
            | D::HostProhibited
            | D::CommProhibited
            | D::HostPrecedenceViolation
            | D::PrecedenceCutoff => (P::HostUnreachable, true),
            D::HostUnreachToS => (P::HostUnreachable, false),
            D::ProtoUnreachable => (P::ProtocolUnreachable, true),
            D::PortUnreachable => (P::PortUnreachable, true),
            D::DstHostUnknown => (P::HostDown, true),
            D::SrcHostIsolated => (P::Isolated, true),
            D::SrcRouteFailed => (P::SourceRouteFailed, false),
            D::FragRequired => return None,
        },
        Icmpv4Repr::TimeExceeded { .. } => (P::HostUnreachable, false),
        _ => return None,
    };
    Some(IcmpReport::Unreachable { error, fatal })
}

impl Stack {
    /// An ICMP error quoting `original`, one of our TCP segments.
    pub(super) fn icmp_input(&mut self, message: &Icmpv4Repr<'_>, original: QuotedTcp) {
        self.counters.icmp_errors += 1;
        let Some(report) = report_of(message) else { return };
        let key = FlowKey {
            local_ip: original.src_ip,
            local_port: original.src_port,
            remote_ip: original.dst_ip,
            remote_port: original.dst_port,
        };
        let Some(h) = self.flows.lookup(&key) else { return };
        let seq = SeqNumber(original.seq);
        let verdict = self.touch(h, true, |s, _| s.conn.on_icmp_error(seq, report));
        match verdict {
            Some(IcmpVerdict::OutOfWindow) => self.counters.icmp_out_of_window += 1,
            Some(IcmpVerdict::MssLowered(_)) => self.counters.path_mtu_lowered += 1,
            Some(IcmpVerdict::Aborted(e) | IcmpVerdict::Soft(e)) => {
                let cap = self.flows.capacity();
                let flows = &self.flows;
                let table = &mut self.path_errors.by_conn;
                if table.len() >= cap {
                    table.retain(|h, _| flows.get(h.0).is_some());
                }
                table.insert(TcpHandle(h), e);
            }
            Some(IcmpVerdict::MtuUnchanged) | None => {}
        }
    }

    /// The last error an ICMP message reported about connection `h`'s path: the one that
    /// ended its connection attempt (it stays readable after the connection is gone), or a
    /// soft error of a connection that went on (RFC 1122 §4.2.3.9).
    pub fn tcp_path_error(&self, h: TcpHandle) -> Option<PathError> {
        self.path_errors.by_conn.get(&h).copied()
    }

    /// Forgets connection `h`'s path error (the application has been told).
    pub fn tcp_clear_path_error(&mut self, h: TcpHandle) {
        self.path_errors.by_conn.remove(&h);
    }
}
