//! Discard: everything received is dropped (RFC 863 over TCP); the server side of `load bulk`.

use super::Protocol;

/// Discard state of one connection.
#[derive(Debug, Default)]
pub struct Discard {
    bytes: u64,
}

impl Protocol for Discard {
    fn on_readable(&mut self, input: &[u8], _out: &mut Vec<u8>) -> usize {
        self.bytes += input.len() as u64;
        input.len()
    }

    fn wants_close(&self) -> bool {
        false
    }

    /// Discard has no messages; it reports bytes dropped.
    fn messages(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumes_everything_and_answers_nothing() {
        let mut d = Discard::default();
        let mut out = Vec::new();
        assert_eq!(d.on_readable(b"hello", &mut out), 5);
        assert_eq!(d.on_readable(b"", &mut out), 0);
        assert!(out.is_empty());
        assert_eq!(d.messages(), 5);
    }
}
