//! One module per subcommand.

pub mod io;
pub mod predict;
pub mod tokenize;
