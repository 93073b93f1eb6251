//! An active open's table slot named by its local port, so that the RX look-ahead finds a
//! client connection's slot from the destination port of its peer's segments, without
//! hashing the 4-tuple or reading the flow index.
//!
//! A listener's connections carry their slot in their TSvals (`super::ts_slot`); an active
//! open cannot, because its TSval offset is fixed by its 4-tuple so that each incarnation's
//! timestamps grow past the last one's (a peer in TIME-WAIT accepts a new SYN only then, RFC
//! 6191). But an active open's local port is ours to choose, and nearly always names one
//! connection: the port a connection was opened from is remembered with its slot, and a frame
//! to a port no listener takes looks there first. Only a hint, as the index's: the key is
//! compared when the frame is handled, so a port reused towards another peer (whose slot
//! replaced the first one's here) or a slot since freed costs one compare, and the frame is
//! then looked up by its hash. On `load_count`'s client the look-ahead took 180 instructions a
//! request by the hash and 73 by the port (docs/benchmarks.md, "A client's slot named
//! by its port").
//!
//! The table is one `u32` a port (256 KiB), made at the first active open: a stack that
//! only serves never has it.

/// The slot each local port's last active open took (`NONE`: none yet). An array, not a
/// slice: a `u16` indexes it with no bounds check.
#[derive(Default)]
pub(super) struct ActivePorts(Option<Box<[u32; 1 << 16]>>);

/// A slot no table has (`FlowTable::hint_at` refuses it).
const NONE: u32 = u32::MAX;

impl ActivePorts {
    /// Remembers that an active open from `port` took `slot`.
    pub(super) fn set(&mut self, port: u16, slot: u32) {
        if self.0.is_none() {
            // Made on the heap (an array literal in a `Box::new` may be built on the stack
            // first); the conversion cannot fail, the length is the array's.
            self.0 = vec![NONE; 1 << 16].into_boxed_slice().try_into().ok();
        }
        if let Some(table) = &mut self.0 {
            table[usize::from(port)] = slot;
        }
    }

    /// The slot the last active open from `port` took, if any did.
    #[inline]
    pub(super) fn get(&self, port: u16) -> Option<u32> {
        let slot = self.0.as_ref()?[usize::from(port)];
        (slot != NONE).then_some(slot)
    }
}

impl core::fmt::Debug for ActivePorts {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let Some(table) = &self.0 else { return f.write_str("ActivePorts(none)") };
        let named = table.iter().enumerate().filter(|(_, &s)| s != NONE);
        f.debug_map().entries(named).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_names_its_last_open_s_slot_and_a_stack_that_never_opens_has_no_table() {
        let mut ports = ActivePorts::default();
        assert_eq!((ports.get(40_000), ports.0.is_none()), (None, true));
        ports.set(40_000, 7);
        ports.set(65_535, 0);
        assert_eq!((ports.get(40_000), ports.get(65_535), ports.get(0)), (Some(7), Some(0), None));
        ports.set(40_000, 9);
        assert_eq!(ports.get(40_000), Some(9), "the port's later open replaces the earlier");
    }
}
