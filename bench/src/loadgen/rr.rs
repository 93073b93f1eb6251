//! Client side of the rr protocol (see `apps::rr`): a fixed request, and a parser that counts
//! complete responses in whatever pieces they arrive.

use crate::framing::{FrameError, Framer, LengthPrefixed};

/// Why a response stream is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseError {
    /// The stream cannot be framed.
    Framing(FrameError),
    /// A response of the wrong size: not the answer to our request.
    WrongSize { expected: usize, got: usize },
}

/// One rr client connection's protocol state.
#[derive(Debug, Clone)]
pub struct RrClient {
    request: Box<[u8]>,
    size: usize,
    framer: LengthPrefixed,
}

impl RrClient {
    /// A client that sends requests with bodies of `size` bytes (at most `apps::rr::MAX_BODY`).
    pub fn new(size: usize) -> RrClient {
        let mut request = Vec::with_capacity(size + LengthPrefixed::PREFIX);
        let body: Vec<u8> = (0..size).map(|i| i as u8).collect();
        // `size` is at most MAX_BODY (checked by the caller), far below u32::MAX.
        let _ = LengthPrefixed::encode(&body, &mut request);
        RrClient { request: request.into(), size, framer: LengthPrefixed::new(size) }
    }

    /// The bytes of one request.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// Finds complete responses at the start of `input`. Returns (bytes consumed, responses).
    pub fn on_readable(&mut self, input: &[u8]) -> Result<(usize, usize), ResponseError> {
        let mut consumed = 0;
        let mut responses = 0;
        loop {
            match self.framer.next_frame(&input[consumed..]) {
                Ok(Some(frame)) => {
                    let got = frame.body.len();
                    if got != self.size {
                        return Err(ResponseError::WrongSize { expected: self.size, got });
                    }
                    consumed += frame.consumed;
                    responses += 1;
                }
                Ok(None) => return Ok((consumed, responses)),
                Err(FrameError::BadLength | FrameError::DelimiterInBody) => {
                    // A 32-bit prefix is always a number; kept for completeness.
                    return Err(ResponseError::WrongSize { expected: self.size, got: 0 });
                }
                Err(FrameError::TooLong { .. }) => {
                    // A longer announced length is a wrong-size answer; say how long.
                    let got = input
                        .get(consumed..consumed + 4)
                        .and_then(|p| p.try_into().ok())
                        .map_or(0, |p: [u8; 4]| u32::from_be_bytes(p) as usize);
                    return Err(ResponseError::WrongSize { expected: self.size, got });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::{rr::RrServer, Protocol};

    #[test]
    fn client_understands_the_server_in_pieces() {
        let mut client = RrClient::new(10);
        let mut server = RrServer::default();
        let mut requests = Vec::new();
        for _ in 0..3 {
            requests.extend_from_slice(client.request());
        }
        let mut responses = Vec::new();
        assert_eq!(server.on_readable(&requests, &mut responses), requests.len());
        let mut pending = Vec::new();
        let mut total = 0;
        for b in responses {
            pending.push(b);
            let (used, n) = client.on_readable(&pending).unwrap();
            pending.drain(..used);
            total += n;
        }
        assert_eq!(total, 3);
        assert!(pending.is_empty());
    }

    #[test]
    fn wrong_size_is_an_error() {
        let mut client = RrClient::new(10);
        let mut other = Vec::new();
        LengthPrefixed::encode(&[0; 11], &mut other).unwrap();
        assert_eq!(
            client.on_readable(&other),
            Err(ResponseError::WrongSize { expected: 10, got: 11 })
        );
        let mut short = Vec::new();
        LengthPrefixed::encode(&[0; 3], &mut short).unwrap();
        assert_eq!(
            client.on_readable(&short),
            Err(ResponseError::WrongSize { expected: 10, got: 3 })
        );
    }
}
