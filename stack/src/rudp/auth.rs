//! Packet authentication: every datagram ends in an 8-byte tag, a SipHash-2-4 MAC of all
//! the bytes before it under the connection's 128-bit key.
//!
//! Why: a connection id is not a secret (it is in every packet, and the fuzzer, a
//! middlebox or a guessing attacker may know it). Before tags, a datagram forged with a live
//! connection's id was processed like the peer's: it could take a packet number the peer
//! was about to use (the peer's real packet was then dropped as a duplicate yet
//! acknowledged, so its message was lost for good), acknowledge data never received, move
//! the flow-control window, or close the connection. QUIC rules all of that out by
//! protecting every packet with keys from its TLS handshake (RFC 9001 §5) and allows only
//! one unauthenticated kill, the stateless reset, whose token an outsider cannot know (RFC
//! 9000 §10.3). `rudp` has no key exchange, so it settles for what matters against an
//! off-path attacker (the one RFC 5961 defends TCP against):
//!
//! - the client draws the connection key (from its endpoint secret; this crate has no
//!   random source) and sends it in its Initials, which go only to the server's address;
//! - every packet afterwards, both ways, and the server's Retry, carry a tag under that key;
//!   a packet whose tag fails is dropped before anything in it is looked at, and counted
//!   (`EndpointStats::unauthenticated`);
//! - there is no stateless reset, so no unauthenticated packet ends a connection.
//!
//! An attacker who cannot read the Initial can then do nothing a dropped packet would not
//! do. One who can read it (on-path) can forge packets: `rudp` is not a security protocol,
//! and confidentiality or on-path integrity needs DTLS or QUIC. The tag also catches the
//! corruption UDP's 16-bit checksum misses.

use core::hash::Hasher;

use siphasher::sip::SipHasher24;

/// Bytes of the tag at the end of every packet.
pub const TAG_LEN: usize = 8;
/// Bytes of a connection key.
pub const KEY_LEN: usize = 16;

/// A connection's packet key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketKey {
    bytes: [u8; KEY_LEN],
}

impl PacketKey {
    /// The key `bytes` (the client's draw, or what its Initial carried).
    pub const fn new(bytes: [u8; KEY_LEN]) -> Self {
        PacketKey { bytes }
    }

    /// The key's bytes, as an Initial carries them.
    pub fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    fn tag(&self, body: &[u8]) -> [u8; TAG_LEN] {
        let mut h = SipHasher24::new_with_key(&self.bytes);
        h.write(body);
        h.finish().to_be_bytes()
    }

    /// Writes the tag of `buf[..len]` at `buf[len..len + TAG_LEN]`; returns the sealed
    /// length, or `None` if `buf` has no room for the tag.
    pub fn seal(&self, buf: &mut [u8], len: usize) -> Option<usize> {
        let tag = self.tag(buf.get(..len)?);
        buf.get_mut(len..len + TAG_LEN)?.copy_from_slice(&tag);
        Some(len + TAG_LEN)
    }

    /// The datagram without its tag if the tag is right; `None` otherwise (or if it is too
    /// short to have one).
    pub fn open<'a>(&self, datagram: &'a [u8]) -> Option<&'a [u8]> {
        let body_len = datagram.len().checked_sub(TAG_LEN)?;
        let (body, tag) = datagram.split_at(body_len);
        // One 64-bit comparison: no early exit on the first differing byte.
        let want = u64::from_be_bytes(self.tag(body));
        let got = u64::from_be_bytes(tag.try_into().ok()?);
        (want ^ got == 0).then_some(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_packets_open_and_any_change_is_refused() {
        let k = PacketKey::new([3; KEY_LEN]);
        let mut buf = [0u8; 40];
        buf[..30].copy_from_slice(&[0x5a; 30]);
        let n = k.seal(&mut buf, 30).unwrap();
        assert_eq!(n, 30 + TAG_LEN);
        assert_eq!(k.open(&buf[..n]), Some(&buf[..30]));
        // Another key, a flipped bit anywhere, a truncation: refused.
        assert_eq!(PacketKey::new([4; KEY_LEN]).open(&buf[..n]), None);
        for bit in 0..n * 8 {
            let mut b = buf;
            b[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(k.open(&b[..n]), None, "bit {bit}");
        }
        assert_eq!(k.open(&buf[..n - 1]), None);
        assert_eq!(k.open(&buf[..TAG_LEN - 1]), None);
        // No room for the tag: nothing written.
        assert_eq!(k.seal(&mut buf[..35], 30), None);
    }
}
