//! `bert-model`: the backend-independent BERT encoder, its task heads and HF weight I/O.
//!
//! This crate is the bottom of the workspace (`bert-model` <- `bert-data` <- `bert-train`).
//! The model itself lands with issue 3 (see `NOTES.md` at the repository root); today the
//! crate only fixes its place in the workspace.
