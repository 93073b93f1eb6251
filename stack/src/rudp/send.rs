//! The sending half of a connection: queued messages, their fragments, what is acknowledged,
//! what must be sent again, and the peer's flow-control limit.
//!
//! A message is cut into fragments of a fixed size when it is queued, and a fragment keeps
//! its boundaries forever; a lost fragment is sent again as is, in a new packet (packet
//! numbers are never reused, RFC 9002 §2). Messages sit in a deque indexed by their send
//! sequence, so finding one from a [`FragmentRef`] in a sent packet is O(1); a message leaves
//! the deque once every fragment is acknowledged.

use std::collections::VecDeque;

use super::config::{MAX_MESSAGE, MAX_MESSAGES_AHEAD};
use super::wire::MessageFrame;

/// Names one fragment of one queued message: what a sent packet remembers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FragmentRef {
    /// The message's send sequence (position in the connection's send order).
    pub seq: u64,
    /// The fragment's index in the message.
    pub index: u32,
}

/// Why `send` refused a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// Longer than [`MAX_MESSAGE`].
    TooLarge,
    /// The send buffer is full; try again once messages are acknowledged.
    Full,
    /// The connection is closing or closed.
    Closed,
    /// No such connection.
    UnknownConnection,
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SendError::TooLarge => "message larger than 64 KiB",
            SendError::Full => "send buffer full",
            SendError::Closed => "connection closed",
            SendError::UnknownConnection => "no such connection",
        })
    }
}

#[derive(Debug)]
struct OutMessage {
    data: Vec<u8>,
    ordered: bool,
    id: u64,
    start: u64,
    fragments: u32,
    /// One bit per fragment.
    acked: Vec<u64>,
    acked_count: u32,
}

impl OutMessage {
    fn is_acked(&self, index: u32) -> bool {
        let i = index as usize;
        self.acked.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

/// The sending half.
#[derive(Debug)]
pub struct SendQueue {
    messages: VecDeque<Option<OutMessage>>,
    /// Send sequence of `messages[0]`.
    base: u64,
    /// The message whose fragments are being sent for the first time, and the next one.
    cursor: FragmentRef,
    retransmit: VecDeque<FragmentRef>,
    /// Next message id, unordered then ordered.
    next_id: [u64; 2],
    /// Data-sequence offset the next message starts at.
    next_start: u64,
    /// The peer accepts messages ending at or below this offset (its WINDOW).
    peer_max_data: u64,
    fragment_size: usize,
    queued_bytes: usize,
    buffer_limit: usize,
    message_limit: usize,
}

impl SendQueue {
    pub fn new(fragment_size: usize, buffer_limit: usize, message_limit: usize) -> Self {
        SendQueue {
            messages: VecDeque::new(),
            base: 0,
            cursor: FragmentRef::default(),
            retransmit: VecDeque::new(),
            next_id: [0; 2],
            next_start: 0,
            // Every receiver buffers at least one whole message (Config::receive_window).
            peer_max_data: MAX_MESSAGE as u64,
            fragment_size: fragment_size.max(1),
            queued_bytes: 0,
            buffer_limit,
            message_limit,
        }
    }

    /// Queues a message; returns its id (per kind).
    pub fn push(&mut self, data: &[u8], ordered: bool) -> Result<u64, SendError> {
        if data.len() > MAX_MESSAGE {
            return Err(SendError::TooLarge);
        }
        if self.queued_bytes + data.len() > self.buffer_limit
            || self.messages.len() >= self.message_limit
        {
            return Err(SendError::Full);
        }
        let fragments = data.len().div_ceil(self.fragment_size).max(1) as u32;
        let id = self.next_id[usize::from(ordered)];
        self.next_id[usize::from(ordered)] += 1;
        self.messages.push_back(Some(OutMessage {
            data: data.to_vec(),
            ordered,
            id,
            start: self.next_start,
            fragments,
            acked: vec![0; (fragments as usize).div_ceil(64)],
            acked_count: 0,
        }));
        self.next_start += data.len() as u64;
        self.queued_bytes += data.len();
        Ok(id)
    }

    /// Raises the peer's limit (a WINDOW frame); a lower value is stale and ignored.
    pub fn on_window(&mut self, max_data: u64) {
        self.peer_max_data = self.peer_max_data.max(max_data);
    }

    /// The peer's current limit.
    pub fn peer_max_data(&self) -> u64 {
        self.peer_max_data
    }

    fn message(&self, seq: u64) -> Option<&OutMessage> {
        let i = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        self.messages.get(i)?.as_ref()
    }

    fn frame_of(&self, f: FragmentRef) -> Option<MessageFrame<'_>> {
        let m = self.message(f.seq)?;
        let off = f.index as usize * self.fragment_size;
        let end = (off + self.fragment_size).min(m.data.len());
        Some(MessageFrame {
            ordered: m.ordered,
            id: m.id,
            start: m.start,
            total: m.data.len() as u32,
            offset: off as u32,
            data: m.data.get(off..end)?,
        })
    }

    /// The next fragment to send (retransmissions first, then new data that flow control
    /// and the id horizon allow), without taking it.
    pub fn peek(&mut self) -> Option<(FragmentRef, MessageFrame<'_>)> {
        // Drop retransmissions made moot by a later acknowledgement.
        while let Some(&f) = self.retransmit.front() {
            match self.message(f.seq) {
                Some(m) if !m.is_acked(f.index) => break,
                _ => {
                    self.retransmit.pop_front();
                }
            }
        }
        if let Some(&f) = self.retransmit.front() {
            return self.frame_of(f).map(|fr| (f, fr));
        }
        let f = self.cursor;
        let m = self.message(f.seq)?;
        // Flow control (the whole message must fit the peer's window before its first
        // fragment goes) and the id horizon (MAX_MESSAGES_AHEAD).
        if f.index == 0
            && (m.start + m.data.len() as u64 > self.peer_max_data
                || f.seq - self.base >= MAX_MESSAGES_AHEAD)
        {
            return None;
        }
        self.frame_of(f).map(|fr| (f, fr))
    }

    /// Takes the fragment [`peek`](Self::peek) returned.
    pub fn take(&mut self, f: FragmentRef) {
        if self.retransmit.front() == Some(&f) {
            self.retransmit.pop_front();
            return;
        }
        if f == self.cursor {
            let fragments = self.message(f.seq).map_or(1, |m| m.fragments);
            self.cursor = if f.index + 1 >= fragments {
                FragmentRef { seq: f.seq + 1, index: 0 }
            } else {
                FragmentRef { seq: f.seq, index: f.index + 1 }
            };
        }
    }

    /// Whether a fragment is waiting and allowed to go now.
    pub fn has_sendable(&mut self) -> bool {
        self.peek().is_some()
    }

    /// A packet carrying `f` was acknowledged; the message leaves the queue once all its
    /// fragments have been (a fragment acknowledged twice counts once).
    pub fn on_acked(&mut self, f: FragmentRef) {
        let Some(i) = f.seq.checked_sub(self.base).and_then(|i| usize::try_from(i).ok()) else {
            return;
        };
        let Some(Some(m)) = self.messages.get_mut(i) else { return };
        let w = f.index as usize / 64;
        let bit = 1u64 << (f.index % 64);
        let Some(word) = m.acked.get_mut(w) else { return };
        if *word & bit != 0 {
            return;
        }
        *word |= bit;
        m.acked_count += 1;
        if m.acked_count == m.fragments {
            self.queued_bytes -= m.data.len();
            self.messages[i] = None;
            while let Some(None) = self.messages.front() {
                // Never pop the message the cursor is still sending.
                if self.base >= self.cursor.seq {
                    break;
                }
                self.messages.pop_front();
                self.base += 1;
            }
        }
    }

    /// A packet carrying `f` was declared lost (or is probed): send `f` again unless it has
    /// been acknowledged meanwhile.
    pub fn on_lost(&mut self, f: FragmentRef) {
        if self.message(f.seq).is_some_and(|m| !m.is_acked(f.index)) {
            self.retransmit.push_back(f);
        }
    }

    /// Whether every queued message is acknowledged.
    pub fn is_empty(&self) -> bool {
        self.queued_bytes == 0 && self.messages.iter().all(Option::is_none)
    }

    /// Bytes of messages not yet fully acknowledged.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Room for another message of `len` bytes.
    pub fn has_room(&self, len: usize) -> bool {
        self.queued_bytes + len <= self.buffer_limit && self.messages.len() < self.message_limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_acks_and_retransmissions() {
        let mut q = SendQueue::new(4, 1 << 20, 100);
        assert_eq!(q.push(b"0123456789", true), Ok(0));
        assert_eq!(q.push(b"", false), Ok(0));
        assert_eq!(q.push(b"ab", true), Ok(1));
        let mut sent = Vec::new();
        while let Some((f, fr)) = q.peek() {
            sent.push((f, fr.offset, fr.data.to_vec(), fr.ordered, fr.id, fr.start));
            q.take(f);
        }
        let offsets: Vec<_> = sent.iter().map(|s| (s.0.seq, s.1, s.2.len())).collect();
        assert_eq!(offsets, vec![(0, 0, 4), (0, 4, 4), (0, 8, 2), (1, 0, 0), (2, 0, 2)]);
        assert_eq!(sent[4].5, 10);
        // Fragment 1 is lost; 0 and 2 acked.
        q.on_acked(sent[0].0);
        q.on_lost(sent[1].0);
        q.on_acked(sent[2].0);
        q.on_lost(sent[2].0); // acked already: not resent
        let (f, fr) = q.peek().unwrap();
        assert_eq!((f, fr.data), (sent[1].0, &b"4567"[..]));
        q.take(f);
        assert!(q.peek().is_none());
        assert!(!q.is_empty());
        q.on_acked(f);
        q.on_acked(f);
        q.on_acked(sent[3].0);
        q.on_acked(sent[4].0);
        assert!(q.is_empty());
        assert_eq!(q.queued_bytes(), 0);
    }

    #[test]
    fn flow_control_holds_a_message_back_until_the_window_opens() {
        let mut q = SendQueue::new(1000, 1 << 20, 100);
        q.push(&[1; MAX_MESSAGE], false).unwrap();
        q.push(&[2; 10], false).unwrap();
        let mut n = 0;
        while let Some((f, _)) = q.peek() {
            q.take(f);
            n += 1;
        }
        assert_eq!(n, MAX_MESSAGE.div_ceil(1000));
        q.on_window(MAX_MESSAGE as u64 + 9);
        assert!(q.peek().is_none());
        q.on_window(MAX_MESSAGE as u64 + 10);
        assert!(q.peek().is_some());
        assert_eq!(q.push(&[0; MAX_MESSAGE + 1], true), Err(SendError::TooLarge));
    }
}
