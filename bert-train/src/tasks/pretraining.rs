//! `pretraining`: BERT's own objective, masked LM + next-sentence prediction,
//! `BertForPreTraining` (from a checkpoint, or from scratch with `[model] config`).
//!
//! Text (`format = "text"`): documents separated by blank lines, one sentence (or line) per
//! line. Instances are made once per split, from the run's seed, the way the BERT paper's data
//! creation makes them (`corpus::instances`), and prepared into Arrow shards in `cache_dir`
//! (read through a memory map) unless `in_memory`. Masking is that of `masked-lm`, drawn per
//! step. Metrics: `mlm_loss`, `nsp_loss` (means over predicted tokens and over pairs),
//! `mlm_accuracy`, `nsp_accuracy`.

use std::sync::Arc;

use bert_data::batch::LabelSet;
use bert_data::readers::Format;
use bert_data::shards::TokenRow;
use bert_data::Encoding;
use bert_model::burn::prelude::{Device, Int, Tensor, TensorData};
use bert_model::burn::tensor::activation::log_softmax;
use bert_model::rng::SplitMix64;
use bert_model::{
    host_values, BertConfig, BertForPreTraining, BertInput, LabelledLogits, OutputOptions,
};

use super::inference::{fields, host, rows_of, Fields, Inference};
use super::masked_lm::{corpus_splits, int_values, mlm_probability_problems};
use super::masked_lm::{padded_labels, Masking};
use super::{row_rng, LoadContext, Predict, Task, TaskData};
use crate::corpus::instances::InstanceOptions;
use crate::corpus::{Corpus, Layout};
use crate::config::Validate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use crate::metrics::Metrics;
use crate::TrainError;
use serde_json::json;

/// The keys of `pretraining`: all in `[data]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Config {
    /// Its keys of `[data]`.
    pub data: Pretraining,
}

impl Validate for Config {
    fn problems(&self) -> Vec<String> {
        let mut problems = mlm_probability_problems(self.data.mlm_probability);
        let p = self.data.short_seq_prob;
        if !(0.0..=1.0).contains(&p) {
            problems.push(format!("`data.short_seq_prob`: {p} is outside [0, 1]"));
        }
        problems
    }
}

/// The task and its options, which are its `[data]` keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Pretraining {
    /// Share of tokens to predict, in (0, 1).
    pub mlm_probability: f64,
    /// Mask whole words rather than single word pieces.
    pub whole_word_mask: bool,
    /// Share of documents whose instances aim at a random length shorter than the maximum.
    pub short_seq_prob: f64,
    /// Keep the instances in memory instead of preparing them once into Arrow shards in
    /// `cache_dir` and reading them through a memory map (small corpora, read-only disks).
    pub in_memory: bool,
}

impl Default for Pretraining {
    fn default() -> Self {
        Pretraining {
            mlm_probability: 0.15,
            whole_word_mask: false,
            short_seq_prob: 0.1,
            in_memory: false,
        }
    }
}

/// One segment pair `[CLS] A [SEP] B [SEP]`, before masking: a row of its split's corpus.
#[derive(Debug, Clone)]
pub struct Instance {
    corpus: Arc<Corpus>,
    row: u32,
}

impl Instance {
    /// The pair's tokens.
    pub fn tokens(&self) -> TokenRow<'_> {
        self.corpus.row(self.row as usize)
    }

    /// 0: B follows A; 1: B is from another document.
    pub fn next(&self) -> i64 {
        self.corpus.label(self.row as usize).unwrap_or(0)
    }

    /// 0 for `[CLS] A [SEP]`, 1 for `B [SEP]`.
    pub fn type_ids(&self) -> Vec<u32> {
        let mut specials = 0;
        let special = self.tokens().special;
        special
            .iter()
            .map(|&s| {
                let segment = u32::from(specials >= 2);
                specials += usize::from(s == 1);
                segment
            })
            .collect()
    }
}

/// Masked rows, their labels and the NSP labels.
#[derive(Debug, Clone)]
pub struct HostBatch {
    rows: Vec<(Vec<u32>, Vec<u32>)>,
    labels: Vec<Vec<i64>>,
    next: Vec<i64>,
}

/// A padded batch on a device.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Model inputs `[pairs, seq]`.
    pub input: BertInput,
    /// MLM labels `[pairs, seq]` (-100 where nothing is predicted).
    pub labels: Tensor<2, Int>,
    /// NSP labels `[pairs]`.
    pub next: Tensor<1, Int>,
}

/// What evaluation keeps of one pair.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Output {
    /// Sum of the cross-entropies at the predicted tokens.
    pub mlm_loss: f64,
    /// Predicted tokens.
    pub mlm_tokens: usize,
    /// Of which right.
    pub mlm_correct: usize,
    /// The NSP cross-entropy.
    pub nsp_loss: f64,
    /// Whether the NSP prediction is right.
    pub nsp_correct: bool,
}

impl Task for Pretraining {
    const NAME: &'static str = "pretraining";
    const FORMATS: &'static [Format] = &[Format::Text];
    type Model = BertForPreTraining;
    type Config = Config;
    type Feature = Instance;
    type HostBatch = HostBatch;
    type Batch = Batch;
    type Output = Output;

    fn new(config: &Config) -> Self {
        config.data.clone()
    }

    fn metric_names(&self) -> &'static [&'static str] {
        &["mlm_loss", "nsp_loss", "mlm_accuracy", "nsp_accuracy"]
    }

    fn load(&self, context: &LoadContext) -> Result<TaskData<Instance>, TrainError> {
        let layout = |name: &str| self.layout(context, name);
        let feature = |corpus, row| Instance { corpus, row };
        corpus_splits(context, &layout, self.in_memory, &feature)
    }

    fn model_config(&self, config: BertConfig, _labels: Option<&LabelSet>) -> BertConfig {
        config
    }

    fn length(feature: &Instance) -> usize {
        feature.tokens().ids.len()
    }

    fn gather(&self, features: &[Instance], indices: &[usize], rng: &mut SplitMix64) -> HostBatch {
        let mut batch = HostBatch {
            rows: Vec::with_capacity(indices.len()),
            labels: Vec::with_capacity(indices.len()),
            next: Vec::with_capacity(indices.len()),
        };
        for &i in indices {
            let instance = &features[i];
            let mut rng = row_rng(rng, i);
            let masking = Masking {
                probability: self.mlm_probability,
                whole_word: self.whole_word_mask,
                mask_id: instance.corpus.mask_id,
                vocab_size: instance.corpus.vocab_size,
            };
            let (ids, labels) = masking.apply(instance.tokens(), &mut rng);
            batch.rows.push((ids, instance.type_ids()));
            batch.labels.push(labels);
            batch.next.push(instance.next());
        }
        batch
    }

    /// The rows. The loss is the masked tokens' mean plus the pairs' mean, so a step split
    /// across ranks (or accumulated passes) weighs each batch's MLM term by its rows rather than
    /// by its masked tokens: close to one process's step, not equal to it.
    fn loss_count(&self, _host: &HostBatch, rows: usize) -> usize {
        rows
    }

    fn to_device(&self, host: &HostBatch, pad_id: u32, device: &Device) -> Batch {
        let input = BertInput::from_rows(&host.rows, pad_id, device);
        let n = host.next.len();
        Batch {
            labels: padded_labels(&host.labels, input.input_ids.dims(), device),
            next: Tensor::from_data(TensorData::new(host.next.clone(), [n]), device),
            input,
        }
    }

    fn forward(
        &self,
        model: &BertForPreTraining,
        batch: &Batch,
        with_outputs: bool,
    ) -> (Tensor<1>, Vec<Output>) {
        let labels = (batch.labels.clone(), batch.next.clone());
        let options = OutputOptions::skipping_padding();
        let out = model.forward_labelled(&batch.input, labels, options);
        if !with_outputs {
            return (out.loss, Vec::new());
        }
        let loss = out.loss;
        (loss, outputs(out.lm, out.seq_relationship_logits, batch))
    }

    fn metrics(&self, _: &[Instance], outputs: Vec<Output>, _: Option<&LabelSet>) -> Metrics {
        let tokens: usize = outputs.iter().map(|o| o.mlm_tokens).sum();
        let pairs = outputs.len().max(1) as f64;
        let mut out = Metrics::new();
        let mlm_loss: f64 = outputs.iter().map(|o| o.mlm_loss).sum();
        out.insert("mlm_loss".into(), mlm_loss / tokens.max(1) as f64);
        let correct: usize = outputs.iter().map(|o| o.mlm_correct).sum();
        out.insert("mlm_accuracy".into(), correct as f64 / tokens.max(1) as f64);
        let nsp_loss: f64 = outputs.iter().map(|o| o.nsp_loss).sum();
        out.insert("nsp_loss".into(), nsp_loss / pairs);
        let right = outputs.iter().filter(|o| o.nsp_correct).count();
        out.insert("nsp_accuracy".into(), right as f64 / pairs);
        out
    }

}

impl Predict for Pretraining {
    type Input = Encoding;

    fn read_input(&self, fields: &Fields, inference: &Inference) -> Result<Encoding, String> {
        inference.text_input(fields)
    }

    fn infer(&self, model: &BertForPreTraining, inputs: &[Encoding], inference: &Inference) -> Vec<Fields> {
        let out = model.forward(&inference.input(inputs), None, OutputOptions::skipping_padding());
        let (mlm, [_, seq, vocab]) = host(out.prediction_logits);
        let nsp = host_values(out.seq_relationship_logits);
        inputs
            .iter()
            .enumerate()
            .map(|(r, enc)| {
                let row = &mlm[r * seq * vocab..(r + 1) * seq * vocab];
                fields(json!({
                    "mlm_logits": rows_of(row, enc.len(), vocab),
                    "nsp_logits": nsp[r * 2..r * 2 + 2],
                }))
            })
            .collect()
    }
}

/// Per-pair losses and hits from the two heads' logits.
fn outputs(lm: LabelledLogits, nsp_logits: Tensor<2>, batch: &Batch) -> Vec<Output> {
    let labelled = lm.positions.len();
    let vocab = lm.logits.dims()[1];
    let predicted = int_values(lm.logits.clone().argmax(1).reshape([labelled]));
    let safe = lm.labels.clone().clamp(0, vocab as i64 - 1).reshape([labelled, 1]);
    let picked = log_softmax(lm.logits, 1).gather(1, safe).reshape([labelled]);
    let picked = bert_model::host_values(picked);
    let labels = int_values(lm.labels);
    let nsp_log = bert_model::host_values(log_softmax(nsp_logits, 1));
    let next = int_values(batch.next.clone());
    let mut outputs: Vec<Output> = (0..next.len())
        .map(|r| Output {
            mlm_loss: 0.0,
            mlm_tokens: 0,
            mlm_correct: 0,
            nsp_loss: -f64::from(nsp_log[r * 2 + next[r] as usize]),
            nsp_correct: (nsp_log[r * 2 + 1] > nsp_log[r * 2]) == (next[r] == 1),
        })
        .collect();
    for (i, &(row, _)) in lm.positions.iter().enumerate() {
        if labels[i] >= 0 {
            let o = &mut outputs[row];
            o.mlm_loss -= f64::from(picked[i]);
            o.mlm_tokens += 1;
            o.mlm_correct += usize::from(predicted[i] == labels[i]);
        }
    }
    outputs
}

/// Keeps the instances of the splits apart while one seed makes them all.
fn split_salt(split: &str) -> u64 {
    match split {
        "train" => 0x7241_1E,
        "validation" => 0x7A11_DA7E,
        _ => 0x7E57,
    }
}

impl Pretraining {
    /// Instances of `max_seq_length` tokens, drawn for split `name` from the run's data seed.
    fn layout(&self, context: &LoadContext, name: &str) -> Layout {
        Layout::Instances(InstanceOptions {
            max_len: context.config.data.max_seq_length,
            short_seq_prob: self.short_seq_prob,
            seed: context.config.training.data_seed() ^ split_salt(name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::testing::{model, tiny};
    use crate::tasks::evaluate;

    /// Each instance's tokens and next-sentence label.
    fn rows(instances: &[Instance]) -> Vec<(Vec<u32>, Vec<u8>, Vec<u8>, i64)> {
        instances
            .iter()
            .map(|i| {
                let t = i.tokens();
                (t.ids.to_vec(), t.special.to_vec(), t.word_start.to_vec(), i.next())
            })
            .collect()
    }

    /// Eight documents of four sentences.
    fn text() -> String {
        let sentences = ["the cat sat on the mat .", "john lives in paris .", "a big red dog ran .",
            "the dog sat , the cat ran ."];
        (0..8)
            .map(|d| {
                (0..4)
                    .map(|s| sentences[(d + s) % 4].to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    #[test]
    fn instances_pair_segments_half_of_them_random_and_fit_the_length() {
        let run = tiny(
            "task = \"pretraining\"",
            "format = \"text\"\nshort_seq_prob = 0.2\n",
            &[("train.txt", &text())],
        );
        let task = Pretraining::from_task_config(&run.config.task).unwrap();
        let instances = task.load(&run.context()).unwrap().train.features;
        assert!(instances.len() >= 16, "{}", instances.len());
        for instance in &instances {
            let tokens = instance.tokens();
            assert!(tokens.ids.len() <= 16 && tokens.ids.len() >= 5);
            let seps = tokens.special.iter().filter(|&&s| s == 1).count();
            assert_eq!(seps, 3, "[CLS] and two [SEP]");
            let type_ids = instance.type_ids();
            assert_eq!(type_ids.len(), tokens.ids.len());
            let a = tokens.special[1..].iter().position(|&s| s == 1).unwrap() + 2;
            assert!(type_ids[..a].iter().all(|&t| t == 0), "{type_ids:?}");
            assert!(type_ids[a..].iter().all(|&t| t == 1), "{type_ids:?}");
        }
        let random = instances.iter().filter(|i| i.next() == 1).count() as f64;
        let share = random / instances.len() as f64;
        assert!((0.25..=0.85).contains(&share), "{share}");
        // The same seed makes the same instances.
        let again = task.load(&run.context()).unwrap().train.features;
        assert_eq!(rows(&instances), rows(&again));

        let model = model(&task, &run, None);
        let device = Device::default();
        let scores = evaluate(&task, &model, &instances, 4, 0, None, &device);
        for key in ["loss", "mlm_loss", "nsp_loss", "mlm_accuracy", "nsp_accuracy"] {
            assert!(scores[key].is_finite(), "{key}: {scores:?}");
        }
        // Untrained: the MLM loss is about ln(vocabulary), the NSP loss about ln 2.
        assert!((scores["nsp_loss"] - 2f64.ln()).abs() < 0.2, "{scores:?}");
    }

    #[test]
    fn shards_give_the_instances_and_batches_of_the_in_memory_path() {
        let keys = "format = \"text\"\nshort_seq_prob = 0.3\nwhole_word_mask = true\n";
        let run = tiny("task = \"pretraining\"", keys, &[("train.txt", &text())]);
        let task = Pretraining::from_task_config(&run.config.task).unwrap();
        let mapped = task.load(&run.context()).unwrap().train.features;
        let memory_task = Pretraining { in_memory: true, ..task.clone() };
        let memory = memory_task.load(&run.context()).unwrap().train.features;
        assert!(mapped[0].corpus.is_mapped() && !memory[0].corpus.is_mapped());
        assert_eq!(rows(&mapped), rows(&memory));
        let order: Vec<usize> = (0..mapped.len()).rev().collect();
        for step in 0..20 {
            let a = task.gather(&mapped, &order, &mut SplitMix64(step));
            let b = task.gather(&memory, &order, &mut SplitMix64(step));
            assert_eq!((a.rows, a.labels, a.next), (b.rows, b.labels, b.next), "step {step}");
        }
        // One folder, with the instances' shards and manifest alone (the sentences drawn
        // from are gone); another data seed draws other instances, into another folder.
        let cache = run.config.data.cache_dir.clone().unwrap();
        let folders = || std::fs::read_dir(&cache).unwrap().count();
        assert_eq!(folders(), 1);
        let folder = std::fs::read_dir(&cache).unwrap().next().unwrap().unwrap().path();
        let mut files: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files, ["corpus.json", "part-00000.arrow"]);
        let mut other = tiny("task = \"pretraining\"", keys, &[("train.txt", &text())]);
        other.config.data.cache_dir = Some(cache.clone());
        other.config.training.data_seed = Some(99);
        let drawn = task.load(&other.context()).unwrap().train.features;
        assert_eq!(folders(), 2);
        assert_ne!(rows(&drawn), rows(&mapped));
    }
}
