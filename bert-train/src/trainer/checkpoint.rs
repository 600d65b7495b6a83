//! Step checkpoints through burn-train's checkpointers, committed as one set.
//!
//! burn-train saves the model, the optimizer and the schedule through three asynchronous
//! [`Checkpointer`]s. Ours write into one scratch directory, `checkpoints/.tmp-step-N-PID`: the
//! model as an HF checkpoint (`model.safetensors`, `config.json`, tokenizer files, so that every
//! checkpoint loads in transformers), the AdamW moments as burn's `optimizer.bpk`, the schedule as
//! `scheduler.bpk`. Each reports to a shared [`CheckpointFiles`]; when all three are written, the
//! loop adds `trainer_state.json` and renames the directory to `step-N`. A kill at any moment
//! leaves either the whole set or none of it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use bert_data::BertTokenizer;
use bert_model::burn::module::Module;
use bert_model::burn::store::ModuleRecord;
use bert_model::{save_pretrained, write_text_atomically, BertConfig};
use burn::lr_scheduler::LrSchedulerRecord;
use burn::optim::OptimizerRecord;
use burn_train::checkpoint::{
    Checkpoint, Checkpointer, CheckpointerError, CheckpointingAction, CheckpointingStrategy,
};
use burn_train::metric::store::EventStoreClient;

use super::manifest::write_manifest;
use super::state::TrainerState;
use super::task_model::TaskModel;
use crate::export::write_tokenizer;
use crate::tasks::Task;
use crate::TrainError;

/// The parts burn-train writes for each checkpoint.
const PARTS: usize = 3;

/// A run's checkpoint directory and the set being written.
pub struct CheckpointFiles {
    out: PathBuf,
    keep: usize,
    written: Mutex<Written>,
    changed: Condvar,
}

#[derive(Default)]
struct Written {
    parts: usize,
    errors: Vec<String>,
}

impl CheckpointFiles {
    /// The checkpoints of the run in `out`, keeping the newest `keep`.
    pub fn new(out: &Path, keep: usize) -> Arc<Self> {
        Arc::new(CheckpointFiles {
            out: out.to_path_buf(),
            keep: keep.max(1),
            written: Mutex::new(Written::default()),
            changed: Condvar::new(),
        })
    }

    /// `checkpoints/`.
    pub fn root(&self) -> PathBuf {
        self.out.join("checkpoints")
    }

    /// The scratch directory of the set for `step`.
    pub fn scratch(&self, step: usize) -> PathBuf {
        self.root()
            .join(format!(".tmp-step-{step}-{}", std::process::id()))
    }

    /// Removes the scratch folders of runs that were killed or failed: `checkpoints/.tmp-*`
    /// and the output folder's `.tmp-*` (a final model being written). Only the run holding
    /// the output folder's lock calls this.
    pub fn clean_scratch(&self) {
        for dir in [self.root(), self.out.clone()] {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(".tmp-") {
                    let path = e.path();
                    let _ = match path.is_dir() {
                        true => std::fs::remove_dir_all(&path),
                        false => std::fs::remove_file(&path),
                    };
                }
            }
        }
    }

    /// Makes an empty scratch directory for `step`, before burn-train's checkpointers write.
    pub fn begin(&self, step: usize) -> Result<(), TrainError> {
        let tmp = self.scratch(step);
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(TrainError::io(&tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(TrainError::io(&tmp))?;
        *self.written.lock().expect("checkpoint state") = Written::default();
        Ok(())
    }

    /// A checkpointer finished its part (with an error, when it failed).
    fn part_done(&self, result: &Result<(), CheckpointerError>) {
        let mut written = self.written.lock().expect("checkpoint state");
        written.parts += 1;
        if let Err(e) = result {
            written.errors.push(e.to_string());
        }
        self.changed.notify_all();
    }

    /// Waits for the three parts, then writes `trainer_state.json` and the config, renames the
    /// set into place and removes the oldest sets beyond `keep`.
    pub fn commit(&self, state: &TrainerState, config_text: &str) -> Result<PathBuf, TrainError> {
        let step = state.step;
        let mut written = self.written.lock().expect("checkpoint state");
        while written.parts < PARTS {
            written = self.changed.wait(written).expect("checkpoint state");
        }
        let errors = std::mem::take(&mut written.errors);
        drop(written);
        let tmp = self.scratch(step);
        let result = match errors.is_empty() {
            true => self.seal(&tmp, state, config_text),
            false => Err(TrainError::Run(format!(
                "cannot write the checkpoint of step {step} in {}: {}",
                tmp.display(),
                errors.join("; ")
            ))),
        };
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let target = self.root().join(format!("step-{step}"));
        if target.exists() {
            std::fs::remove_dir_all(&target).map_err(TrainError::io(&target))?;
        }
        std::fs::rename(&tmp, &target).map_err(TrainError::io(&target))?;
        sync_dir(&self.root());
        let all = list_checkpoints(&self.out);
        if all.len() > self.keep {
            for (_, old) in &all[..all.len() - self.keep] {
                std::fs::remove_dir_all(old).map_err(TrainError::io(old))?;
            }
        }
        Ok(target)
    }
}

impl CheckpointFiles {
    /// Adds the config, the loop's state and, last, the manifest to a written set.
    fn seal(&self, tmp: &Path, state: &TrainerState, config_text: &str) -> Result<(), TrainError> {
        write_text_atomically(&tmp.join(RUN_CONFIG_FILE), config_text)?;
        let json = serde_json::to_string_pretty(state).expect("the state serialises");
        write_text_atomically(&tmp.join("trainer_state.json"), &json)?;
        write_manifest(tmp)?;
        sync_dir(tmp);
        Ok(())
    }
}

/// The run's resolved config, as the checkpoint's run was configured.
pub const RUN_CONFIG_FILE: &str = "run.toml";

/// Flushes a directory's entries to disk (best effort).
pub fn sync_dir(path: &Path) {
    if let Ok(dir) = std::fs::File::open(path) {
        let _ = dir.sync_all();
    }
}

/// The complete checkpoints of a run (`checkpoints/step-N` holding `trainer_state.json`), oldest
/// first.
pub fn list_checkpoints(output_dir: &Path) -> Vec<(usize, PathBuf)> {
    let dir = output_dir.join("checkpoints");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut found: Vec<(usize, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let step = name.strip_prefix("step-")?.parse().ok()?;
            let path = e.path();
            path.join("trainer_state.json")
                .is_file()
                .then_some((step, path))
        })
        .collect();
    found.sort();
    found
}

/// Moves a damaged checkpoint `step-N` out of the list, to `damaged-step-N` beside it (kept
/// for inspection); the path it went to, or the old one when it could not be moved.
pub fn set_aside(dir: &Path) -> PathBuf {
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    let parent = dir.parent().unwrap_or(Path::new("."));
    let mut aside = parent.join(format!("damaged-{name}"));
    let mut n = 1;
    while aside.exists() {
        n += 1;
        aside = parent.join(format!("damaged-{name}-{n}"));
    }
    match std::fs::rename(dir, &aside) {
        Ok(()) => aside,
        Err(_) => dir.to_path_buf(),
    }
}

fn io_error(e: impl std::error::Error) -> CheckpointerError {
    CheckpointerError::Unknown(crate::error_chain(&e))
}

fn not_restored(what: &str) -> CheckpointerError {
    CheckpointerError::Unknown(format!(
        "{what} is restored from the checkpoint directory when the run is built, not here"
    ))
}

/// Writes the model of a checkpoint in the HF layout, with its config and tokenizer.
pub struct ModelFiles<T: Task> {
    files: Arc<CheckpointFiles>,
    /// A copy of the model to load burn's record into.
    template: Mutex<TaskModel<T>>,
    config: BertConfig,
    tokenizer: BertTokenizer,
    max_seq_length: usize,
}

impl<T: Task> ModelFiles<T> {
    /// Writes models shaped as `template` (any device) with `config` and `tokenizer`.
    pub fn new(
        files: Arc<CheckpointFiles>,
        template: TaskModel<T>,
        config: BertConfig,
        tokenizer: BertTokenizer,
        max_seq_length: usize,
    ) -> Self {
        ModelFiles {
            files,
            template: Mutex::new(template),
            config,
            tokenizer,
            max_seq_length,
        }
    }

    fn write(&self, step: usize, record: ModuleRecord) -> Result<(), CheckpointerError> {
        let tmp = self.files.scratch(step);
        let template = self.template.lock().map_err(io_error)?.clone();
        let model = template.load_record(record);
        save_pretrained(&model.model, &self.config, &tmp).map_err(io_error)?;
        write_tokenizer(&self.tokenizer, &tmp, self.max_seq_length).map_err(io_error)
    }
}

impl<T: Task> Checkpointer<ModuleRecord> for ModelFiles<T> {
    fn save(&self, step: usize, record: ModuleRecord) -> Result<(), CheckpointerError> {
        let result = self.write(step, record);
        self.files.part_done(&result);
        result
    }

    fn delete(&self, _step: usize) -> Result<(), CheckpointerError> {
        Ok(())
    }

    fn restore(&self, _step: usize) -> Result<ModuleRecord, CheckpointerError> {
        Err(not_restored("the model"))
    }
}

/// Writes the optimizer state (`optimizer.bpk`) or the schedule (`scheduler.bpk`).
pub struct RecordFile {
    files: Arc<CheckpointFiles>,
    name: &'static str,
}

impl RecordFile {
    /// burn's AdamW moments, by parameter id.
    pub fn optimizer(files: Arc<CheckpointFiles>) -> Self {
        RecordFile {
            files,
            name: OPTIMIZER_FILE,
        }
    }

    /// The schedule's position.
    pub fn scheduler(files: Arc<CheckpointFiles>) -> Self {
        RecordFile {
            files,
            name: SCHEDULER_FILE,
        }
    }
}

/// The optimizer part of a checkpoint.
pub const OPTIMIZER_FILE: &str = "optimizer.bpk";
/// The schedule part of a checkpoint.
pub const SCHEDULER_FILE: &str = "scheduler.bpk";

impl<R: Checkpoint> Checkpointer<R> for RecordFile {
    fn save(&self, step: usize, record: R) -> Result<(), CheckpointerError> {
        let result = record.save(self.files.scratch(step).join(self.name));
        self.files.part_done(&result);
        result
    }

    fn delete(&self, _step: usize) -> Result<(), CheckpointerError> {
        Ok(())
    }

    fn restore(&self, _step: usize) -> Result<R, CheckpointerError> {
        Err(not_restored(self.name))
    }
}

/// Saves whenever the loop asks: the loop decides when (every N steps, at epoch ends, on `q`),
/// and [`CheckpointFiles::commit`] removes old sets only after the new one is in place.
pub struct OnRequest;

impl CheckpointingStrategy for OnRequest {
    fn checkpointing(
        &mut self,
        _step: usize,
        _store: &EventStoreClient,
    ) -> Vec<CheckpointingAction> {
        vec![CheckpointingAction::Save]
    }
}

/// Reads the optimizer and schedule records of a checkpoint directory.
pub fn read_records(dir: &Path) -> Result<(OptimizerRecord, LrSchedulerRecord), TrainError> {
    let optim = dir.join(OPTIMIZER_FILE);
    let optimizer = OptimizerRecord::load(&optim)
        .map_err(|e| TrainError::Run(format!("{}: {e}", optim.display())))?;
    let sched = dir.join(SCHEDULER_FILE);
    let scheduler = LrSchedulerRecord::load(&sched)
        .map_err(|e| TrainError::Run(format!("{}: {e}", sched.display())))?;
    Ok((optimizer, scheduler))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_are_listed_only_when_complete() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("checkpoints");
        for (name, complete) in [("step-10", true), ("step-20", false), ("step-5", true)] {
            std::fs::create_dir_all(root.join(name)).unwrap();
            if complete {
                std::fs::write(root.join(name).join("trainer_state.json"), "{}").unwrap();
            }
        }
        std::fs::create_dir_all(root.join(".tmp-step-30-1")).unwrap();
        let found: Vec<usize> = list_checkpoints(dir.path()).iter().map(|c| c.0).collect();
        assert_eq!(found, vec![5, 10]);
    }
}
