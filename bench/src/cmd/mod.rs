//! One module per subcommand.

pub mod criterion_report;
