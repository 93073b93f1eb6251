//! Echo: every byte received is sent back (RFC 862 over TCP).

use super::{Protocol, OUT_LIMIT};

/// Echo state of one connection.
#[derive(Debug, Default)]
pub struct Echo {
    bytes: u64,
}

impl Protocol for Echo {
    fn on_readable(&mut self, input: &[u8], out: &mut Vec<u8>) -> usize {
        // Backpressure: a peer that sends without reading must not grow our buffers.
        let take = input.len().min(OUT_LIMIT.saturating_sub(out.len()));
        out.extend_from_slice(&input[..take]);
        self.bytes += take as u64;
        take
    }

    fn wants_close(&self) -> bool {
        false
    }

    /// Echo has no messages; it reports bytes echoed.
    fn messages(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::drive_split;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn echoes_exactly(input in prop::collection::vec(any::<u8>(), 0..2000), cuts in prop::collection::vec(any::<usize>(), 0..20)) {
            let (sent, closed) = drive_split(&mut Echo::default(), &input, &cuts);
            prop_assert_eq!(sent, input);
            prop_assert!(!closed);
        }
    }

    #[test]
    fn stops_consuming_when_output_is_full() {
        let mut e = Echo::default();
        let mut out = vec![0; OUT_LIMIT - 10];
        assert_eq!(e.on_readable(&[1; 100], &mut out), 10);
        assert_eq!(e.on_readable(&[1; 100], &mut out), 0);
        assert_eq!(out.len(), OUT_LIMIT);
    }
}
