//! The TCP configurations a stack's connections share (`Connection::config`).

use std::sync::Arc;

use crate::tcp::TcpConfig;

/// How many distinct configurations are kept for sharing: the stack's own, fitted to each
/// family (two), and a few of listeners' and of `tcp_connect_with`'s. A configuration
/// beyond them is still shared by the connection's own copies-on-write; it is only
/// allocated once per connection made with it instead of once.
const KEPT: usize = 8;

/// The configurations in use, each in one `Arc` that every connection made with it holds.
///
/// A connection made with the same (fitted) configuration as an earlier one shares its
/// allocation, so that a stack's connections hold one copy between them instead of 160 bytes
/// each, and their segments read one line that stays in the cache instead of one of their
/// own. Looked up when a connection is made (a comparison with each kept one), never per
/// segment. The `Arc`s are this stack's alone: their counts are never touched by another
/// core (`Connection::config`).
#[derive(Debug)]
pub(super) struct SharedConfigs {
    kept: Vec<Arc<TcpConfig>>,
}

impl SharedConfigs {
    pub(super) fn new() -> Self {
        SharedConfigs { kept: Vec::with_capacity(KEPT) }
    }

    /// `config` in an `Arc` shared with the connections made with an equal one. A new one is
    /// kept if there is room, or in place of one no connection holds any more.
    pub(super) fn share(&mut self, config: TcpConfig) -> Arc<TcpConfig> {
        if let Some(kept) = self.kept.iter().find(|k| ***k == config) {
            return Arc::clone(kept);
        }
        let new = Arc::new(config);
        if self.kept.len() < KEPT {
            self.kept.push(Arc::clone(&new));
        } else if let Some(unused) = self.kept.iter_mut().find(|k| Arc::strong_count(k) == 1) {
            *unused = Arc::clone(&new);
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_configurations_share_one_allocation_and_unused_ones_make_room() {
        let mut shared = SharedConfigs::new();
        let linux = TcpConfig::default();
        let a = shared.share(linux);
        let b = shared.share(linux);
        assert!(Arc::ptr_eq(&a, &b), "equal configurations share");
        let other = shared.share(linux.with_nodelay(true));
        assert!(!Arc::ptr_eq(&a, &other) && other.nodelay() && !a.nodelay());
        // Fill the rest, holding each: a ninth is handed out but not kept.
        let held: Vec<_> = (0..KEPT as u16 - 2)
            .map(|i| shared.share(TcpConfig { mss: 1000 + i, ..linux }))
            .collect();
        let ninth = shared.share(TcpConfig { mss: 500, ..linux });
        assert!(!Arc::ptr_eq(&ninth, &shared.share(TcpConfig { mss: 500, ..linux })));
        // Once no connection holds one, its place goes to a new configuration.
        drop(held);
        let again = shared.share(TcpConfig { mss: 500, ..linux });
        assert!(Arc::ptr_eq(&again, &shared.share(TcpConfig { mss: 500, ..linux })));
        assert!(Arc::ptr_eq(&a, &shared.share(linux)), "the held ones stay");
    }
}

#[cfg(all(test, feature = "sim"))]
mod in_a_stack {
    use crate::sim::{establish, LinkConfig, Pair};
    use crate::stack::{Stack, TcpHandle};
    use crate::tcp::TcpConfig;
    use crate::time::Duration;

    fn config_of(stack: &Stack, h: TcpHandle) -> *const TcpConfig {
        let socket = stack.flows.get(h.0).expect("a live connection");
        socket.conn.config()
    }

    #[test]
    fn connected_and_accepted_connections_share_and_an_option_copies() {
        let mut p = Pair::with_link(LinkConfig::default(), 7);
        let limit = Duration::from_secs(5);
        let (c1, s1, _) = establish(&mut p, 80, limit).expect("first handshake");
        let (c2, s2, _) = establish(&mut p, 81, limit).expect("second handshake");
        assert_eq!(config_of(&p.a, c1), config_of(&p.a, c2), "connected ones share");
        assert_eq!(config_of(&p.b, s1), config_of(&p.b, s2), "accepted ones share");
        p.b.tcp_set_nodelay(s1, true).unwrap();
        assert_ne!(config_of(&p.b, s1), config_of(&p.b, s2), "the option copied");
        let nodelay = |h: TcpHandle| p.b.flows.get(h.0).unwrap().conn.config().nodelay();
        assert!(nodelay(s1) && !nodelay(s2), "and changed the one connection only");
    }
}
