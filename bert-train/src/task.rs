//! The model side of a task: which head, how a batch is put on a device, what the forward
//! pass returns, and how predictions become metrics.
//!
//! A new task (question answering, multiple choice, masked LM) adds a variant to [`TaskModel`],
//! a [`Target`] kind, and a metric function; the training loop is shared.

use std::path::Path;

use bert_data::batch::token_label_batch;
use bert_model::burn::module::Module;
use bert_model::burn::prelude::{Device, Int, Tensor, TensorData};
use bert_model::{
    host_values, save_pretrained, BertConfig, BertForSequenceClassification,
    BertForTokenClassification, BertInput, Checkpoint, HfModel, LoadReport, OutputOptions,
    ParamSource, SequenceLabels,
};

use crate::data::{Example, Target};
use crate::metrics::{self, Metrics};
use crate::TrainError;

/// The model being fine-tuned.
#[derive(Module, Debug)]
pub enum TaskModel {
    /// Sequence classification or regression.
    Sequence(BertForSequenceClassification),
    /// Token classification.
    Tokens(BertForTokenClassification),
}

/// Labels of a batch, on the device.
#[derive(Debug, Clone)]
pub enum BatchLabels {
    /// Class ids `[batch]`.
    Classes(Tensor<1, Int>),
    /// Regression targets `[batch, 1]`.
    Scores(Tensor<2>),
    /// Tag ids `[batch, seq]`, -100 where unlabelled.
    Tags(Tensor<2, Int>),
}

/// A padded batch on a device.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Model inputs.
    pub input: BertInput,
    /// Labels.
    pub labels: BatchLabels,
    /// Rows in the batch.
    pub rows: usize,
}

/// Host-side batch data, prepared off the training thread.
#[derive(Debug, Clone)]
pub struct HostBatch {
    rows: Vec<(Vec<u32>, Vec<u32>)>,
    targets: Vec<Target>,
}

impl HostBatch {
    /// Copies the rows of `examples` picked by `indices`.
    pub fn gather(examples: &[Example], indices: &[usize]) -> Self {
        HostBatch {
            rows: indices
                .iter()
                .map(|&i| {
                    (
                        examples[i].row.ids.clone(),
                        examples[i].row.type_ids.clone(),
                    )
                })
                .collect(),
            targets: indices
                .iter()
                .map(|&i| examples[i].target.clone())
                .collect(),
        }
    }

    /// Pads to the longest row and puts everything on `device`.
    pub fn to_device(&self, pad_id: u32, device: &Device) -> Batch {
        let input = BertInput::from_rows(&self.rows, pad_id, device);
        let n = self.rows.len();
        let labels = match self.targets.first() {
            Some(Target::Score(_)) => {
                let values: Vec<f32> = self
                    .targets
                    .iter()
                    .map(|t| if let Target::Score(s) = t { *s } else { 0.0 })
                    .collect();
                BatchLabels::Scores(Tensor::from_data(TensorData::new(values, [n, 1]), device))
            }
            Some(Target::Tags(_)) => {
                let seq = input.input_ids.dims()[1];
                let tags: Vec<&[i64]> = self
                    .targets
                    .iter()
                    .map(|t| {
                        if let Target::Tags(v) = t {
                            v.as_slice()
                        } else {
                            &[]
                        }
                    })
                    .collect();
                BatchLabels::Tags(token_label_batch(&tags, seq, device))
            }
            _ => {
                let values: Vec<i64> = self
                    .targets
                    .iter()
                    .map(|t| if let Target::Class(c) = t { *c } else { -100 })
                    .collect();
                BatchLabels::Classes(Tensor::from_data(TensorData::new(values, [n]), device))
            }
        };
        Batch {
            input,
            labels,
            rows: n,
        }
    }
}

/// Pads `rows` of examples into a batch on `device` (no worker thread).
pub fn batch_of(examples: &[Example], indices: &[usize], pad_id: u32, device: &Device) -> Batch {
    HostBatch::gather(examples, indices).to_device(pad_id, device)
}

/// What one forward pass gives back to the host.
#[derive(Debug, Clone)]
pub enum Predictions {
    /// Argmax class per row.
    Classes(Vec<usize>),
    /// Score per row.
    Scores(Vec<f64>),
    /// Argmax tag per position, `[rows][seq]`.
    Tags(Vec<Vec<usize>>),
}

impl TaskModel {
    /// Builds the head named by `config` (regression or classification is in `config`) from
    /// `source`.
    pub fn build_sequence(
        config: &BertConfig,
        source: &mut ParamSource,
    ) -> Result<Self, TrainError> {
        Ok(TaskModel::Sequence(BertForSequenceClassification::build(
            config, source,
        )?))
    }

    /// Builds a token-classification head.
    pub fn build_tokens(config: &BertConfig, source: &mut ParamSource) -> Result<Self, TrainError> {
        Ok(TaskModel::Tokens(BertForTokenClassification::build(
            config, source,
        )?))
    }

    /// Builds the model for `token_task` (else sequence) from a checkpoint; tensors the
    /// checkpoint lacks (the new head) are initialised from `seed`.
    pub fn from_checkpoint(
        token_task: bool,
        config: &BertConfig,
        checkpoint: &Checkpoint,
        device: &Device,
        seed: u64,
    ) -> Result<(Self, LoadReport), TrainError> {
        let prefix = if token_task {
            BertForTokenClassification::BASE_PREFIX
        } else {
            BertForSequenceClassification::BASE_PREFIX
        };
        let mut source =
            ParamSource::checkpoint(device, checkpoint, prefix, config.initializer_range, seed);
        let model = if token_task {
            Self::build_tokens(config, &mut source)?
        } else {
            Self::build_sequence(config, &mut source)?
        };
        Ok((model, source.finish()))
    }

    /// Mean loss of the batch (a scalar tensor that can be back-propagated on an autodiff
    /// device).
    pub fn loss(&self, batch: &Batch) -> Tensor<1> {
        self.forward(batch).0
    }

    fn forward(&self, batch: &Batch) -> (Tensor<1>, Predictions) {
        let options = OutputOptions::default();
        match (self, &batch.labels) {
            (TaskModel::Sequence(m), labels) => {
                let labels = match labels {
                    BatchLabels::Classes(c) => SequenceLabels::Classes(c.clone()),
                    BatchLabels::Scores(s) => SequenceLabels::Scores(s.clone()),
                    BatchLabels::Tags(_) => unreachable!("sequence batches have no tags"),
                };
                let scores = matches!(labels, SequenceLabels::Scores(_));
                let out = m.forward(&batch.input, Some(labels), options);
                let loss = out.loss.expect("labels were given");
                let [rows, n] = out.logits.dims();
                let preds = if scores {
                    Predictions::Scores(Vec::new())
                } else {
                    Predictions::Classes(Vec::with_capacity(rows * n))
                };
                (loss, preds_with_logits(preds, out.logits.detach()))
            }
            (TaskModel::Tokens(m), BatchLabels::Tags(tags)) => {
                let out = m.forward(&batch.input, Some(tags.clone()), options);
                let loss = out.loss.expect("labels were given");
                let [rows, seq, n] = out.logits.dims();
                let values = host_values(out.logits.detach());
                let tags = (0..rows)
                    .map(|r| {
                        (0..seq)
                            .map(|s| argmax(&values[(r * seq + s) * n..(r * seq + s + 1) * n]))
                            .collect()
                    })
                    .collect();
                (loss, Predictions::Tags(tags))
            }
            (TaskModel::Tokens(_), _) => unreachable!("token batches carry tags"),
        }
    }

    /// Loss (as a number) and predictions of a batch, for evaluation.
    pub fn predict(&self, batch: &Batch) -> (f64, Predictions) {
        let (loss, preds) = self.forward(batch);
        (loss.into_scalar::<f32>() as f64, preds)
    }

    /// Writes config.json (`config`, with this head's architecture) and model.safetensors
    /// under transformers' names.
    pub fn save(&self, config: &BertConfig, dir: &Path) -> Result<(), TrainError> {
        match self {
            TaskModel::Sequence(m) => save_pretrained(m, config, dir)?,
            TaskModel::Tokens(m) => save_pretrained(m, config, dir)?,
        }
        Ok(())
    }
}

fn preds_with_logits(preds: Predictions, logits: Tensor<2>) -> Predictions {
    let [rows, n] = logits.dims();
    let values = host_values(logits);
    match preds {
        Predictions::Scores(_) => Predictions::Scores(values.iter().map(|&v| v as f64).collect()),
        _ => Predictions::Classes(
            (0..rows)
                .map(|r| argmax(&values[r * n..(r + 1) * n]))
                .collect(),
        ),
    }
}

fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// Accumulates predictions over an evaluation and turns them into metrics.
#[derive(Debug, Default)]
pub struct Collector {
    loss_sum: f64,
    loss_rows: usize,
    classes: (Vec<usize>, Vec<usize>),
    scores: (Vec<f64>, Vec<f64>),
    tags: (Vec<Vec<usize>>, Vec<Vec<usize>>),
}

impl Collector {
    /// Adds one batch: its mean loss, predictions and the examples it was built from.
    pub fn add(&mut self, loss: f64, preds: Predictions, examples: &[&Example]) {
        // transformers' Trainer averages the per-batch mean losses weighted by batch size.
        self.loss_sum += loss * examples.len() as f64;
        self.loss_rows += examples.len();
        match preds {
            Predictions::Classes(p) => {
                for (pred, ex) in p.into_iter().zip(examples) {
                    if let Target::Class(c) = ex.target {
                        self.classes.0.push(pred);
                        self.classes.1.push(c as usize);
                    }
                }
            }
            Predictions::Scores(p) => {
                for (pred, ex) in p.into_iter().zip(examples) {
                    if let Target::Score(s) = ex.target {
                        self.scores.0.push(pred);
                        self.scores.1.push(s as f64);
                    }
                }
            }
            Predictions::Tags(p) => {
                for (pred, ex) in p.into_iter().zip(examples) {
                    if let Target::Tags(gold) = &ex.target {
                        // Only labelled positions (first pieces of words) count, as in
                        // transformers' token-classification example.
                        let (mut ps, mut gs) = (Vec::new(), Vec::new());
                        for (i, &g) in gold.iter().enumerate() {
                            if g >= 0 {
                                ps.push(pred.get(i).copied().unwrap_or(0));
                                gs.push(g as usize);
                            }
                        }
                        self.tags.0.push(ps);
                        self.tags.1.push(gs);
                    }
                }
            }
        }
    }

    /// The metrics, with `loss`: classification, regression or tagging metrics by what was
    /// collected. `names` are the class or tag names.
    pub fn finish(&self, names: Option<&[String]>) -> Metrics {
        let mut out = if !self.tags.1.is_empty() {
            let names = names.unwrap_or(&[]);
            let name = |i: &usize| names.get(*i).cloned().unwrap_or_else(|| "O".to_string());
            let to_names = |seqs: &Vec<Vec<usize>>| -> Vec<Vec<String>> {
                seqs.iter().map(|s| s.iter().map(name).collect()).collect()
            };
            metrics::tagging(&to_names(&self.tags.0), &to_names(&self.tags.1))
        } else if !self.scores.1.is_empty() {
            metrics::regression(&self.scores.0, &self.scores.1)
        } else {
            let n = names.map_or(2, |n| n.len());
            metrics::classification(&self.classes.0, &self.classes.1, n)
        };
        out.insert(
            "loss".to_string(),
            self.loss_sum / self.loss_rows.max(1) as f64,
        );
        out
    }
}

/// Evaluates `model` (a plain-device, validation-mode model) on `examples` in batches of
/// `batch_size`, in file order.
pub fn evaluate(
    model: &TaskModel,
    examples: &[Example],
    batch_size: usize,
    pad_id: u32,
    names: Option<&[String]>,
    device: &Device,
) -> Metrics {
    let mut collector = Collector::default();
    let indices: Vec<usize> = (0..examples.len()).collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let batch = batch_of(examples, chunk, pad_id, device);
        let (loss, preds) = model.predict(&batch);
        collector.add(loss, preds, &rows_of(examples, chunk));
    }
    collector.finish(names)
}

/// The rows of a batch, for [`Collector::add`].
pub fn rows_of<'a>(examples: &'a [Example], indices: &[usize]) -> Vec<&'a Example> {
    indices.iter().map(|&i| &examples[i]).collect()
}
