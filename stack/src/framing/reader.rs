//! Framing a receive buffer that comes as two slices, in place where possible.

use super::{checked_frame, FrameError, Framer};

/// What a [`FrameReader`] has seen: the counters a server reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FramingStats {
    /// Messages handed out.
    pub frames: u64,
    /// Their body bytes.
    pub bytes: u64,
    /// Messages that straddled the receive buffer's two slices and were copied once.
    pub copied_frames: u64,
    /// Streams refused for a message over the maximum.
    pub too_long: u64,
    /// Streams refused for a length prefix that is no number.
    pub bad_length: u64,
}

/// Cuts messages out of a receive buffer that comes as two slices in stream order (a ring
/// of chunks, as `Stack::tcp_read` lends it; a plain buffer is the first slice and an empty
/// second).
///
/// A message that lies in one slice is handed to the caller in place. One that straddles
/// the two has its start copied out of the buffer (and consumed) and is completed from the
/// second slice: at most [`Framer::max_encoded_len`] bytes are ever held here. A message
/// incomplete at the end of the buffer is left there, unconsumed, to be framed in place once
/// the rest arrives; so the stream's receive buffer must be able to hold one whole message.
///
/// Once the framer fails, the reader stays failed ([`error`](Self::error)) and consumes
/// nothing more: the stream is out of sync and its connection must be closed.
#[derive(Debug, Clone)]
pub struct FrameReader<F> {
    framer: F,
    /// The start of a message that straddled the two slices, until it completes.
    pending: Vec<u8>,
    error: Option<FrameError>,
    stats: FramingStats,
}

impl<F: Framer> FrameReader<F> {
    /// A reader with `framer`.
    pub fn new(framer: F) -> Self {
        FrameReader { framer, pending: Vec::new(), error: None, stats: FramingStats::default() }
    }

    /// The framer.
    pub fn framer(&self) -> &F {
        &self.framer
    }

    /// Counters.
    pub fn stats(&self) -> &FramingStats {
        &self.stats
    }

    /// Why the stream could not be framed, once it could not.
    pub fn error(&self) -> Option<FrameError> {
        self.error
    }

    /// Bytes of an incomplete message taken out of the buffer and held here.
    pub fn held(&self) -> usize {
        self.pending.len()
    }

    /// Hands every complete message in `a` then `b` to `on_frame`, in order, and returns how
    /// many bytes of the buffer to consume. Stops early when `on_frame` returns `false`, and
    /// at an error (see [`error`](Self::error)).
    pub fn read(&mut self, a: &[u8], b: &[u8], mut on_frame: impl FnMut(&[u8]) -> bool) -> usize {
        if self.error.is_some() {
            return 0;
        }
        let mut consumed = 0;
        for (seg, last) in [(a, b.is_empty()), (b, true)] {
            match self.read_segment(seg, last, &mut on_frame) {
                Ok((used, go_on)) => {
                    consumed += used;
                    if !go_on || last {
                        break;
                    }
                }
                Err(e) => {
                    self.error = Some(e);
                    match e {
                        FrameError::BadLength => self.stats.bad_length += 1,
                        _ => self.stats.too_long += 1,
                    }
                    break;
                }
            }
        }
        consumed
    }

    /// Frames one slice: returns the bytes of it used and whether to go on.
    fn read_segment(
        &mut self,
        seg: &[u8],
        last: bool,
        on_frame: &mut impl FnMut(&[u8]) -> bool,
    ) -> Result<(usize, bool), FrameError> {
        let mut pos = 0;
        if !self.pending.is_empty() {
            // Complete the held message from this slice; never hold more than one message.
            let held = self.pending.len();
            let take = seg.len().min(self.framer.max_encoded_len().saturating_sub(held));
            self.pending.extend_from_slice(&seg[..take]);
            match checked_frame(&mut self.framer, &self.pending)? {
                Some((body, used)) => {
                    self.stats.frames += 1;
                    self.stats.bytes += body.len() as u64;
                    self.stats.copied_frames += 1;
                    let go_on = on_frame(body);
                    // The held bytes were an incomplete message, so it ends in this slice.
                    pos = used.saturating_sub(held).max(1).min(take);
                    self.pending.clear();
                    if !go_on {
                        return Ok((pos, false));
                    }
                }
                // A framer that neither finds a message in its maximum nor fails is faulty.
                None if take < seg.len() => {
                    return Err(FrameError::TooLong { max: self.framer.max_encoded_len() })
                }
                None => return Ok((take, true)),
            }
        }
        while let Some((body, used)) = checked_frame(&mut self.framer, &seg[pos..])? {
            self.stats.frames += 1;
            self.stats.bytes += body.len() as u64;
            pos += used;
            if !on_frame(body) {
                return Ok((pos, false));
            }
        }
        if !last && pos < seg.len() {
            // A message straddles into the next slice: take its start out (never more than
            // one whole message could take: a framer that has not failed by then is faulty).
            if seg.len() - pos > self.framer.max_encoded_len() {
                return Err(FrameError::TooLong { max: self.framer.max_encoded_len() });
            }
            self.pending.extend_from_slice(&seg[pos..]);
            pos = seg.len();
        }
        Ok((pos, true))
    }
}
