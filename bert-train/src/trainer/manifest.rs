//! A checkpoint's manifest: the size and SHA-256 of every file of the set, written last, so that
//! a checkpoint proves itself whole before a run resumes from it.
//!
//! The rename of the scratch folder commits a checkpoint (a kill leaves the whole set or none);
//! the manifest catches what happens to the files afterwards: a disk that lost blocks, a copy
//! that was cut short, a file someone edited.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::TrainError;
use bert_model::write_text_atomically;

/// The manifest's file name in a checkpoint folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Every file of a checkpoint, by name.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    files: BTreeMap<String, FileEntry>,
}

/// What a file held when the checkpoint was written.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct FileEntry {
    bytes: u64,
    sha256: String,
}

/// Writes the manifest of the files in `dir` (a flat folder), after all of them.
pub fn write_manifest(dir: &Path) -> Result<(), TrainError> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(TrainError::io(dir))? {
        let entry = entry.map_err(TrainError::io(dir))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name == MANIFEST_FILE || !entry.path().is_file() {
            continue;
        }
        let path = entry.path();
        files.insert(name, describe(&path).map_err(TrainError::io(&path))?);
    }
    let json = serde_json::to_string_pretty(&Manifest { files }).expect("a manifest serialises");
    Ok(write_text_atomically(&dir.join(MANIFEST_FILE), &json)?)
}

/// Checks every file of `dir` against its manifest: `Ok(true)` when all match, `Ok(false)`
/// when there is no manifest (a checkpoint of an older bert-train), else the first problem.
pub fn verify(dir: &Path) -> Result<bool, String> {
    let path = dir.join(MANIFEST_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("{MANIFEST_FILE}: {e}")),
    };
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| format!("{MANIFEST_FILE}: {e}"))?;
    for (name, expected) in &manifest.files {
        let found = match describe(&dir.join(name)) {
            Ok(found) => found,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!("{name} is missing"))
            }
            Err(e) => return Err(format!("{name}: {e}")),
        };
        if found.bytes != expected.bytes {
            return Err(format!(
                "{name} has {} bytes, the manifest says {}",
                found.bytes, expected.bytes
            ));
        }
        if found.sha256 != expected.sha256 {
            return Err(format!(
                "{name} does not match its checksum in the manifest"
            ));
        }
    }
    Ok(true)
}

/// The size and SHA-256 of a file.
fn describe(path: &Path) -> std::io::Result<FileEntry> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut file, &mut hasher)?;
    let sha256 = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(FileEntry { bytes, sha256 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("model.safetensors"), vec![7u8; 3000]).unwrap();
        std::fs::write(dir.path().join("trainer_state.json"), "{}").unwrap();
        write_manifest(dir.path()).unwrap();
        dir
    }

    #[test]
    fn a_whole_checkpoint_verifies_and_one_without_a_manifest_is_unverified() {
        let dir = checkpoint();
        assert_eq!(verify(dir.path()), Ok(true));
        std::fs::remove_file(dir.path().join(MANIFEST_FILE)).unwrap();
        assert_eq!(verify(dir.path()), Ok(false));
    }

    #[test]
    fn truncated_garbled_and_missing_files_are_named() {
        let dir = checkpoint();
        let weights = dir.path().join("model.safetensors");
        std::fs::write(&weights, vec![7u8; 100]).unwrap();
        let err = verify(dir.path()).unwrap_err();
        assert_eq!(
            err,
            "model.safetensors has 100 bytes, the manifest says 3000"
        );
        std::fs::write(&weights, vec![8u8; 3000]).unwrap();
        let err = verify(dir.path()).unwrap_err();
        assert!(err.contains("does not match its checksum"), "{err}");
        std::fs::remove_file(&weights).unwrap();
        assert_eq!(
            verify(dir.path()).unwrap_err(),
            "model.safetensors is missing"
        );
        std::fs::write(dir.path().join(MANIFEST_FILE), "{").unwrap();
        assert!(verify(dir.path()).unwrap_err().starts_with(MANIFEST_FILE));
    }
}
