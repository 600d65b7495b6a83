//! `bert-model`: the backend-independent BERT encoder, its task heads and HF weight I/O.
//!
//! This crate is the bottom of the workspace (`bert-model` <- `bert-data` <- `bert-train`).
//! Today it holds [`BertConfig`], read from a Hugging Face `config.json`; the model, heads and
//! weight I/O on Burn are the rest of issue 3 (see `NOTES.md` at the repository root).

pub mod config;

pub use config::{BertConfig, ConfigError, HiddenAct};
