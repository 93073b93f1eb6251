//! Placeholder: the timing wheel.
