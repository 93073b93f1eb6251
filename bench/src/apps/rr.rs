//! The request/response protocol of `xdptcp load rr|crr`: a request is a length-prefixed body
//! (see [`LengthPrefixed`]); the response is a length-prefixed body of the same size carrying
//! the request's bytes back, so the client can check it got *its* answer.

use super::{Protocol, OUT_LIMIT};
use crate::framing::{for_each_frame, FrameError, LengthPrefixed};

/// Largest request body the server accepts; longer announces close the connection.
pub const MAX_BODY: usize = 1 << 20;

/// Server side of one rr connection.
#[derive(Debug)]
pub struct RrServer {
    framer: LengthPrefixed,
    requests: u64,
    broken: Option<FrameError>,
}

impl Default for RrServer {
    fn default() -> Self {
        RrServer { framer: LengthPrefixed::new(MAX_BODY), requests: 0, broken: None }
    }
}

impl RrServer {
    /// Why the stream was given up, if it was.
    pub fn error(&self) -> Option<FrameError> {
        self.broken
    }
}

impl Protocol for RrServer {
    fn on_readable(&mut self, input: &[u8], out: &mut Vec<u8>) -> usize {
        if self.broken.is_some() || out.len() >= OUT_LIMIT {
            return 0;
        }
        // A response is its request as it came, prefix and all (a length-prefixed body of the
        // same size, carrying the request's bytes): the whole requests are found first, then
        // copied out together, one copy for the lot.
        let requests = &mut self.requests;
        let room = OUT_LIMIT - out.len();
        let result = for_each_frame(&mut self.framer, input, |_, end| {
            *requests += 1;
            end < room
        });
        match result {
            Ok(consumed) => {
                out.extend_from_slice(&input[..consumed]);
                consumed
            }
            Err(e) => {
                self.broken = Some(e);
                0
            }
        }
    }

    fn wants_close(&self) -> bool {
        self.broken.is_some()
    }

    fn messages(&self) -> u64 {
        self.requests
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::drive_split;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn answers_each_request_in_order(bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..10),
                                         cuts in prop::collection::vec(any::<usize>(), 0..20)) {
            let mut input = Vec::new();
            for b in &bodies { LengthPrefixed::encode(b, &mut input).unwrap(); }
            let mut server = RrServer::default();
            let (sent, closed) = drive_split(&mut server, &input, &cuts);
            // Responses mirror requests byte for byte.
            prop_assert_eq!(sent, input);
            prop_assert!(!closed);
            prop_assert_eq!(server.messages(), bodies.len() as u64);
        }
    }

    /// The output limit counts what `out` already holds: the request that reaches it is the
    /// last answered in this call, the rest wait until `out` drains.
    #[test]
    fn answers_stop_at_the_output_limit_and_resume() {
        let body = vec![7u8; 65_536];
        let mut input = Vec::new();
        for _ in 0..6 {
            LengthPrefixed::encode(&body, &mut input).unwrap();
        }
        let frame = 4 + body.len();
        let mut server = RrServer::default();
        // A quarter of the limit already waiting: two requests fit below it, the third
        // reaches it.
        let mut out = vec![0u8; OUT_LIMIT / 4];
        assert_eq!(server.on_readable(&input, &mut out), 3 * frame);
        assert_eq!(&out[OUT_LIMIT / 4..], &input[..3 * frame]);
        assert_eq!(server.messages(), 3);
        // Over the limit: nothing more until it drains.
        assert_eq!(server.on_readable(&input[3 * frame..], &mut out), 0);
        out.clear();
        assert_eq!(server.on_readable(&input[3 * frame..], &mut out), 3 * frame);
        assert_eq!(out, &input[3 * frame..]);
        assert_eq!(server.messages(), 6);
    }

    #[test]
    fn oversized_request_closes() {
        let mut server = RrServer::default();
        let mut out = Vec::new();
        let announce = (MAX_BODY as u32 + 1).to_be_bytes();
        assert_eq!(server.on_readable(&announce, &mut out), 0);
        assert!(server.wants_close());
        assert!(out.is_empty());
    }
}
