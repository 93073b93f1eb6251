//! Messages terminated by a delimiter.

use super::{Frame, FrameError, Framer};

/// Messages terminated by a delimiter (one byte such as `\n`, or a sequence such as the
/// `\r\n\r\n` that ends an HTTP head).
#[derive(Debug, Clone)]
pub struct Delimited {
    delimiter: Box<[u8]>,
    max: usize,
    /// How many bytes at the start of the buffer are known not to *start* a delimiter. The
    /// next search starts there, so each byte is looked at a bounded number of times.
    scanned: usize,
}

impl Delimited {
    /// A framer for bodies of at most `max` bytes ended by `delimiter` (which must not be
    /// empty; an empty one is treated as a single NUL byte).
    pub fn new(delimiter: &[u8], max: usize) -> Self {
        let delimiter: Box<[u8]> =
            if delimiter.is_empty() { Box::new([0]) } else { delimiter.into() };
        Delimited { delimiter, max, scanned: 0 }
    }

    /// The delimiter.
    pub fn delimiter(&self) -> &[u8] {
        &self.delimiter
    }

    /// Forgets the search progress; for a caller that starts over on a different buffer.
    pub fn reset(&mut self) {
        self.scanned = 0;
    }

    /// Appends `body` and the delimiter to `out`. Fails if the body is over the maximum or
    /// the delimiter would be found before its end (the body holds it, or it ends with a
    /// prefix of it).
    pub fn encode_into(&self, body: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
        if body.len() > self.max {
            return Err(FrameError::TooLong { max: self.max });
        }
        let start = out.len();
        out.extend_from_slice(body);
        out.extend_from_slice(&self.delimiter);
        let d = self.delimiter.len();
        if out[start..].windows(d).position(|w| w == &*self.delimiter) != Some(body.len()) {
            out.truncate(start);
            return Err(FrameError::DelimiterInBody);
        }
        Ok(())
    }

    #[cfg(test)]
    pub(super) fn scanned(&self) -> usize {
        self.scanned
    }
}

impl Framer for Delimited {
    fn next_frame(&mut self, buf: &[u8]) -> Result<Option<Frame>, FrameError> {
        let dlen = self.delimiter.len();
        // A delimiter can start at most at offset `max` (a body of `max` bytes).
        let limit = buf.len().min(self.max.saturating_add(1));
        let first = self.delimiter[0];
        let mut at = self.scanned.min(limit);
        while at < limit {
            let Some(offset) = buf[at..limit].iter().position(|&b| b == first) else {
                at = limit;
                break;
            };
            let start = at + offset;
            match buf.get(start..start + dlen) {
                Some(candidate) if candidate == &*self.delimiter => {
                    self.scanned = 0;
                    return Ok(Some(Frame { body: 0..start, consumed: start + dlen }));
                }
                // The delimiter may still complete here once more bytes arrive.
                None => {
                    at = start;
                    break;
                }
                Some(_) => at = start + 1,
            }
        }
        self.scanned = at;
        if buf.len() >= self.max.saturating_add(dlen) {
            return Err(FrameError::TooLong { max: self.max });
        }
        Ok(None)
    }

    fn max_encoded_len(&self) -> usize {
        self.max.saturating_add(self.delimiter.len())
    }
}
