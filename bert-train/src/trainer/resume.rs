//! Where a run resumes: the newest checkpoint that proves itself whole, made by the same
//! configuration.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::checkpoint::{list_checkpoints, set_aside, RUN_CONFIG_FILE};
use super::manifest::{verify, MANIFEST_FILE};
use super::output_dir::check_foreign;
use super::state::read_state;
use super::{global_batch, Start};
use crate::config::FineTuneConfig;
use crate::tasks::TaskConfig;
use crate::TrainError;

/// Keys that may change between a run and its resumption: they change how the run is shown,
/// kept or placed, not what it computes.
const MAY_CHANGE: &[&str] = &[
    "output_dir",
    "training.progress",
    "training.keep_checkpoints",
    "training.checkpoint_every_steps",
    "training.log_every_steps",
    "training.loader_workers",
    "training.device",
    "training.eval_batch_size",
    "data.cache_dir",
];

/// Keys that split a global batch (rows per pass, passes, devices): they may change with the
/// number of ranks as long as the global batch stays the same, and with it every step.
const LAYOUT: &[&str] = &[
    "training.batch_size",
    "training.gradient_accumulation_steps",
    "training.devices",
];

/// The checkpoint to resume from, if any: the newest whose files match its manifest (damaged
/// ones are moved aside, each with a note), made by the same configuration. An error when the
/// output folder holds checkpoints and `start.resume` is off, when it holds files no run wrote
/// and `start.overwrite` is off, when every checkpoint is damaged, or when the configuration
/// changed.
pub fn resume_point(
    config: &FineTuneConfig<TaskConfig>,
    start: Start,
    ranks: usize,
    note: &dyn Fn(String),
) -> Result<Option<(usize, PathBuf)>, TrainError> {
    let out = &config.output_dir;
    let found = list_checkpoints(out);
    let Some((newest, _)) = found.last() else {
        check_foreign(out, start.overwrite)?;
        if start.resume {
            note(format!(
                "no checkpoint in {}; starting from step 0",
                out.join("checkpoints").display()
            ));
        }
        return Ok(None);
    };
    if !start.resume {
        return Err(TrainError::Run(format!(
            "{} already holds checkpoints (newest: step {newest}); pass --resume to continue \
             the run, or choose another output_dir",
            out.display()
        )));
    }
    let mut damaged = Vec::new();
    for (step, dir) in found.into_iter().rev() {
        match verify(&dir) {
            Ok(verified) => {
                if !verified {
                    note(format!(
                        "{}: no {MANIFEST_FILE} (an older bert-train wrote it); its files are \
                         not verified",
                        dir.display()
                    ));
                }
                check_same_run(config, &dir, ranks)?;
                note(format!("resumed from step {step}"));
                return Ok(Some((step, dir)));
            }
            Err(problem) => {
                let aside = set_aside(&dir);
                note(format!(
                    "{} is damaged ({problem}); moved to {}, trying the one before",
                    dir.display(),
                    aside.display()
                ));
                damaged.push(format!("step {step}: {problem}"));
            }
        }
    }
    Err(TrainError::Run(format!(
        "no checkpoint in {} can be resumed: {}",
        out.join("checkpoints").display(),
        damaged.join("; ")
    )))
}

/// Refuses to resume a checkpoint under a configuration that computes something else than
/// the one it was made with (its `run.toml`), naming each key that changed. On `ranks`
/// processes, the keys that split the global batch may change if the global batch does not.
fn check_same_run(
    config: &FineTuneConfig<TaskConfig>,
    dir: &Path,
    ranks: usize,
) -> Result<(), TrainError> {
    let path = dir.join(RUN_CONFIG_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let before: Table = toml::from_str(&text).map_err(|e| TrainError::ModelFile {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let (was, is) = global_batches(config, before.clone(), dir, ranks)?;
    let same_batch = was == Some(is);
    let now: Table = toml::from_str(&config.to_toml()).expect("a config's TOML reads back");
    let (before, now) = (flatten(&before), flatten(&now));
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(now.keys()).collect();
    let may_change = |key: &str| MAY_CHANGE.contains(&key) || (same_batch && LAYOUT.contains(&key));
    let layout = was.filter(|&was| was != is).map(|was| {
        format!(
            "the global batch (batch_size x gradient_accumulation_steps x devices x ranks) was \
             {was}, is now {is} on {ranks} rank(s)"
        )
    });
    let changed: Vec<String> = keys
        .into_iter()
        .filter(|key| !may_change(key.as_str()) && before.get(*key) != now.get(*key))
        .map(|key| {
            let show = |v: Option<&Value>| v.map_or("unset".to_string(), Value::to_string);
            format!(
                "`{key}` was {}, is now {}",
                show(before.get(key)),
                show(now.get(key))
            )
        })
        .chain(layout)
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    Err(TrainError::Run(format!(
        "cannot resume from {} with a changed config: {}. Resume with the run's own config \
         ({}), or start a new run in another output_dir",
        dir.display(),
        changed.join("; "),
        config.output_dir.join("config.toml").display()
    )))
}

/// The global batch of the checkpoint's run (its config and its ranks, from
/// `trainer_state.json`; unknown if its config no longer reads) and that of `config` on `ranks`
/// processes.
fn global_batches(
    config: &FineTuneConfig<TaskConfig>,
    before: Table,
    dir: &Path,
    ranks: usize,
) -> Result<(Option<usize>, usize), TrainError> {
    let is = global_batch(config, ranks);
    let Ok(before) = FineTuneConfig::<TaskConfig>::from_table(before) else {
        return Ok((None, is));
    };
    let state = read_state(dir)?;
    Ok((Some(global_batch(&before, state.ranks.unwrap_or(1))), is))
}

/// Every leaf of a table by its dotted key.
fn flatten(table: &Table) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (key, value) in table {
        match value {
            Value::Table(inner) => {
                for (k, v) in flatten(inner) {
                    out.insert(format!("{key}.{k}"), v);
                }
            }
            other => {
                out.insert(key.clone(), other.clone());
            }
        }
    }
    out
}
