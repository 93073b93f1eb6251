//! Address-validation tokens for the stateless Retry, and connection-id generation, both
//! from one secret key.
//!
//! The idea is SYN cookies' (RFC 4987 §3.6) and QUIC's Retry (RFC 9000 §8.1.2): the server
//! answers an Initial without a token by a Retry carrying a token it can check later without
//! having remembered anything. The token is the time it was made (milliseconds of the
//! caller's clock) and a keyed SipHash-2-4 MAC over that time, the client's address and port,
//! and the client's connection id. A client that receives the Retry has proved it can read
//! packets sent to its address; a token is accepted for [`TOKEN_LIFETIME`] after it was made.

use core::hash::Hasher;
use std::net::{IpAddr, SocketAddr};

use siphasher::sip::SipHasher24;

use super::auth::{PacketKey, KEY_LEN};
use super::wire::{ConnectionId, TOKEN_LEN};
use crate::time::{Duration, Instant};

/// How long a Retry token stays valid.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(10);

/// Domain-separation tags: the MAC and the id generator never hash the same input.
const TAG_TOKEN: u8 = 1;
const TAG_SERVER_CID: u8 = 2;
const TAG_CLIENT_CID: u8 = 3;
const TAG_PACKET_KEY: u8 = 4;

/// Makes and checks tokens, and derives connection ids, under one 128-bit secret.
#[derive(Clone, Debug)]
pub struct TokenKey {
    sip: SipHasher24,
}

fn write_addr(h: &mut SipHasher24, addr: SocketAddr) {
    match addr.ip() {
        IpAddr::V4(a) => h.write(&a.octets()),
        IpAddr::V6(a) => h.write(&a.octets()),
    }
    h.write_u16(addr.port());
}

impl TokenKey {
    /// Keyed by `key`, which must be secret and drawn from a good random source by the
    /// caller (this crate has none).
    pub fn new(key: [u8; 16]) -> Self {
        TokenKey { sip: SipHasher24::new_with_key(&key) }
    }

    fn mac(&self, remote: SocketAddr, client_cid: ConnectionId, issued_ms: u64) -> u64 {
        let mut h = self.sip;
        h.write_u8(TAG_TOKEN);
        write_addr(&mut h, remote);
        h.write_u32(client_cid.0);
        h.write_u64(issued_ms);
        h.finish()
    }

    /// The token for `remote` (whose connection id is `client_cid`) made at `now`.
    pub fn make(
        &self,
        now: Instant,
        remote: SocketAddr,
        client_cid: ConnectionId,
    ) -> [u8; TOKEN_LEN] {
        let issued = now.total_millis();
        let mut t = [0u8; TOKEN_LEN];
        t[..8].copy_from_slice(&issued.to_be_bytes());
        t[8..].copy_from_slice(&self.mac(remote, client_cid, issued).to_be_bytes());
        t
    }

    /// Whether `token` was made by this key for `remote` and `client_cid`, no longer ago than
    /// [`TOKEN_LIFETIME`] (and not in the future).
    pub fn check(
        &self,
        now: Instant,
        remote: SocketAddr,
        client_cid: ConnectionId,
        token: &[u8],
    ) -> bool {
        let (Some(issued), Some(mac)) = (token.get(..8), token.get(8..TOKEN_LEN)) else {
            return false;
        };
        if token.len() != TOKEN_LEN {
            return false;
        }
        let issued = u64::from_be_bytes(issued.try_into().unwrap_or([0xff; 8]));
        let mac = u64::from_be_bytes(mac.try_into().unwrap_or([0; 8]));
        let now_ms = now.total_millis();
        let fresh = issued <= now_ms && now_ms - issued <= TOKEN_LIFETIME.total_millis();
        // Compare without an early exit on the first differing byte.
        let diff = mac ^ self.mac(remote, client_cid, issued);
        fresh && diff == 0
    }

    /// When a token [`check`](Self::check) accepted was issued, to the millisecond: the
    /// Retry that carried it left then, so its arrival back in an Initial times a round trip
    /// on the server's own clock (the MAC vouches for the time).
    pub fn issued(token: &[u8]) -> Option<Instant> {
        let bytes: [u8; 8] = token.get(..8)?.try_into().ok()?;
        Some(Instant::from_millis(u64::from_be_bytes(bytes)))
    }

    /// The server's connection id for a client: a keyed hash of its address and id, so a
    /// repeated or duplicated Initial finds the connection it already made, and outsiders
    /// cannot predict ids. 0 is reserved ("not yet known"); `attempt` gives alternatives.
    pub fn server_cid(
        &self,
        remote: SocketAddr,
        client_cid: ConnectionId,
        attempt: u32,
    ) -> ConnectionId {
        let mut h = self.sip;
        h.write_u8(TAG_SERVER_CID);
        write_addr(&mut h, remote);
        h.write_u32(client_cid.0);
        h.write_u32(attempt);
        nonzero(h.finish())
    }

    /// The `n`-th connection id for a connection this endpoint opens.
    pub fn client_cid(&self, n: u64) -> ConnectionId {
        let mut h = self.sip;
        h.write_u8(TAG_CLIENT_CID);
        h.write_u64(n);
        nonzero(h.finish())
    }
}

impl TokenKey {
    /// The packet key of the `n`-th connection this endpoint opens (two keyed hashes): as
    /// unpredictable to outsiders as the endpoint's secret.
    pub fn packet_key(&self, n: u64) -> PacketKey {
        let mut bytes = [0u8; KEY_LEN];
        for (half, chunk) in bytes.chunks_exact_mut(8).enumerate() {
            let mut h = self.sip;
            h.write_u8(TAG_PACKET_KEY);
            h.write_u64(n);
            h.write_u8(half as u8);
            chunk.copy_from_slice(&h.finish().to_be_bytes());
        }
        PacketKey::new(bytes)
    }
}

fn nonzero(h: u64) -> ConnectionId {
    let v = (h ^ (h >> 32)) as u32;
    ConnectionId(if v == 0 { 1 } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_checks_address_cid_key_and_age() {
        let k = TokenKey::new([7; 16]);
        let a: SocketAddr = "10.0.0.1:4000".parse().unwrap();
        let b: SocketAddr = "10.0.0.1:4001".parse().unwrap();
        let t0 = Instant::from_millis(5_000);
        let tok = k.make(t0, a, ConnectionId(9));
        assert!(k.check(t0, a, ConnectionId(9), &tok));
        assert!(k.check(t0 + TOKEN_LIFETIME, a, ConnectionId(9), &tok));
        assert!(!k.check(t0 + TOKEN_LIFETIME + Duration::from_millis(1), a, ConnectionId(9), &tok));
        assert!(!k.check(t0 - Duration::from_millis(1), a, ConnectionId(9), &tok));
        assert!(!k.check(t0, b, ConnectionId(9), &tok));
        assert!(!k.check(t0, a, ConnectionId(8), &tok));
        assert!(!TokenKey::new([8; 16]).check(t0, a, ConnectionId(9), &tok));
        let mut bad = tok;
        bad[15] ^= 1;
        assert!(!k.check(t0, a, ConnectionId(9), &bad));
        assert!(!k.check(t0, a, ConnectionId(9), &tok[..15]));
        assert_ne!(k.server_cid(a, ConnectionId(9), 0), k.server_cid(b, ConnectionId(9), 0));
        assert_ne!(k.client_cid(0), k.client_cid(1));
        assert_ne!(k.packet_key(0), k.packet_key(1));
        assert_ne!(k.packet_key(0), TokenKey::new([8; 16]).packet_key(0));
    }
}
