//! The subcommands of `bert-train`.

pub mod bench;
pub mod config;
pub mod console;
pub mod embed;
pub mod fine_tune;
pub mod io;
pub mod predict;
pub mod prepare;
pub mod signals;
pub mod tokenize;
