//! The receiving half of a connection: reassembly of fragments into messages, ordered and
//! unordered delivery, duplicate suppression, and the flow-control window.
//!
//! Memory is bounded by construction. A message is accepted only if it ends within the
//! window advertised to the peer, and the bytes held for partial, waiting and undelivered
//! messages never exceed `receive_window` (checked with [`RecvQueue::check`] before any byte
//! of the packet is used, so a refused packet is not acknowledged and its sender sends it
//! again later). Message ids may run at most [`MAX_MESSAGES_AHEAD`] past the oldest incomplete
//! one, which bounds the per-id state.
//!
//! The window is an absolute offset in the data sequence (each message occupies
//! `[start, start + len)`), like QUIC's MAX_DATA (RFC 9000 §4.1): it advances as the
//! application takes messages, over the contiguous prefix of the sequence it has taken.

use std::collections::{BTreeMap, HashMap};

use super::config::{MAX_MESSAGE, MAX_MESSAGES_AHEAD};
use super::ranges::RangeSet;
use super::wire::MessageFrame;

/// Why a fragment was refused (its packet is dropped, counted and not acknowledged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Longer than 64 KiB.
    TooLarge,
    /// Beyond the advertised window, or more bytes than the receive buffer holds.
    FlowControl,
    /// A message id too far ahead of the oldest incomplete one.
    TooFarAhead,
    /// Disagrees with earlier fragments of the same message (start or length).
    Inconsistent,
}

/// A complete message, ready for the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Whether it was sent on the ordered stream.
    pub ordered: bool,
    /// Its id among messages of its kind.
    pub id: u64,
    /// Its bytes.
    pub data: Vec<u8>,
    /// Where it sits in the data sequence (what taking it frees in the window).
    pub(crate) start: u64,
}

#[derive(Debug)]
struct Partial {
    start: u64,
    data: Vec<u8>,
    have: RangeSet,
}

/// The receiving half.
#[derive(Debug)]
pub struct RecvQueue {
    partial: HashMap<(bool, u64), Partial>,
    /// Complete ordered messages waiting for an earlier one.
    waiting: BTreeMap<u64, Message>,
    next_ordered: u64,
    /// Ids of complete unordered messages.
    unordered_done: RangeSet,
    /// Data-sequence ranges the application has taken.
    taken: RangeSet,
    taken_prefix: u64,
    window: u64,
    /// Bytes held for messages not yet taken (partial ones at full length).
    held: u64,
    /// The limit last advertised.
    advertised: u64,
}

impl RecvQueue {
    pub fn new(window: u64) -> Self {
        RecvQueue {
            partial: HashMap::new(),
            waiting: BTreeMap::new(),
            next_ordered: 0,
            unordered_done: RangeSet::new(),
            taken: RangeSet::new(),
            taken_prefix: 0,
            window,
            held: 0,
            advertised: window,
        }
    }

    /// The oldest unordered id not yet complete.
    fn unordered_floor(&self) -> u64 {
        self.unordered_done.run_end(0).unwrap_or(0)
    }

    fn is_done(&self, ordered: bool, id: u64) -> bool {
        if ordered {
            id < self.next_ordered || self.waiting.contains_key(&id)
        } else {
            self.unordered_done.contains(id)
        }
    }

    /// Whether the fragment may be used; changes nothing. Duplicates pass (they are ignored
    /// by [`accept`](Self::accept)).
    pub fn check(&self, m: &MessageFrame<'_>) -> Result<(), Refusal> {
        if m.total as usize > MAX_MESSAGE {
            return Err(Refusal::TooLarge);
        }
        if self.is_done(m.ordered, m.id) {
            return Ok(());
        }
        let floor = if m.ordered { self.next_ordered } else { self.unordered_floor() };
        if m.id >= floor + MAX_MESSAGES_AHEAD {
            return Err(Refusal::TooFarAhead);
        }
        match self.partial.get(&(m.ordered, m.id)) {
            Some(p) if p.start != m.start || p.data.len() != m.total as usize => {
                Err(Refusal::Inconsistent)
            }
            Some(_) => Ok(()),
            None => {
                let end = m.start + u64::from(m.total);
                if end > self.advertised || self.held + u64::from(m.total) > self.window {
                    Err(Refusal::FlowControl)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Uses a fragment that passed [`check`](Self::check); complete messages that may be
    /// delivered go to `out`, in delivery order.
    pub fn accept(&mut self, m: &MessageFrame<'_>, out: &mut impl FnMut(Message)) {
        if self.is_done(m.ordered, m.id) || self.check(m).is_err() {
            return;
        }
        let key = (m.ordered, m.id);
        let held = &mut self.held;
        let p = self.partial.entry(key).or_insert_with(|| {
            *held += u64::from(m.total);
            Partial { start: m.start, data: vec![0; m.total as usize], have: RangeSet::new() }
        });
        let off = m.offset as usize;
        if let Some(dst) = p.data.get_mut(off..off + m.data.len()) {
            dst.copy_from_slice(m.data);
        }
        p.have.insert(u64::from(m.offset), u64::from(m.offset) + m.data.len() as u64);
        if !p.have.contains_range(0, u64::from(m.total)) {
            return;
        }
        let Some(p) = self.partial.remove(&key) else { return };
        let msg = Message { ordered: m.ordered, id: m.id, data: p.data, start: p.start };
        if !m.ordered {
            self.unordered_done.insert_one(m.id);
            out(msg);
            return;
        }
        self.waiting.insert(m.id, msg);
        while let Some(msg) = self.waiting.remove(&self.next_ordered) {
            self.next_ordered += 1;
            out(msg);
        }
    }

    /// The application took a message: its bytes leave the buffer and the window may
    /// advance. Returns whether a WINDOW update is worth sending (a quarter of the window
    /// gained since the last advertisement, so updates stay rare).
    pub fn release(&mut self, start: u64, len: u64) -> bool {
        self.held = self.held.saturating_sub(len);
        self.taken.insert(start, start + len);
        if let Some(end) = self.taken.run_end(self.taken_prefix) {
            self.taken_prefix = end;
            self.taken.remove_below(end);
        }
        self.max_data() >= self.advertised + self.window / 4
    }

    /// The limit to advertise now.
    pub fn max_data(&self) -> u64 {
        self.taken_prefix + self.window
    }

    /// Records that `max_data` was sent (and the peer may use it).
    pub fn advertise(&mut self) -> u64 {
        self.advertised = self.advertised.max(self.max_data());
        self.advertised
    }

    /// Bytes held for messages the application has not taken.
    pub fn held(&self) -> u64 {
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(
        ordered: bool,
        id: u64,
        start: u64,
        total: u32,
        offset: u32,
        data: &[u8],
    ) -> MessageFrame<'_> {
        MessageFrame { ordered, id, start, total, offset, data }
    }

    #[test]
    fn ordered_waits_unordered_does_not_duplicates_vanish() {
        let mut r = RecvQueue::new(MAX_MESSAGE as u64);
        let mut got = Vec::new();
        let mut out = |m: Message| got.push((m.ordered, m.id, m.data));
        // Ordered 1 complete before ordered 0; unordered 0 in two fragments, reversed.
        r.accept(&frag(true, 1, 3, 2, 0, b"xy"), &mut out);
        r.accept(&frag(false, 0, 5, 4, 2, b"cd"), &mut out);
        r.accept(&frag(false, 0, 5, 4, 0, b"ab"), &mut out);
        r.accept(&frag(false, 0, 5, 4, 0, b"ab"), &mut out);
        r.accept(&frag(true, 0, 0, 3, 0, b"abc"), &mut out);
        r.accept(&frag(true, 0, 0, 3, 0, b"abc"), &mut out);
        r.accept(&frag(true, 1, 3, 2, 0, b"xy"), &mut out);
        assert_eq!(
            got,
            vec![
                (false, 0, b"abcd".to_vec()),
                (true, 0, b"abc".to_vec()),
                (true, 1, b"xy".to_vec())
            ]
        );
    }

    #[test]
    fn window_bounds_memory_and_advances_on_release() {
        let w = MAX_MESSAGE as u64;
        let mut r = RecvQueue::new(w);
        let mut got = Vec::new();
        let mut out = |m: Message| got.push(m);
        let big = vec![7u8; 100];
        assert_eq!(r.check(&frag(false, 0, w - 50, 100, 0, &big)), Err(Refusal::FlowControl));
        assert_eq!(r.check(&frag(false, 0, 0, 70_000, 0, &big)), Err(Refusal::TooLarge));
        assert_eq!(r.check(&frag(false, 5000, 0, 100, 0, &big)), Err(Refusal::TooFarAhead));
        r.accept(&frag(false, 0, 0, 200, 0, &big), &mut out);
        assert_eq!(r.check(&frag(false, 0, 1, 200, 100, &big)), Err(Refusal::Inconsistent));
        r.accept(&frag(false, 0, 0, 200, 100, &big), &mut out);
        assert_eq!(r.held(), 200);
        assert!(!r.release(0, 200));
        assert_eq!(r.held(), 0);
        assert_eq!(r.max_data(), w + 200);
        assert!(r.release(200, w / 4));
        assert_eq!(r.advertise(), w + 200 + w / 4);
    }
}
