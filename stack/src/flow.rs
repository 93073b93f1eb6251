//! The 4-tuple demultiplexer: an O(1) table from connection identity to connection slot.
