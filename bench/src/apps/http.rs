//! A small HTTP/1.1 responder: GET or HEAD of any path answers `200 OK` with a fixed body.
//! It exists to compare request/response service between stacks with real clients (curl, wrk,
//! a browser), so it does the parts of RFC 9112 those clients rely on and refuses the rest
//! cleanly:
//!
//! - Persistent connections (RFC 9112 §9.3): HTTP/1.1 keeps the connection open unless the
//!   request says `Connection: close`; HTTP/1.0 closes unless it says `keep-alive`.
//! - Pipelining (§9.3.2): several requests in one read are answered in order.
//! - Message bodies are framed by `Content-Length` only and discarded; a `Transfer-Encoding`
//!   the server cannot frame gets 501 (§6.1) and a close, since the stream is lost.
//! - Malformed request lines or header fields get 400, a head over the size limit 431
//!   (RFC 6585 §5), a body over the limit 413 (RFC 9110 §15.5.14); each then closes, because
//!   the server can no longer find where the next request starts.
//! - No `Date` header: the app has no clock of its own (RFC 9110 §6.6.1 lets a server without a
//!   clock omit it).

use super::{Protocol, OUT_LIMIT};
use crate::framing::{Delimited, Framer};
use std::io::Write as _;
use std::sync::Arc;

/// Server-wide settings, shared by every connection.
#[derive(Debug, Clone)]
pub struct Config {
    /// The body of every `200 OK`.
    pub body: Box<[u8]>,
    /// Largest request head (request line and header fields) accepted.
    pub max_head: usize,
    /// Largest request body accepted (and discarded).
    pub max_body: u64,
}

impl Config {
    /// A body of `body_bytes` bytes and the usual limits (8 KiB head, 1 MiB body).
    pub fn new(body_bytes: usize) -> Config {
        Config { body: vec![b'x'; body_bytes].into(), max_head: 8 * 1024, max_body: 1 << 20 }
    }
}

/// Where a connection is in the request stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Looking for the end of a request head.
    Head,
    /// Skipping this many bytes of a request body.
    Body(u64),
}

/// Why a request is refused; each maps to one status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    BadRequest,
    HeaderTooLarge,
    BodyTooLarge,
    NotImplemented,
    VersionNotSupported,
}

impl Refusal {
    fn status(self) -> &'static str {
        match self {
            Refusal::BadRequest => "400 Bad Request",
            Refusal::HeaderTooLarge => "431 Request Header Fields Too Large",
            Refusal::BodyTooLarge => "413 Content Too Large",
            Refusal::NotImplemented => "501 Not Implemented",
            Refusal::VersionNotSupported => "505 HTTP Version Not Supported",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Head,
    Other,
}

/// What the server needs to know about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Request {
    method: Method,
    keep_alive: bool,
    /// Whether to say `Connection: keep-alive` (an HTTP/1.0 client asked for it).
    announce_keep_alive: bool,
    content_length: u64,
}

/// HTTP state of one connection.
#[derive(Debug)]
pub struct Http {
    config: Arc<Config>,
    head: Delimited,
    state: State,
    close: bool,
    requests: u64,
}

impl Http {
    /// A new connection served with `config`.
    pub fn new(config: Arc<Config>) -> Http {
        let head = Delimited::new(b"\r\n\r\n", config.max_head);
        Http { config, head, state: State::Head, close: false, requests: 0 }
    }

    fn respond(&mut self, request: Request, out: &mut Vec<u8>) {
        let (status, body_len) = match request.method {
            Method::Get | Method::Head => ("200 OK", self.config.body.len()),
            Method::Other => ("405 Method Not Allowed", 0),
        };
        let _ = write!(out, "HTTP/1.1 {status}\r\nServer: xdptcp\r\n");
        if request.method == Method::Other {
            out.extend_from_slice(b"Allow: GET, HEAD\r\n");
        }
        let _ = write!(out, "Content-Type: text/plain\r\nContent-Length: {body_len}\r\n");
        if !request.keep_alive {
            out.extend_from_slice(b"Connection: close\r\n");
        } else if request.announce_keep_alive {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if request.method == Method::Get {
            out.extend_from_slice(&self.config.body);
        }
        self.close = !request.keep_alive;
    }

    fn refuse(&mut self, refusal: Refusal, out: &mut Vec<u8>) {
        let _ = write!(
            out,
            "HTTP/1.1 {}\r\nServer: xdptcp\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            refusal.status()
        );
        self.close = true;
    }
}

impl Protocol for Http {
    fn on_readable(&mut self, input: &[u8], out: &mut Vec<u8>) -> usize {
        let mut consumed = 0;
        while !self.close && out.len() < OUT_LIMIT {
            let rest = &input[consumed..];
            match self.state {
                State::Body(remaining) => {
                    if rest.is_empty() {
                        break;
                    }
                    let take = rest.len().min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    consumed += take;
                    let left = remaining - take as u64;
                    self.state = if left == 0 { State::Head } else { State::Body(left) };
                }
                State::Head => match self.head.next_frame(rest) {
                    Ok(None) => break,
                    Err(_) => {
                        self.refuse(Refusal::HeaderTooLarge, out);
                        break;
                    }
                    Ok(Some(frame)) => {
                        consumed += frame.consumed;
                        match parse_head(&rest[frame.body]) {
                            Ok(None) => {}
                            Ok(Some(request)) if request.content_length > self.config.max_body => {
                                self.refuse(Refusal::BodyTooLarge, out);
                            }
                            Ok(Some(request)) => {
                                self.requests += 1;
                                self.respond(request, out);
                                if request.content_length > 0 {
                                    self.state = State::Body(request.content_length);
                                }
                            }
                            Err(refusal) => self.refuse(refusal, out),
                        }
                    }
                },
            }
        }
        consumed
    }

    fn wants_close(&self) -> bool {
        self.close
    }

    fn messages(&self) -> u64 {
        self.requests
    }
}

/// Parses a request head (without its final empty line). `Ok(None)`: only empty lines, which a
/// server should skip before a request line (RFC 9112 §2.2).
fn parse_head(head: &[u8]) -> Result<Option<Request>, Refusal> {
    let mut head = head;
    while let Some(rest) = head.strip_prefix(b"\r\n") {
        head = rest;
    }
    if head.is_empty() {
        return Ok(None);
    }
    let mut lines = split_crlf(head);
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::BadRequest);
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) || target.is_empty() {
        return Err(Refusal::BadRequest);
    }
    if target.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err(Refusal::BadRequest);
    }
    let http11 = match version {
        b"HTTP/1.1" => true,
        b"HTTP/1.0" => false,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Err(Refusal::VersionNotSupported)
        }
        _ => return Err(Refusal::BadRequest),
    };
    let method = match method {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        _ => Method::Other,
    };

    let mut close = false;
    let mut keep_alive = false;
    let mut content_length: Option<u64> = None;
    let mut host = false;
    for line in lines {
        // RFC 9112 §5.2: obsolete line folding may be rejected with 400.
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            return Err(Refusal::BadRequest);
        }
        let colon = line.iter().position(|&b| b == b':').ok_or(Refusal::BadRequest)?;
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        // RFC 9112 §5.1: no whitespace between the field name and the colon.
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(Refusal::BadRequest);
        }
        if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',').map(trim) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_decimal(value).ok_or(Refusal::BadRequest)?;
            // RFC 9112 §6.3: differing lengths make the framing unknowable.
            if content_length.is_some_and(|m| m != n) {
                return Err(Refusal::BadRequest);
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err(Refusal::NotImplemented);
        } else if name.eq_ignore_ascii_case(b"host") {
            host = true;
        }
    }
    // RFC 9112 §3.2: an HTTP/1.1 request without Host gets 400.
    if http11 && !host {
        return Err(Refusal::BadRequest);
    }
    let keep = if http11 { !close } else { keep_alive && !close };
    Ok(Some(Request {
        method,
        keep_alive: keep,
        announce_keep_alive: keep && !http11,
        content_length: content_length.unwrap_or(0),
    }))
}

fn split_crlf(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(buf);
    std::iter::from_fn(move || {
        let r = rest?;
        match r.windows(2).position(|w| w == b"\r\n") {
            Some(i) => {
                rest = Some(&r[i + 2..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
}

/// RFC 9110 §5.6.2 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::drive_split;
    use proptest::prelude::*;

    fn app(body: usize) -> Http {
        Http::new(Arc::new(Config::new(body)))
    }

    fn run(input: &[u8]) -> (String, bool) {
        let (sent, closed) = drive_split(&mut app(5), input, &[]);
        (String::from_utf8(sent).unwrap(), closed)
    }

    const GET: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";

    #[test]
    fn get_answers_with_body_and_keeps_alive() {
        let (r, closed) = run(GET);
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("Content-Length: 5\r\n"));
        assert!(r.ends_with("\r\n\r\nxxxxx"));
        assert!(!r.contains("Connection"));
        assert!(!closed);
    }

    #[test]
    fn head_has_length_but_no_body() {
        let (r, _) = run(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(r.contains("Content-Length: 5\r\n"));
        assert!(r.ends_with("\r\n\r\n"));
    }

    #[test]
    fn connection_close_is_honoured_and_later_requests_ignored() {
        let mut input = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n".to_vec();
        input.extend_from_slice(GET);
        let (r, closed) = run(&input);
        assert!(closed);
        assert_eq!(r.matches("HTTP/1.1 200").count(), 1);
        assert!(r.contains("Connection: close\r\n"));
    }

    #[test]
    fn http10_closes_unless_keep_alive() {
        let (r, closed) = run(b"GET / HTTP/1.0\r\n\r\n");
        assert!(closed && r.contains("Connection: close"));
        let (r, closed) = run(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert!(!closed && r.contains("Connection: keep-alive"));
    }

    #[test]
    fn refusals() {
        for (input, status) in [
            (&b"GARBAGE\r\n\r\n"[..], "400"),
            (b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", "400"),
            (b"GET / HTTP/1.1\r\n\r\n", "400"),
            (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", "400"),
            (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "400"),
            (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", "505"),
            (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", "501"),
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", "413"),
        ] {
            let (r, closed) = run(input);
            assert!(r.starts_with(&format!("HTTP/1.1 {status}")), "{r}");
            assert!(closed);
        }
        let mut long = b"GET / HTTP/1.1\r\nHost: x\r\nX: ".to_vec();
        long.resize(10_000, b'a');
        let (r, closed) = run(&long);
        assert!(r.starts_with("HTTP/1.1 431"), "{r}");
        assert!(closed);
    }

    #[test]
    fn request_body_is_skipped_and_next_request_answered() {
        let mut input = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nGET ".to_vec();
        input.extend_from_slice(GET);
        let (r, closed) = run(&input);
        assert!(r.starts_with("HTTP/1.1 405"), "{r}");
        assert_eq!(r.matches("HTTP/1.1 200").count(), 1);
        assert!(!closed);
    }

    #[test]
    fn backpressure_stops_consuming() {
        let mut a = app(OUT_LIMIT);
        let mut out = Vec::new();
        let two = [GET, GET].concat();
        assert_eq!(a.on_readable(&two, &mut out), GET.len());
        assert_eq!(a.on_readable(&two[GET.len()..], &mut out), 0);
    }

    proptest! {
        /// Pipelined requests cut anywhere give the same responses as in one piece.
        #[test]
        fn pipelined_any_split(cuts in prop::collection::vec(any::<usize>(), 0..40)) {
            let input = [
                &b"\r\nGET /1 HTTP/1.1\r\nHost: x\r\n\r\n"[..],
                b"HEAD /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
                b"GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            ].concat();
            let (whole, closed) = drive_split(&mut app(7), &input, &[]);
            prop_assert!(closed);
            prop_assert_eq!(String::from_utf8_lossy(&whole).matches("HTTP/1.1 200").count(), 3);
            let (split, closed) = drive_split(&mut app(7), &input, &cuts);
            prop_assert_eq!(&split, &whole);
            prop_assert!(closed);
        }

        #[test]
        fn garbage_never_panics(input in prop::collection::vec(any::<u8>(), 0..400), cuts in prop::collection::vec(any::<usize>(), 0..10)) {
            let _ = drive_split(&mut app(3), &input, &cuts);
        }
    }

    #[test]
    fn pipelined_split_at_every_byte() {
        let input = [GET, GET, GET].concat();
        let (whole, _) = drive_split(&mut app(3), &input, &[]);
        let every: Vec<usize> = (0..input.len()).collect();
        assert_eq!(drive_split(&mut app(3), &input, &every).0, whole);
        assert_eq!(String::from_utf8_lossy(&whole).matches("200 OK").count(), 3);
    }
}
