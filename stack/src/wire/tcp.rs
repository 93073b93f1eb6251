//! Placeholder: filled in by the wire-format work.
