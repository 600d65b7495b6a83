//! Inference with any head over a JSONL file: each line goes through its task module's
//! inference side ([`Predict::read_input`], [`Predict::infer`]), in batches; `features` (a bare
//! encoder's outputs) is the one output that belongs to no task.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use bert_data::readers::{json_kind as kind, numbered_lines};
use bert_data::{BertTokenizer, Encoding, TokenizerOverrides};
use bert_model::burn::prelude::Device;
use bert_model::{
    from_pretrained, resolve_model_dir, BertConfig, BertModel, HfModel, OutputOptions,
};
use serde_json::{json, Value};

use crate::config::ConfigError;
use crate::config::TaskKeys;
use crate::model_parts::check_vocab;
use crate::tasks::inference::{fields, host, rows_of, Fields, Inference};
use crate::tasks::{Predict, TaskConfig};
use crate::TrainError;

/// The name of the encoder-only output (`last_hidden`, `pooled`).
pub const FEATURES: &str = "features";

/// How `predict` runs.
#[derive(Debug, Clone)]
pub struct PredictOptions {
    /// A task name (or one of its aliases, e.g. `fill-mask`) or [`FEATURES`]; `None`: the task
    /// whose head config.json's `architectures` names, else `features`.
    pub task: Option<String>,
    /// Inputs per forward pass (padded to the longest row of the batch).
    pub batch_size: usize,
    /// Inputs are cut to this many tokens; `None`: the tokenizer's `model_max_length`, at most
    /// `max_position_embeddings`.
    pub max_seq_length: Option<usize>,
    /// Also write full logits where the task can (fill-mask).
    pub raw: bool,
    /// The task's own keys, as in a config's `[data]` (question answering: `doc_stride`,
    /// `max_query_length`, ...); keys the task does not read are left out.
    pub data: toml::Table,
}

/// The output lines (each input object plus the task's fields) and notes for the user.
#[derive(Debug, Clone)]
pub struct Predictions {
    /// One object per input line, in order.
    pub lines: Vec<Value>,
    /// What the user should know (a head that the checkpoint lacks is random).
    pub notes: Vec<String>,
}

/// One input line: its number and its object.
type Line = (usize, Fields);

/// Runs the model `model` (a directory or a hub id in the HF cache) over the JSONL file
/// `input` on `device`. A bad line is an error naming the file and line.
pub fn predict(
    model: &str,
    input: &Path,
    device: &Device,
    options: &PredictOptions,
) -> Result<Predictions, TrainError> {
    if options.batch_size == 0 {
        return Err(TrainError::Run("the batch size must be at least 1".into()));
    }
    let dir = resolve_model_dir(model)?;
    let config = BertConfig::from_file(dir.join("config.json"))
        .map_err(bert_model::PretrainedError::from)?;
    let tokenizer = BertTokenizer::from_dir(&dir, &TokenizerOverrides::default())?;
    check_vocab(&tokenizer, &config, &dir)?;
    let inference = Inference {
        tokenizer: &tokenizer,
        config: &config,
        max_len: max_len(options.max_seq_length, &config, &tokenizer)?,
        device,
        batch_size: options.batch_size,
        raw: options.raw,
    };
    check_stride(options, inference.max_len)?;
    let lines = read_lines(input)?;
    let job = PredictRun {
        dir: &dir,
        input,
        lines: &lines,
        inference: &inference,
        options,
    };
    let (outputs, notes) = match task_to_run(options.task.as_deref(), &config)? {
        None => job.features()?,
        Some(task) => {
            let task = task.with_data_keys(&options.data).map_err(|problems| {
                TrainError::Config(ConfigError::Invalid {
                    path: PathBuf::from("predict options"),
                    problems,
                })
            })?;
            with_task!(&task, task => job.run(&task))?
        }
    };
    let lines = lines
        .into_iter()
        .zip(outputs)
        .map(|((_, mut object), extra)| {
            object.extend(extra);
            Value::Object(object)
        })
        .collect();
    Ok(Predictions { lines, notes })
}

/// Refuses a window stride (`doc_stride`, given by the user) as long as the window: the
/// windows could not move. A shorter one is cut to half of what a window holds of the context.
fn check_stride(options: &PredictOptions, max_len: usize) -> Result<(), TrainError> {
    let stride = options.data.get("doc_stride").and_then(|v| v.as_integer());
    match stride {
        Some(stride) if stride >= max_len as i64 => Err(TrainError::Run(format!(
            "--doc-stride ({stride}) must be less than the window, --max-seq-length ({max_len})"
        ))),
        _ => Ok(()),
    }
}

/// The task to run: the one named (by name or alias), else the one whose head config.json's
/// `architectures` names; `None`: [`FEATURES`].
fn task_to_run(named: Option<&str>, config: &BertConfig) -> Result<Option<TaskConfig>, TrainError> {
    match named {
        Some(FEATURES) => Ok(None),
        Some(name) => TaskConfig::named(name).map(Some).ok_or_else(|| {
            let mut names: Vec<&str> = vec![FEATURES];
            for t in TaskConfig::all() {
                names.push(t.name());
                names.extend(t.aliases());
            }
            TrainError::Run(format!(
                "unknown task `{name}`; expected one of: {}",
                names.join(", ")
            ))
        }),
        None => {
            let architecture = config.architectures.as_ref().and_then(|a| a.first());
            Ok(architecture.and_then(|a| TaskConfig::for_architecture(a)))
        }
    }
}

/// The length inputs are cut to.
fn max_len(
    requested: Option<usize>,
    config: &BertConfig,
    tokenizer: &BertTokenizer,
) -> Result<usize, TrainError> {
    let limit = config.max_position_embeddings;
    match requested {
        Some(n) if n > limit => Err(TrainError::Run(format!(
            "the maximum sequence length {n} exceeds the model's max_position_embeddings ({limit})"
        ))),
        Some(n) if n < 3 => Err(TrainError::Run(format!(
            "the maximum sequence length must be at least 3, found {n}"
        ))),
        Some(n) => Ok(n),
        None => Ok(tokenizer.model_max_length().unwrap_or(limit).min(limit)),
    }
}

/// The JSON objects of a JSONL file, with their line numbers.
fn read_lines(path: &Path) -> Result<Vec<Line>, TrainError> {
    let file = File::open(path).map_err(TrainError::io(path))?;
    let mut lines = Vec::new();
    for (number, line) in numbered_lines(BufReader::new(file)) {
        let row = |message: String| TrainError::Row {
            path: path.to_path_buf(),
            line: number,
            message,
        };
        let line = line.map_err(|e| row(format!("cannot read: {e}")))?;
        if line.trim().is_empty() {
            return Err(row("empty line (expected a JSON object)".into()));
        }
        match serde_json::from_str(&line) {
            Ok(Value::Object(object)) => lines.push((number, object)),
            Ok(other) => {
                return Err(row(format!(
                    "expected a JSON object, found {}",
                    kind(&other)
                )))
            }
            Err(e) => return Err(row(format!("not valid JSON: {e}"))),
        }
    }
    Ok(lines)
}

/// One `predict` run, generic over the task it is handed.
struct PredictRun<'a> {
    dir: &'a Path,
    input: &'a Path,
    lines: &'a [Line],
    inference: &'a Inference<'a>,
    options: &'a PredictOptions,
}

impl PredictRun<'_> {
    /// Every line read with `read`, or the first bad line's error.
    fn inputs<I>(&self, read: impl Fn(&Fields) -> Result<I, String>) -> Result<Vec<I>, TrainError> {
        self.lines
            .iter()
            .map(|(line, object)| {
                read(object).map_err(|message| TrainError::Row {
                    path: self.input.to_path_buf(),
                    line: *line,
                    message,
                })
            })
            .collect()
    }

    /// The model, and a note when the checkpoint lacks (part of) its head.
    fn model<M: HfModel>(&self) -> Result<(M, Vec<String>), TrainError> {
        let loaded = from_pretrained::<M>(&self.dir.to_string_lossy(), self.inference.device, 0)?;
        let mut notes = Vec::new();
        if !loaded.report.initialized.is_empty() {
            notes.push(format!(
                "{} has no trained {} head; these tensors are random: {}",
                self.dir.display(),
                M::ARCHITECTURE,
                loaded.report.initialized.join(", ")
            ));
        }
        Ok((loaded.model, notes))
    }

    /// `features`: the encoder's `last_hidden` [tokens][hidden] and `pooled` [hidden].
    fn features(&self) -> Result<(Vec<Fields>, Vec<String>), TrainError> {
        let inputs = self.inputs(|object| self.inference.text_input(object))?;
        let (model, notes) = self.model::<BertModel>()?;
        let mut outputs = Vec::with_capacity(inputs.len());
        for chunk in inputs.chunks(self.options.batch_size) {
            let out = model.forward(&self.inference.input(chunk), OutputOptions::default());
            let (hidden, [_, seq, h]) = host(out.last_hidden_state);
            let pooled = out.pooler_output.map(host);
            for (r, enc) in chunk.iter().enumerate() {
                outputs.push(encoder_fields(enc, &hidden[r * seq * h..], h, &pooled, r));
            }
        }
        Ok((outputs, notes))
    }
}

fn encoder_fields(
    enc: &Encoding,
    hidden: &[f32],
    h: usize,
    pooled: &Option<(Vec<f32>, [usize; 2])>,
    r: usize,
) -> Fields {
    let mut out = json!({"last_hidden": rows_of(hidden, enc.len(), h)});
    if let Some((values, [_, width])) = pooled {
        out["pooled"] = json!(values[r * width..(r + 1) * width]);
    }
    fields(out)
}

impl PredictRun<'_> {
    /// Reads every line as `task`'s input and runs its head over them.
    fn run<T: Predict>(&self, task: &T) -> Result<(Vec<Fields>, Vec<String>), TrainError> {
        let inputs = self.inputs(|object| task.read_input(object, self.inference))?;
        let (model, notes) = self.model::<T::Model>()?;
        let mut outputs = Vec::with_capacity(inputs.len());
        for chunk in inputs.chunks(self.options.batch_size) {
            outputs.extend(task.infer(&model, chunk, self.inference));
        }
        Ok((outputs, notes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_are_found_by_name_alias_or_architecture() {
        let mut config = BertConfig::default();
        fn name(named: Option<&str>, config: &BertConfig) -> Option<&'static str> {
            task_to_run(named, config).unwrap().map(|t| t.name())
        }
        assert_eq!(name(Some("fill-mask"), &config), Some("masked-lm"));
        assert_eq!(name(Some("features"), &config), None);
        assert_eq!(name(None, &config), None);
        config.architectures = Some(vec!["BertForQuestionAnswering".into()]);
        assert_eq!(name(None, &config), Some("question-answering"));
        let err = task_to_run(Some("summarize"), &config)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`summarize`") && err.contains("fill-mask"),
            "{err}"
        );
    }
}
