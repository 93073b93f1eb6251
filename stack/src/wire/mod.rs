//! Wire formats: zero-copy views over byte buffers plus parsed representations.
//!
//! Each format follows one shape (after smoltcp): a view `Packet<T: AsRef<[u8]>>` whose
//! constructor `new_checked` validates lengths once, after which no accessor can panic; and a
//! parsed `Repr` with `parse`, `emit` and `buffer_len` (or `header_len`). Parsers never panic on
//! untrusted bytes: a malformed packet is an [`Error`], which is a different answer from "not
//! for us" (a well-formed packet another host should handle).

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod seq;
pub mod tcp;
pub mod tcp_common;
pub mod tcp_options;
pub mod udp;

pub use seq::SeqNumber;

use core::fmt;

/// Why a packet could not be parsed. Small and `Copy`: it travels on the hot path and is
/// counted, never allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer is shorter than the header or the length a header field announces.
    Truncated,
    /// A length or offset field holds an impossible value (e.g. IPv4 IHL < 5, TCP data offset
    /// < 5, an option length that overruns the option space).
    BadLength,
    /// The checksum does not verify.
    BadChecksum,
    /// A version, type or code that this format does not know or does not accept.
    Unsupported,
    /// A field holds a value the protocol forbids (e.g. a broadcast source address).
    Malformed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated packet",
            Error::BadLength => "impossible length field",
            Error::BadChecksum => "bad checksum",
            Error::Unsupported => "unsupported version, type or code",
            Error::Malformed => "malformed field value",
        })
    }
}

impl std::error::Error for Error {}

/// Result of parsing a wire format.
pub type Result<T> = core::result::Result<T, Error>;
