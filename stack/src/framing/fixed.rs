//! Messages of one fixed size.

use super::{Frame, FrameError, Framer};

/// Messages of exactly `size` bytes, nothing around them.
#[derive(Debug, Clone)]
pub struct Fixed {
    size: usize,
}

impl Fixed {
    /// A framer for messages of exactly `size` bytes (at least 1: an empty message would
    /// never advance the stream).
    pub fn new(size: usize) -> Self {
        Fixed { size: size.max(1) }
    }

    /// The message size.
    pub fn size(&self) -> usize {
        self.size
    }
}

impl Framer for Fixed {
    fn next_frame(&mut self, buf: &[u8]) -> Result<Option<Frame>, FrameError> {
        if buf.len() < self.size {
            return Ok(None);
        }
        Ok(Some(Frame { body: 0..self.size, consumed: self.size }))
    }

    fn max_encoded_len(&self) -> usize {
        self.size
    }
}
