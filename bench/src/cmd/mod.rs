//! One module per subcommand.

pub mod congestion;
pub mod criterion_report;
