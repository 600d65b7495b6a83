//! One module per subcommand.

pub mod bench;
pub mod io;
pub mod predict;
pub mod tokenize;
