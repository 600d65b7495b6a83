//! A run's output folder, guarded: one run at a time, and nothing of the user's overwritten.
//!
//! A run holds an OS lock on `OUTPUT_DIR/.bert-train.lock` (an advisory `flock`, released by the
//! system when the process ends however it ends) and writes its PID and host into the file. A
//! second run into the same folder finds the lock taken and refuses, naming the first. A lock
//! file left by a run that was killed is free again, and the next run takes it over.
//!
//! Before it writes anything, a run that does not resume checks that the folder holds nothing
//! but what runs write there; anything else is refused unless the user passes `--overwrite`.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use crate::TrainError;

/// The lock file in the output folder.
pub const LOCK_FILE: &str = ".bert-train.lock";

/// What a run writes in its output folder (besides `.tmp-*` scratch folders).
const RUN_FILES: &[&str] = &[
    LOCK_FILE,
    "config.toml",
    "checkpoints",
    "model",
    "metrics.csv",
    "metrics.png",
    "eval_results.json",
    "test_results.json",
    "train_results.json",
];

/// The output folder, locked for this run until dropped.
#[derive(Debug)]
pub struct OutputLock {
    file: File,
    /// The run whose lock was found left behind and taken over (`PID on HOST`).
    pub taken_over: Option<String>,
}

impl OutputLock {
    /// Creates `out` if needed and locks it; an error naming the run that holds it.
    pub fn acquire(out: &Path) -> Result<Self, TrainError> {
        std::fs::create_dir_all(out).map_err(TrainError::io(out))?;
        let path = out.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(TrainError::io(&path))?;
        let mut holder = String::new();
        // An unreadable lock file says nothing about its holder; the OS lock decides.
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim().to_string();
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let who = if holder.is_empty() {
                    "another run".to_string()
                } else {
                    format!("the run {holder}")
                };
                return Err(TrainError::Run(format!(
                    "{} is in use by {who} (lock file {}); wait for it to end, or choose \
                     another output_dir",
                    out.display(),
                    path.display()
                )));
            }
            Err(TryLockError::Error(e)) => return Err(TrainError::io(&path)(e)),
        }
        let me = format!("PID {} on {}", std::process::id(), host_name());
        file.set_len(0).map_err(TrainError::io(&path))?;
        file.rewind().map_err(TrainError::io(&path))?;
        file.write_all(format!("{me}\n").as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(TrainError::io(&path))?;
        Ok(OutputLock {
            file,
            taken_over: (!holder.is_empty()).then_some(holder),
        })
    }
}

impl Drop for OutputLock {
    /// Empties the lock file (an empty file is a free lock) and releases the OS lock. The file
    /// stays: removing it would let a run waiting on the old file and a new one both hold a
    /// lock.
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// The entries of `out` that no run writes, sorted (empty when `out` does not exist).
pub fn foreign_entries(out: &Path) -> Result<Vec<String>, TrainError> {
    let entries = match std::fs::read_dir(out) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(TrainError::io(out)(e)),
    };
    let mut foreign: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|name| !RUN_FILES.contains(&name.as_str()) && !name.starts_with(".tmp-"))
        .collect();
    foreign.sort();
    Ok(foreign)
}

/// Refuses an output folder holding files no run wrote, unless `overwrite`.
pub fn check_foreign(out: &Path, overwrite: bool) -> Result<(), TrainError> {
    let foreign = foreign_entries(out)?;
    if foreign.is_empty() || overwrite {
        return Ok(());
    }
    const SHOWN: usize = 5;
    let mut names = foreign
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if foreign.len() > SHOWN {
        names.push_str(&format!(" and {} more", foreign.len() - SHOWN));
    }
    Err(TrainError::Run(format!(
        "{} holds files that no run wrote ({names}); a run would write config.toml, metrics \
         and model/ among them. Choose an empty or new output_dir, or pass --overwrite to \
         write there anyway",
        out.display()
    )))
}

/// This machine's name, for the lock file.
fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this host".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_first_and_a_dropped_one_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let first = OutputLock::acquire(dir.path()).unwrap();
        assert!(first.taken_over.is_none());
        let err = OutputLock::acquire(dir.path()).unwrap_err().to_string();
        let me = format!("PID {}", std::process::id());
        assert!(
            err.contains("is in use by the run") && err.contains(&me),
            "{err}"
        );
        drop(first);
        let again = OutputLock::acquire(dir.path()).unwrap();
        assert!(
            again.taken_over.is_none(),
            "a clean release leaves no holder"
        );
    }

    #[test]
    fn a_lock_file_left_by_a_dead_run_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), "PID 4242 on elsewhere\n").unwrap();
        let lock = OutputLock::acquire(dir.path()).unwrap();
        assert_eq!(lock.taken_over.as_deref(), Some("PID 4242 on elsewhere"));
    }

    #[test]
    fn files_no_run_writes_are_refused_unless_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["config.toml", "metrics.csv", ".tmp-model-12"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("model")).unwrap();
        check_foreign(dir.path(), false).unwrap();
        std::fs::write(dir.path().join("notes.md"), "mine").unwrap();
        let err = check_foreign(dir.path(), false).unwrap_err().to_string();
        assert!(
            err.contains("(notes.md)") && err.contains("--overwrite"),
            "{err}"
        );
        check_foreign(dir.path(), true).unwrap();
        check_foreign(&dir.path().join("absent"), false).unwrap();
    }
}
