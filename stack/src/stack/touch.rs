//! The one way to change a connection, and the bookkeeping that follows every change.
//!
//! After anything touches a connection the stack must bring its own view up to date: the
//! listener queues, TIME-WAIT accounting, freeing, buffers, the connection's timer in the
//! wheel and the ready queues ([`Stack::settle`]). Forgetting that step silently breaks
//! timers and events, so it is not left to the callers: the connection table is a
//! [`Sockets`] that hands out shared references only, and the only ways to a `&mut Socket`
//! are in this file. [`Stack::touch`] runs a change and then settles; [`Stack::adopt`]
//! inserts a new connection and settles it; [`Stack::on_timeout`] runs a due connection's
//! timers on the socket it already holds and settles it the same way. Draining events
//! ([`Stack::poll_event`]) and re-arming an early timer entry change no connection state and
//! live here too.

use super::ready::ReadyQueue;
use super::socket::{ConnTimer, Owner, Socket, SocketTable};
use super::tx_template::TcpTemplate;
use super::{ListenHandle, Stack, StackCounters, StackEvent, TcpHandle};
use crate::flow::ListenerTable;
use crate::flow::{is_alias, FlowError, FlowHandle, FlowIndex6, FlowKey, FlowKey6};
use crate::iface::Interface;
use crate::tcp::chunk::ChunkPool;
use crate::tcp::listen::{Listener, PRESSED_SYNACK_RETRIES};
use crate::tcp::State;
use crate::time::Instant;
use crate::wheel::{LazyEntry, TimerWheel};
use core::ops::Deref;

/// The connection table. Derefs to the flow table for lookups and reads; mutable access is
/// private to this module, so every change goes through [`Stack::touch`].
pub(crate) struct Sockets {
    table: SocketTable,
    /// IPv6 connections' real keys to their slots (they sit in `table` under an alias,
    /// `flow::v6`).
    pub(super) v6: FlowIndex6,
}

impl Sockets {
    pub(super) fn new(capacity: usize, hash_key: [u8; 16]) -> Self {
        Sockets { table: SocketTable::new(capacity, hash_key), v6: FlowIndex6::new(hash_key) }
    }
}

impl Deref for Sockets {
    type Target = SocketTable;

    fn deref(&self) -> &SocketTable {
        &self.table
    }
}

/// What a change to a connection may use besides the connection itself: the parts of the
/// stack that settling does not need while the change runs.
pub(super) struct Touch<'a> {
    /// The chunk pool the connection's bytes live in.
    pub(super) pool: &'a mut ChunkPool,
    /// The interface, for output and neighbour confirmation.
    pub(super) iface: &'a mut Interface,
    /// The stack's own counters.
    pub(super) counters: &'a mut StackCounters,
    /// The listeners (a half-open connection's accept-queue room).
    pub(super) listeners: &'a mut ListenerTable<Listener>,
    /// The stack's prebuilt IPv4 headers, for `poll_transmit` (borrowed, not copied: 64
    /// bytes per frame).
    pub(super) template: &'a TcpTemplate,
    /// Whether settling queues the connection for `poll_transmit` (it may have something
    /// new to send). Starts as the caller asked; the change may clear it.
    pub(super) transmit: bool,
}

impl Stack {
    /// Runs `change` on connection `h`, then settles it: the only way to change a
    /// connection. `transmit` says whether the change may have given it something to send.
    /// `None` (and `change` not run) for a stale handle.
    #[inline]
    pub(super) fn touch<R>(
        &mut self,
        h: FlowHandle,
        transmit: bool,
        change: impl FnOnce(&mut Socket, &mut Touch<'_>) -> R,
    ) -> Option<R> {
        self.touch_with::<false, R>(h, transmit, change)
    }

    /// [`touch`](Self::touch) for an arriving segment. When it moves an ESTABLISHED
    /// connection's deadline earlier than its wheel entry (a request arms the delayed ACK,
    /// before the RTO the entry sits at), the entry is left where it is and the connection
    /// goes on the transmit queue: its turn there, after the application's, settles it. By
    /// then the response has usually carried the ACK and restarted the RTO, later again, and
    /// the entry never moves; moved at once, it cost a move and then an early firing per
    /// request (docs/benchmarks.md, branch wheel). Until the queue is emptied by the
    /// driver's `poll_transmit`, the wheel counts the earliest deadline held back in its next
    /// deadline ([`TimerWheel::retarget_held`]), so `poll_timeout` reports it, and
    /// `on_timeout` settles the queued connections first once it is due: no timer fires
    /// later than with the entry moved at once. (The wheel keeps counting it until
    /// `on_timeout` or the transmit turns find the queue empty: `poll_timeout` may be early
    /// once, as it was when the moved entry fired early.)
    #[inline]
    pub(super) fn touch_input<R>(
        &mut self,
        h: FlowHandle,
        change: impl FnOnce(&mut Socket, &mut Touch<'_>) -> R,
    ) -> Option<R> {
        self.touch_with::<true, R>(h, true, change)
    }

    /// [`touch`](Self::touch), and with `HOLD` [`touch_input`](Self::touch_input).
    #[inline(always)]
    fn touch_with<const HOLD: bool, R>(
        &mut self,
        h: FlowHandle,
        transmit: bool,
        change: impl FnOnce(&mut Socket, &mut Touch<'_>) -> R,
    ) -> Option<R> {
        let (s, mut touch, mut live) = self.touch_parts(h, transmit)?;
        let r = change(s, &mut touch);
        let transmit = touch.transmit;
        if s.owner == Owner::App && s.conn.state() == State::Established {
            // Settled on the socket in hand: an ESTABLISHED connection of the application
            // has nothing for the listener, orphan, TIME-WAIT and freeing steps.
            if HOLD {
                live.settle_held(h, s, transmit);
            } else {
                live.settle(h, s, transmit);
            }
        } else {
            self.settle(h, transmit);
        }
        Some(r)
    }

    /// Runs `change` on connection `h`, a change that only moves bytes between the
    /// application and the connection's queues (a send or a receive), then settles what such
    /// a change can alter. In ESTABLISHED it changes no state, timer or event (a write is
    /// only queued; the retransmission timer starts when a segment leaves, and a read at most
    /// asks for a window update, RFC 9293 §3.8.6.2.2), so the listener, TIME-WAIT, buffer
    /// release and timer steps of [`settle`](Self::settle) would find nothing to do: only the
    /// transmit and event queues are brought up to date. In any other state, or for a
    /// connection the application does not own, it settles in full. Debug builds check that
    /// the state and the timer deadline were indeed left alone.
    #[inline]
    pub(super) fn touch_data<R>(
        &mut self,
        h: FlowHandle,
        change: impl FnOnce(&mut Socket, &mut Touch<'_>) -> R,
    ) -> Option<R> {
        let (s, mut touch, mut live) = self.touch_parts(h, false)?;
        #[cfg(debug_assertions)]
        let before = (s.conn.state(), s.conn.poll_timeout());
        let r = change(s, &mut touch);
        let transmit = touch.transmit;
        if s.owner != Owner::App || s.conn.state() != State::Established {
            self.settle(h, transmit);
            return Some(r);
        }
        #[cfg(debug_assertions)]
        debug_assert_eq!(
            before,
            (s.conn.state(), s.conn.poll_timeout()),
            "a data change left the state and the timers alone"
        );
        live.queue_ready(h, s, transmit);
        Some(r)
    }

    /// Connection `h` and what [`touch`](Self::touch) and [`touch_data`](Self::touch_data)
    /// borrow beside it: the parts a change reaches ([`Touch`], starting with `transmit`)
    /// and those settling on the socket in hand updates ([`Live`]). `None` for a stale
    /// handle.
    #[inline(always)]
    fn touch_parts(
        &mut self,
        h: FlowHandle,
        transmit: bool,
    ) -> Option<(&mut Socket, Touch<'_>, Live<'_>)> {
        let Stack {
            flows,
            buffers,
            iface,
            counters,
            listeners,
            wheel,
            tx_ready,
            ev_ready,
            tcp_template: template,
            ..
        } = self;
        let s = flows.table.get_mut(h)?;
        let touch = Touch { pool: buffers, iface, counters, listeners, template, transmit };
        Some((s, touch, Live { wheel, tx_ready, ev_ready }))
    }

    /// `tcp_send`'s common case: a write that [`Connection::send_small`] takes (ESTABLISHED,
    /// the application's connection, writing not shut down, all of `data` at the end of the
    /// send queue in the tail chunk and at most one new one, or the memory budget refusing
    /// the one chunk it needs), then what
    /// [`touch_data`](Self::touch_data) settles after a write: the transmit queue if it
    /// queued bytes. Such a write always leaves something to
    /// send (new bytes past `SND.NXT`, no FIN), so `may_transmit` need not be asked, and it
    /// raises no event, so the event queue is as it was. `None`, and nothing changed, for
    /// any other write (or a stale handle): the caller takes the general path.
    #[inline(always)]
    pub(super) fn send_small(&mut self, h: FlowHandle, data: &[u8]) -> Option<usize> {
        let Stack { flows, buffers, tx_ready, .. } = self;
        let s = flows.table.get_mut(h)?;
        if s.owner != Owner::App || s.closing.write_shut() {
            return None;
        }
        let n = checked_data_change(&mut s.conn, |c| c.send_small(buffers, data))?;
        debug_assert!(n == 0 || s.conn.may_transmit(), "a write left bytes to send");
        debug_assert!(s.in_ev || !s.conn.has_events(), "events are queued as they are raised");
        // As `touch_data` after a write: queued only if bytes were taken (a refused write
        // queues nothing).
        if n > 0 && !s.in_tx {
            s.in_tx = true;
            tx_ready.push_back(h);
        }
        Some(n)
    }

    /// `tcp_recv`'s common case: a read that [`Connection::recv_small`] takes (ESTABLISHED,
    /// the application's connection, the bytes wanted in the head chunk), then what
    /// [`touch_data`](Self::touch_data) settles after a read that took bytes: the transmit
    /// queue if the read left something to send (a window update, RFC 9293 §3.8.6.2.2). A
    /// read raises no event. `None`, and nothing changed, in any other case: the caller
    /// takes the general path.
    #[inline(always)]
    pub(super) fn recv_small(&mut self, h: FlowHandle, out: &mut [u8]) -> Option<usize> {
        let Stack { flows, buffers, tx_ready, .. } = self;
        let s = flows.table.get_mut(h)?;
        if s.owner != Owner::App {
            return None;
        }
        let n = checked_data_change(&mut s.conn, |c| c.recv_small(buffers, out))?;
        debug_assert!(s.in_ev || !s.conn.has_events(), "events are queued as they are raised");
        // As `touch_data` after a read: queued only if bytes were taken.
        if n > 0 && !s.in_tx && s.conn.may_transmit() {
            s.in_tx = true;
            tx_ready.push_back(h);
        }
        Some(n)
    }

    /// Runs `change` on two different connections at once (a splice from one into the
    /// other), then settles both. `None` (and `change` not run) if either handle is stale or
    /// both name the same connection.
    pub(super) fn touch_pair<R>(
        &mut self,
        a: FlowHandle,
        b: FlowHandle,
        transmit: bool,
        change: impl FnOnce(&mut Socket, &mut Socket, &mut Touch<'_>) -> R,
    ) -> Option<R> {
        let Stack { flows, buffers, iface, counters, listeners, tcp_template: template, .. } = self;
        let (sa, sb) = flows.table.get_pair_mut(a, b)?;
        let mut touch = Touch { pool: buffers, iface, counters, listeners, template, transmit };
        let r = change(sa, sb, &mut touch);
        let transmit = touch.transmit;
        self.settle(a, transmit);
        self.settle(b, transmit);
        Some(r)
    }

    /// Inserts a new connection under `key` and settles it (its first timer, and the
    /// transmit queue when `transmit`). One that a SYN opened (in its listener's SYN queue,
    /// not yet sending) gets the TSval offset that names its slot (`ts_slot`).
    pub(super) fn adopt(
        &mut self,
        key: FlowKey,
        mut socket: Socket,
        transmit: bool,
    ) -> Result<FlowHandle, FlowError> {
        let tags = self.slot_tags.filter(|_| matches!(socket.owner, Owner::SynQueue(_)));
        let h = self.flows.table.insert_with(key, |h| {
            if let Some(tags) = tags {
                tags.tag(&mut socket.conn, h.index() as u32);
            }
            socket
        })?;
        self.settle(h, transmit);
        Ok(h)
    }

    /// [`adopt`](Self::adopt) for an IPv6 connection: inserted under `alias` (its
    /// `local`/`remote`), found by `key`. The caller checked `key` is absent. An alias still
    /// held by a connection (its serial came round again with the same ports) is refused as
    /// `Exists`: the SYN is dropped and the next attempt draws another serial.
    pub(super) fn adopt6(
        &mut self,
        key: FlowKey6,
        alias: FlowKey,
        socket: Socket,
        transmit: bool,
    ) -> Result<FlowHandle, FlowError> {
        let h = self.flows.table.insert(alias, socket)?;
        self.flows.v6.insert(key, h);
        self.settle(h, transmit);
        Ok(h)
    }

    /// Runs every connection timer due at `now`: retransmissions, delayed ACKs, probes,
    /// TIME-WAIT expiry. Then call `poll_transmit`.
    pub fn on_timeout(&mut self, now: Instant) {
        // A deadline held back this batch and due by now is put in the wheel first; one not
        // yet due waits for the batch's end (`poll_transmit`), as the application may still
        // move it.
        match self.wheel.held() {
            Some(t) if t <= now => self.settle_held(),
            // Every connection held back has had its turn: nothing to count any more.
            Some(_) if self.tx_ready.is_empty() => self.wheel.release_held(),
            _ => {}
        }
        loop {
            // An entry reached early asks its connection what it wants now (read here, once
            // per wait, not on every segment that moved the deadline later), and the socket
            // forgets the entry's deadline, which the wheel is about to change.
            let Stack { wheel, flows, .. } = self;
            let fired = wheel.pop_expired_with(now, |t| {
                let s = flows.table.get_mut(t.conn)?;
                s.timer.forget();
                s.conn.poll_timeout()
            });
            let Some((_, t)) = fired else { break };
            let h = t.conn;
            let Some(s) = self.flows.table.get_mut(h) else { continue };
            s.timer = LazyEntry::NONE;
            if let Owner::SynQueue(l) = s.owner {
                let listener = self.listeners.get_mut(l);
                // A half-open connection whose SYN-ACK went out three times already, while
                // the SYN queue is crowded: given up now rather than after five.
                let crowded = listener.filter(|l| l.syn_queue_crowded());
                if let Some(listener) =
                    crowded.filter(|_| s.conn.info().backoff >= PRESSED_SYNACK_RETRIES)
                {
                    listener.syn_pruned();
                    s.conn.forget();
                    self.settle(h, true);
                    continue;
                }
            }
            // Changed here, where the socket is already in hand, and settled as `touch` does.
            s.conn.on_timeout(now);
            self.settle(h, true);
        }
    }

    /// The next application event, or `None`.
    ///
    /// Inlined as far as "nothing to report" (both queues empty: an event loop drains
    /// events until that answer, so every drain ends with it) and the common event (no
    /// stack event waiting, the connection at the front of the event queue is the
    /// application's and has one: [`front_event`](Self::front_event), the first turn of
    /// [`next_event`](Self::next_event)'s loop, so both ways give the same events in the
    /// same order).
    #[inline]
    pub fn poll_event(&mut self) -> Option<StackEvent> {
        if self.events.is_empty() {
            let h = self.ev_ready.front()?;
            if let Some(e) = self.front_event(h) {
                return Some(e);
            }
        }
        self.next_event()
    }

    /// [`poll_event`](Self::poll_event) beyond its common case: a stack event, or a
    /// connection on the event queue whose events have gone since it was queued (or that is
    /// no longer the application's, or freed).
    #[inline(never)]
    fn next_event(&mut self) -> Option<StackEvent> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        while let Some(h) = self.ev_ready.front() {
            if let Some(e) = self.front_event(h) {
                return Some(e);
            }
            if let Some(s) = self.flows.table.get_mut(h) {
                s.in_ev = false;
            }
            self.ev_ready.pop_front();
        }
        None
    }

    /// The next event of connection `h`, the front of the event queue, if it is the
    /// application's and has one; its last event takes it off the queue, so the next call
    /// does not visit the connection again only to find nothing. `None`, and nothing
    /// changed, otherwise.
    #[inline(always)]
    fn front_event(&mut self, h: FlowHandle) -> Option<StackEvent> {
        let s = self.flows.table.get_mut(h)?;
        if s.owner != Owner::App {
            return None;
        }
        let e = s.conn.poll_event()?;
        if !s.conn.has_events() {
            s.in_ev = false;
            self.ev_ready.pop_front();
        }
        Some(StackEvent::Tcp(TcpHandle(h), e))
    }

    /// Brings the stack's view of connection `h` up to date after anything touched it:
    /// listener queues, freeing, buffers, the timer, and the ready queues. Private to this
    /// module: [`touch`](Self::touch) and [`adopt`](Self::adopt) call it.
    fn settle(&mut self, h: FlowHandle, want_tx: bool) {
        let Some(s) = self.flows.table.get_mut(h) else { return };
        if let Owner::SynQueue(l) = s.owner {
            let state = s.conn.state();
            if state != State::SynReceived {
                let listener = self.listeners.get_mut(l);
                if let Some(listener) = listener {
                    listener.syn_dequeued();
                    if state == State::Closed {
                        s.owner = Owner::Orphan;
                    } else if listener.push_accepted(h) {
                        s.owner = Owner::AcceptQueue(l);
                        self.events.push_back(StackEvent::Acceptable(ListenHandle(l)));
                    } else {
                        s.owner = Owner::Orphan;
                        s.conn.abort();
                    }
                } else {
                    s.owner = Owner::Orphan;
                    s.conn.abort();
                }
            }
        }
        // Orphans counted like TIME-WAIT, here: a connection its application closed that is
        // still finishing its close.
        let finishing = s.closing.app_closed()
            && matches!(
                s.conn.state(),
                State::FinWait1 | State::FinWait2 | State::Closing | State::LastAck
            );
        if finishing != s.closing.in_orphans() {
            s.closing.set_in_orphans(finishing);
            if finishing {
                self.orphans += 1;
            } else {
                self.orphans -= 1;
            }
        }
        let mut owed_ack = None;
        if s.conn.state() == State::TimeWait && !s.closing.in_time_wait() {
            if self.time_wait >= self.max_time_wait {
                // No RST: the peer has closed too; the connection just ends early, once the
                // ACK of the peer's FIN is out (it leaves as a stateless reply).
                self.counters.time_wait_overflow += 1;
                let ipv6 = s.ipv6.as_deref().copied();
                owed_ack = s.conn.take_owed_ack().map(|header| (flow_key(&s.conn), ipv6, header));
                s.conn.abort();
            } else {
                s.closing.set_in_time_wait(true);
                self.time_wait += 1;
            }
        }
        if s.conn.is_closed() {
            if let Some((key, ipv6, header)) = owed_ack {
                self.queue_reply_any(key, ipv6, header);
            }
            self.free(h);
            return;
        }
        s.conn.release_buffers(&mut self.buffers);
        let mut live = Live {
            wheel: &mut self.wheel,
            tx_ready: &mut self.tx_ready,
            ev_ready: &mut self.ev_ready,
        };
        live.settle(h, s, want_tx);
    }

    /// Puts in the wheel every deadline an arriving segment held back
    /// ([`touch_input`](Self::touch_input)): those connections all wait on the transmit
    /// queue, and each is settled again as `touch` would. Only `on_timeout` needs this, when
    /// a held deadline is due before the connections had their turn.
    #[cold]
    #[inline(never)]
    fn settle_held(&mut self) {
        let Stack { flows, wheel, tx_ready, .. } = self;
        for h in tx_ready.iter() {
            if let Some(s) = flows.table.get_mut(h) {
                let due = s.conn.poll_timeout();
                wheel.retarget(&mut s.timer, due, || ConnTimer { conn: h });
            }
        }
        self.wheel.release_held();
    }

    /// Frees a TIME-WAIT connection that gave a SYN up for a new incarnation (RFC 6191),
    /// without settling it again: its application was told `Closed` would come; it comes now.
    pub(super) fn recycle(&mut self, h: FlowHandle) {
        if let Some(s) = self.flows.table.get_mut(h) {
            if s.owner == Owner::App {
                self.events.push_back(StackEvent::Tcp(TcpHandle(h), crate::tcp::Event::Closed));
            }
            s.owner = Owner::Orphan;
        }
        self.free(h);
    }

    /// Removes a finished connection; an application-owned one's last events are kept.
    pub(super) fn free(&mut self, h: FlowHandle) {
        let alias = self.flows.table.key(h).filter(is_alias);
        let Some(mut s) = self.flows.table.remove(h) else { return };
        if let Some(alias) = alias {
            if let Some(e) = s.ipv6.as_deref() {
                self.flows.v6.remove(&super::ipv6::real_key(&alias, e));
            }
        }
        if s.closing.in_time_wait() {
            self.time_wait -= 1;
        }
        if s.closing.in_orphans() {
            self.orphans -= 1;
        }
        self.wheel.cancel(s.timer.handle());
        self.tcp_counters.add(&s.conn.take_counters());
        match s.owner {
            Owner::App => {
                while let Some(e) = s.conn.poll_event() {
                    self.events.push_back(StackEvent::Tcp(TcpHandle(h), e));
                }
            }
            Owner::SynQueue(l) => {
                if let Some(listener) = self.listeners.get_mut(l) {
                    listener.syn_dequeued();
                }
            }
            // A stale handle left in an accept queue is skipped by `tcp_accept`.
            Owner::AcceptQueue(_) | Owner::Orphan => {}
        }
        s.conn.retire(&mut self.buffers, &mut self.cold_spares);
    }
}

/// What settling a live connection updates besides the connection: its timer in the wheel
/// and the ready queues. Borrowed apart from the connection table, so that `touch` settles
/// an ESTABLISHED connection through the reference its change already holds.
struct Live<'a> {
    wheel: &'a mut TimerWheel<ConnTimer>,
    tx_ready: &'a mut ReadyQueue,
    ev_ready: &'a mut ReadyQueue,
}

impl Live<'_> {
    /// The steps of settling that apply to every live connection: the timer, then the
    /// ready queues.
    #[inline(always)]
    fn settle(&mut self, h: FlowHandle, s: &mut Socket, want_tx: bool) {
        // What `touch` skips for an ESTABLISHED connection of the application is indeed
        // nothing: such a connection is neither finishing a close nor in TIME-WAIT.
        debug_assert!(
            s.conn.state() != State::Established
                || (!s.closing.in_orphans() && !s.closing.in_time_wait()),
            "an ESTABLISHED connection is counted as neither orphan nor TIME-WAIT"
        );
        self.settle_timer(h, s);
        self.queue_ready(h, s, want_tx);
    }

    /// One timer per connection, moved to an earlier deadline at once. A deadline that moves
    /// later (the RTO restarting on every ACK) or goes away (everything acknowledged) leaves
    /// the wheel entry where it is: if the entry fires early, the wheel asks the connection
    /// and moves it on (or drops it). The socket keeps the entry's deadline, so deciding
    /// that reads nothing of the wheel ([`LazyEntry`]; docs/benchmarks.md, "The wheel entry
    /// out of the segment's way"). That saves a wheel move per segment for one early wakeup
    /// per RTO at most; `poll_timeout` may be early, never late. A later deadline moves the
    /// entry now only when the entry would fire before the connection's next segment is
    /// due (a server with so many connections that each comes round about once a round
    /// trip): it will fire early then whatever comes, and moved now it is in cache
    /// ([`TimerWheel::retarget_within`]; docs/benchmarks.md, "A move only when the entry
    /// would fire first").
    #[inline(always)]
    fn settle_timer(&mut self, h: FlowHandle, s: &mut Socket) {
        let due = s.conn.poll_timeout();
        let within = s.conn.next_change_within();
        self.wheel.retarget_within(&mut s.timer, due, within, || ConnTimer { conn: h });
    }

    /// [`settle`](Self::settle) for an arriving segment: a deadline earlier than the wheel
    /// entry is recorded in it, not moved to, and the connection is put on the transmit
    /// queue, whose turn settles it again after the application's (see
    /// [`Stack::touch_input`]).
    #[inline(always)]
    fn settle_held(&mut self, h: FlowHandle, s: &mut Socket, want_tx: bool) {
        let due = s.conn.poll_timeout();
        let held = self.wheel.retarget_held(&mut s.timer, due, || ConnTimer { conn: h });
        if held && !s.in_tx {
            s.in_tx = true;
            self.tx_ready.push_back(h);
        }
        self.queue_ready(h, s, want_tx);
    }

    /// Puts the connection on the transmit and event queues it belongs on now.
    #[inline(always)]
    fn queue_ready(&mut self, h: FlowHandle, s: &mut Socket, want_tx: bool) {
        // Queued only when it may have a segment to send: a touch that might have given it
        // one (an arriving segment, a write) often did not (a delayed ACK, data the window
        // holds back), and a turn in `poll_transmit` that plans nothing costs a planning pass
        // and a settle. `may_transmit` is false only when that turn would change nothing.
        if want_tx && !s.in_tx && s.conn.may_transmit() {
            s.in_tx = true;
            self.tx_ready.push_back(h);
        }
        // Queued only when the application has something to hear: every event is raised
        // inside a call that ends here, so none can be missed.
        if s.owner == Owner::App && !s.in_ev && s.conn.has_events() {
            s.in_ev = true;
            self.ev_ready.push_back(h);
        }
    }
}

/// Runs `change`, a move of bytes between the application and an ESTABLISHED connection
/// (`send_small`, `recv_small`), and in debug builds checks what settling it relies on: the
/// timers and the events were left alone.
#[inline(always)]
fn checked_data_change<R>(
    conn: &mut crate::tcp::Connection,
    change: impl FnOnce(&mut crate::tcp::Connection) -> R,
) -> R {
    #[cfg(debug_assertions)]
    let before = (conn.poll_timeout(), conn.has_events());
    let r = change(conn);
    #[cfg(debug_assertions)]
    debug_assert_eq!(
        before,
        (conn.poll_timeout(), conn.has_events()),
        "a data change left the timers and the events alone"
    );
    r
}

/// A connection's 4-tuple, its key in the flow table.
fn flow_key(conn: &crate::tcp::Connection) -> FlowKey {
    FlowKey {
        local_ip: *conn.local().ip(),
        local_port: conn.local().port(),
        remote_ip: *conn.remote().ip(),
        remote_port: conn.remote().port(),
    }
}
