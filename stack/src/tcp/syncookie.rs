//! Placeholder: filled in by the TCP support work.
