//! What an L4 proxy does with a pair of connections, written once for both stacks: the
//! xdptcp [`Proxy`](super::Proxy) (splices in the stack) and the Linux reference proxy
//! (`bench/src/linux/proxy.rs`, kernel sockets and a buffer per direction) differ only in
//! the [`RelayIo`] below [`relay`].
//!
//! - Bytes of one direction move until nothing more moves (what does not fit stays with the
//!   sender: backpressure), and are counted up (client → backend) or down.
//! - End of stream on one side, once everything before it was forwarded, becomes a half-close
//!   of the other (RFC 9293 §3.6: a FIN closes one direction only). When both directions
//!   have ended this way the pair is complete.
//! - A failure of either side ends the pair: the caller resets both and counts it aborted,
//!   so nothing waits forever on a dead partner.
//! - Backends are taken round-robin ([`Backends`]).

use super::ProxyCounters;

/// One side of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Backend,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Client => Side::Backend,
            Side::Backend => Side::Client,
        }
    }
}

/// What one forwarding step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    /// This many bytes reached the other side.
    Bytes(usize),
    /// Nothing can move now (nothing received, or no room on the other side), or this
    /// direction's end was passed on already.
    Nothing,
    /// The sender's end of stream, with every byte before it forwarded; reported once.
    Ended,
}

/// Either side of the pair broke (reset, refused, or an I/O error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Broken;

/// The two connections of a pair, as a transport moves bytes between them.
pub trait RelayIo {
    /// Moves what `from` received towards the other side, as far as it goes in one step.
    fn forward(&mut self, from: Side) -> Result<Moved, Broken>;
    /// Passes `from`'s end of stream on (half-closes the other side); whether the other
    /// direction had ended too, which completes the pair.
    fn pass_end(&mut self, from: Side) -> Result<bool, Broken>;
}

/// What [`relay`] did for one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes moved or an end passed on.
    pub moved: bool,
    /// Both directions have ended: the pair is complete (counted).
    pub complete: bool,
}

/// Moves `from`'s bytes to the other side until nothing moves, and passes its end of stream
/// on. `Err` if either side broke: the caller resets both and counts the pair aborted.
pub fn relay(io: &mut impl RelayIo, from: Side, c: &mut ProxyCounters) -> Result<Progress, Broken> {
    let mut p = Progress::default();
    loop {
        match io.forward(from)? {
            Moved::Bytes(n) => {
                p.moved = true;
                match from {
                    Side::Client => c.bytes_up += n as u64,
                    Side::Backend => c.bytes_down += n as u64,
                }
            }
            Moved::Nothing => return Ok(p),
            Moved::Ended => {
                p.moved = true;
                if io.pass_end(from)? {
                    p.complete = true;
                    c.completed += 1;
                }
                return Ok(p);
            }
        }
    }
}

/// The backends, taken round-robin.
#[derive(Debug, Clone)]
pub struct Backends<A> {
    list: Vec<A>,
    next: usize,
}

impl<A: Copy> Backends<A> {
    /// Round-robin over `list`, starting at `first` (so threads or workers spread out).
    pub fn new(list: Vec<A>, first: usize) -> Backends<A> {
        Backends { list, next: first }
    }

    /// Every backend.
    pub fn all(&self) -> &[A] {
        &self.list
    }

    /// A client was accepted: the backend it goes to (`None` with no backends).
    pub fn accepted(&mut self, c: &mut ProxyCounters) -> Option<A> {
        c.accepted += 1;
        let b = *self.list.get(self.next % self.list.len().max(1))?;
        self.next = self.next.wrapping_add(1);
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scripted pair: what each `forward` returns per side, and the half-closes made.
    struct Script {
        steps: [Vec<Result<Moved, Broken>>; 2],
        ended: [bool; 2],
    }

    fn idx(s: Side) -> usize {
        match s {
            Side::Client => 0,
            Side::Backend => 1,
        }
    }

    impl RelayIo for Script {
        fn forward(&mut self, from: Side) -> Result<Moved, Broken> {
            let steps = &mut self.steps[idx(from)];
            if steps.is_empty() {
                return Ok(Moved::Nothing);
            }
            steps.remove(0)
        }
        fn pass_end(&mut self, from: Side) -> Result<bool, Broken> {
            self.ended[idx(from)] = true;
            Ok(self.ended[idx(from.other())])
        }
    }

    #[test]
    fn bytes_are_counted_by_direction_and_two_ends_complete_the_pair() {
        let mut io = Script {
            steps: [
                vec![Ok(Moved::Bytes(10)), Ok(Moved::Bytes(5)), Ok(Moved::Ended)],
                vec![Ok(Moved::Bytes(7)), Ok(Moved::Nothing), Ok(Moved::Ended)],
            ],
            ended: [false; 2],
        };
        let mut c = ProxyCounters::default();
        let p = relay(&mut io, Side::Client, &mut c).unwrap();
        assert_eq!(p, Progress { moved: true, complete: false });
        assert_eq!((c.bytes_up, io.ended), (15, [true, false]));
        let p = relay(&mut io, Side::Backend, &mut c).unwrap();
        assert_eq!((p.moved, p.complete, c.bytes_down), (true, false, 7));
        let p = relay(&mut io, Side::Backend, &mut c).unwrap();
        assert!(p.complete);
        assert_eq!(c.completed, 1);
        assert_eq!(relay(&mut io, Side::Backend, &mut c).unwrap(), Progress::default());
    }

    #[test]
    fn a_broken_side_stops_the_relay() {
        let mut io =
            Script { steps: [vec![Ok(Moved::Bytes(3)), Err(Broken)], vec![]], ended: [false; 2] };
        let mut c = ProxyCounters::default();
        assert_eq!(relay(&mut io, Side::Client, &mut c), Err(Broken));
        assert_eq!((c.bytes_up, c.completed), (3, 0));
    }

    #[test]
    fn backends_go_round_robin_from_the_first() {
        let mut c = ProxyCounters::default();
        let mut b = Backends::new(vec!['a', 'b', 'c'], 1);
        let got: Vec<_> = (0..4).filter_map(|_| b.accepted(&mut c)).collect();
        assert_eq!(got, ['b', 'c', 'a', 'b']);
        assert_eq!(c.accepted, 4);
        assert_eq!(Backends::<char>::new(vec![], 0).accepted(&mut c), None);
    }
}
