//! Files written atomically: the bytes go to a temporary file beside the target, which is
//! flushed to disk and then renamed over it. A reader sees the old file or the new one, never
//! a part; a failed write leaves the old file and removes the temporary one.
//!
//! The files get the mode the user's umask gives (`0666 & !umask`), as any file the program
//! creates directly would, not the private mode of temporary files.

use std::io::{self, Write};
use std::path::Path;

use tempfile::NamedTempFile;

/// An empty temporary file in `dir` (the folder of the file it will become), created with the
/// mode the user's umask gives.
pub fn temp_file_in(dir: &Path) -> io::Result<NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tmp-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = temp_file_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_replaces_the_old_one_whole_with_the_umask_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "old").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file stays behind");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // What a file created directly gets under the same umask.
            let direct = dir.path().join("direct.txt");
            std::fs::write(&direct, "x").unwrap();
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), mode(&direct));
        }
    }

    #[test]
    fn a_failed_write_names_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-folder").join("a.txt");
        assert!(write_atomically(&missing, b"x").is_err());
        assert!(!missing.exists());
    }
}
