//! `masked-lm`: masked language modelling on raw text (domain adaptation before fine-tuning),
//! `BertForMaskedLM`, as transformers' run_mlm.py trains it.
//!
//! Text (`format = "text"`): documents separated by blank lines, each encoded as
//! `[CLS] text [SEP]`, all of them concatenated and cut into blocks of `max_seq_length` tokens
//! (the remainder dropped, unless it is the only block); with `line_by_line = true` each
//! non-blank line is one row, cut to `max_seq_length`. Masking happens when a batch is
//! gathered, from the batch's generator (seeded by the step: a resumed run masks what an
//! uninterrupted one did; evaluation draws from a fixed stream): each token other than
//! `[CLS]`/`[SEP]` is chosen with probability `mlm_probability` (with `whole_word_mask`, whole
//! words are chosen until that share of the block's tokens is reached); a chosen token becomes
//! `[MASK]` 80% of the time, a random token of the vocabulary 10%, and stays 10%, and only
//! chosen tokens are predicted. Metrics: `perplexity` = exp(loss) and the `accuracy` of the
//! predictions at the chosen tokens.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bert_data::batch::LabelSet;
use bert_data::readers::Format;
use bert_data::shards::TokenRow;
use bert_data::Encoding;
use bert_model::burn::prelude::{Device, Int, Tensor, TensorData};
use bert_model::rng::SplitMix64;
use bert_model::{BertConfig, BertForMaskedLM, BertInput, OutputOptions};

use super::inference::{fields, host, rows_of, softmax, top_k, Fields, Inference};
use super::{non_empty, row_rng, LoadContext, Predict, Split, Task, TaskData};
use crate::corpus::blocks::BlockOptions;
use crate::corpus::progress::{Bar, Progress, Silent};
use crate::corpus::{cache, Corpus, Layout, Source};
use crate::config::Validate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use crate::metrics::Metrics;
use crate::TrainError;
use serde_json::json;

/// The keys of `masked-lm`: all in `[data]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Config {
    /// Its keys of `[data]`.
    pub data: MaskedLm,
}

impl Validate for Config {
    fn problems(&self) -> Vec<String> {
        mlm_probability_problems(self.data.mlm_probability)
    }
}

/// The task and its options, which are its `[data]` keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct MaskedLm {
    /// One row per non-blank line, instead of documents packed into full blocks.
    pub line_by_line: bool,
    /// Share of tokens to predict, in (0, 1).
    pub mlm_probability: f64,
    /// Mask whole words rather than single word pieces.
    pub whole_word_mask: bool,
    /// Keep the blocks in memory instead of preparing them once into Arrow shards in
    /// `cache_dir` and reading them through a memory map (small corpora, read-only disks).
    pub in_memory: bool,
}

impl Default for MaskedLm {
    fn default() -> Self {
        MaskedLm {
            line_by_line: false,
            mlm_probability: 0.15,
            whole_word_mask: false,
            in_memory: false,
        }
    }
}

/// One block (or line) of tokens, before masking: a row of its split's corpus.
#[derive(Debug, Clone)]
pub struct Block {
    corpus: Arc<Corpus>,
    row: u32,
}

impl Block {
    /// The block's tokens.
    pub fn tokens(&self) -> TokenRow<'_> {
        self.corpus.row(self.row as usize)
    }
}

/// How blocks are masked: the share of tokens chosen, whole words or pieces, and the ids a
/// chosen token may become.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Masking {
    /// Share of tokens to predict.
    pub probability: f64,
    /// Choose whole words.
    pub whole_word: bool,
    /// `[MASK]`'s id.
    pub mask_id: u32,
    /// The vocabulary size (random replacements are drawn below it).
    pub vocab_size: u32,
}

/// Masked rows and their labels (-100 where nothing is predicted).
#[derive(Debug, Clone)]
pub struct HostBatch {
    rows: Vec<(Vec<u32>, Vec<u32>)>,
    labels: Vec<Vec<i64>>,
}

/// A padded batch on a device.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Model inputs `[rows, seq]` (with the masks applied).
    pub input: BertInput,
    /// The original token where one is predicted, else -100 `[rows, seq]`.
    pub labels: Tensor<2, Int>,
}

impl Task for MaskedLm {
    const NAME: &'static str = "masked-lm";
    const FORMATS: &'static [Format] = &[Format::Text];
    type Model = BertForMaskedLM;
    type Config = Config;
    type Feature = Block;
    type HostBatch = HostBatch;
    type Batch = Batch;
    /// Correct predictions and predicted tokens of a block.
    type Output = (usize, usize);

    fn new(config: &Config) -> Self {
        config.data.clone()
    }

    fn metric_names(&self) -> &'static [&'static str] {
        &["perplexity", "accuracy"]
    }

    fn load(&self, context: &LoadContext) -> Result<TaskData<Block>, TrainError> {
        let layout = self.layout(context);
        let feature = |corpus, row| Block { corpus, row };
        corpus_splits(context, &|_| layout, self.in_memory, &feature)
    }

    fn model_config(&self, config: BertConfig, _labels: Option<&LabelSet>) -> BertConfig {
        config
    }

    fn length(feature: &Block) -> usize {
        feature.tokens().ids.len()
    }

    fn gather(&self, features: &[Block], indices: &[usize], rng: &mut SplitMix64) -> HostBatch {
        let mut rows = Vec::with_capacity(indices.len());
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            let mut rng = row_rng(rng, i);
            let block = &features[i];
            let masking = self.masking(&block.corpus);
            let (ids, row_labels) = masking.apply(block.tokens(), &mut rng);
            rows.push((ids, vec![0; row_labels.len()]));
            labels.push(row_labels);
        }
        HostBatch { rows, labels }
    }

    /// The masked tokens.
    fn loss_count(&self, host: &HostBatch, _rows: usize) -> usize {
        host.labels.iter().flatten().filter(|&&l| l >= 0).count()
    }

    fn to_device(&self, host: &HostBatch, pad_id: u32, device: &Device) -> Batch {
        let input = BertInput::from_rows(&host.rows, pad_id, device);
        let labels = padded_labels(&host.labels, input.input_ids.dims(), device);
        Batch { input, labels }
    }

    fn forward(
        &self,
        model: &BertForMaskedLM,
        batch: &Batch,
        with_outputs: bool,
    ) -> (Tensor<1>, Vec<(usize, usize)>) {
        let options = OutputOptions::skipping_padding();
        let lm = model
            .forward_labelled(&batch.input, batch.labels.clone(), options)
            .lm;
        if !with_outputs {
            return (lm.loss, Vec::new());
        }
        let n = batch.input.dims()[0];
        let labelled = lm.positions.len();
        let predicted = int_values(lm.logits.argmax(1).reshape([labelled]));
        let labels = int_values(lm.labels);
        let mut outputs = vec![(0, 0); n];
        for (i, &(row, _)) in lm.positions.iter().enumerate() {
            if labels[i] >= 0 {
                outputs[row].0 += usize::from(predicted[i] == labels[i]);
                outputs[row].1 += 1;
            }
        }
        (lm.loss, outputs)
    }

    fn metrics(&self, _: &[Block], outputs: Vec<(usize, usize)>, _: Option<&LabelSet>) -> Metrics {
        let (correct, total) = outputs
            .iter()
            .fold((0, 0), |(c, t), (oc, ot)| (c + oc, t + ot));
        let mut out = Metrics::new();
        out.insert("accuracy".into(), correct as f64 / total.max(1) as f64);
        out
    }

    fn loss_metrics(&self, loss: f64, metrics: &mut Metrics) {
        metrics.insert("perplexity".into(), loss.exp());
    }

}

impl Predict for MaskedLm {
    const ALIASES: &'static [&'static str] = &["fill-mask"];
    type Input = Encoding;

    fn read_input(&self, fields: &Fields, inference: &Inference) -> Result<Encoding, String> {
        inference.text_input(fields)
    }

    fn infer(&self, model: &BertForMaskedLM, inputs: &[Encoding], inference: &Inference) -> Vec<Fields> {
        let out = model.forward(&inference.input(inputs), None, OutputOptions::skipping_padding());
        let (logits, [_, seq, vocab]) = host(out.logits);
        inputs
            .iter()
            .enumerate()
            .map(|(r, enc)| {
                let row = &logits[r * seq * vocab..(r + 1) * seq * vocab];
                fill_mask_fields(enc, row, vocab, inference)
            })
            .collect()
    }
}

impl MaskedLm {
    /// Where the blocks of `path` come from: its text, cut by `[data]`'s keys, prepared into
    /// the cache folder unless `in_memory`.
    pub fn source<'a>(&self, context: &LoadContext, path: &'a Path, limit: Option<usize>) -> Source<'a> {
        corpus_source(context, path, self.layout(context), limit, self.in_memory)
    }

    /// Blocks of `max_seq_length` tokens, or lines.
    fn layout(&self, context: &LoadContext) -> Layout {
        Layout::Blocks(BlockOptions {
            max_len: context.config.data.max_seq_length,
            line_by_line: self.line_by_line,
        })
    }

    /// How the blocks of `corpus` are masked.
    fn masking(&self, corpus: &Corpus) -> Masking {
        Masking {
            probability: self.mlm_probability,
            whole_word: self.whole_word_mask,
            mask_id: corpus.mask_id,
            vocab_size: corpus.vocab_size,
        }
    }
}

/// The splits of a task on text: each file made into a corpus of the layout `layout` gives for
/// the split's name (in memory or prepared into the cache), each row a feature of `feature`.
pub fn corpus_splits<F>(
    context: &LoadContext,
    layout: &dyn Fn(&str) -> Layout,
    in_memory: bool,
    feature: &dyn Fn(Arc<Corpus>, u32) -> F,
) -> Result<TaskData<F>, TrainError> {
    let data = &context.config.data;
    let split = |name: &'static str, path: &Path, limit| -> Result<Split<F>, TrainError> {
        let source = corpus_source(context, path, layout(name), limit, in_memory);
        let corpus = load_corpus(context, &source)?;
        let Ok(rows) = u32::try_from(corpus.len()) else {
            let message = format!("{} rows; at most 2^32 - 1 are supported", corpus.len());
            return Err(TrainError::Run(format!("{}: {message}", path.display())));
        };
        let features = (0..rows)
            .map(|row| feature(Arc::clone(&corpus), row))
            .collect();
        non_empty(features, name, path, Vec::new())
    };
    let train = match context.with_train {
        true => split("train", &data.train, data.max_train_rows)?,
        false => Split::empty("train", &data.train),
    };
    let eval = |path: &Option<PathBuf>, name| {
        path.as_ref()
            .map(|p| split(name, p, data.max_eval_rows))
            .transpose()
    };
    Ok(TaskData {
        labels: None,
        train,
        validation: eval(&data.validation, "validation")?,
        test: eval(&data.test, "test")?,
    })
}

/// The corpus of `source`, with a progress bar on stderr when the context asks for one.
fn load_corpus(context: &LoadContext, source: &Source) -> Result<Arc<Corpus>, TrainError> {
    let mut bar;
    let mut silent = Silent;
    let progress: &mut dyn Progress = match context.progress {
        true => {
            bar = Bar::new(source.path.display().to_string());
            &mut bar
        }
        false => &mut silent,
    };
    Ok(Arc::new(Corpus::load(source, context.tokenizer, progress)?))
}

/// The text `path` made into rows as `layout` says, prepared into `[data] cache_dir` (or the
/// default cache) unless `in_memory`.
fn corpus_source<'a>(
    context: &LoadContext,
    path: &'a Path,
    layout: Layout,
    limit: Option<usize>,
    in_memory: bool,
) -> Source<'a> {
    let cache_dir = &context.config.data.cache_dir;
    Source {
        path,
        layout,
        limit,
        cache_dir: (!in_memory).then(|| cache_dir.clone().unwrap_or_else(cache::default_dir)),
    }
}

/// What `predict` writes for one text: the five likeliest tokens at each `[MASK]`, and with
/// `--raw` the logits of every position.
fn fill_mask_fields(enc: &Encoding, logits: &[f32], vocab: usize, inference: &Inference) -> Fields {
    let mask_id = inference.tokenizer.special_ids().mask;
    let mut predictions = Vec::new();
    for (pos, _) in enc.ids.iter().enumerate().filter(|(_, &id)| id == mask_id) {
        let probs = softmax(&logits[pos * vocab..(pos + 1) * vocab]);
        let top: Vec<_> = top_k(&probs, 5)
            .into_iter()
            .map(|(i, p)| {
                json!({"token": inference.tokenizer.id_to_token(i as u32), "id": i, "score": p})
            })
            .collect();
        predictions.push(json!({"position": pos, "tokens": top}));
    }
    let mut out = json!({"predictions": predictions});
    if inference.raw {
        out["logits"] = json!(rows_of(logits, enc.len(), vocab));
    }
    fields(out)
}

/// The problem with `data.mlm_probability`, which must be in (0, 1).
pub fn mlm_probability_problems(p: f64) -> Vec<String> {
    if p > 0.0 && p < 1.0 {
        return vec![];
    }
    vec![format!("`data.mlm_probability`: {p} must be in (0, 1)")]
}

/// Labels of rows padded with -100 to `[rows, seq]`.
pub fn padded_labels(rows: &[Vec<i64>], [n, seq]: [usize; 2], device: &Device) -> Tensor<2, Int> {
    let mut labels = vec![-100i64; n * seq];
    for (r, row) in rows.iter().enumerate() {
        labels[r * seq..r * seq + row.len()].copy_from_slice(row);
    }
    Tensor::from_data(TensorData::new(labels, [n, seq]), device)
}

impl Masking {
    /// Chooses the tokens of `block` to predict (never `[CLS]`/`[SEP]`): each with the
    /// probability, or whole words up to that share; a chosen token becomes `[MASK]` 80% of
    /// the time, a random token 10%, stays 10%. Returns the ids and the labels (the original
    /// token where chosen, else -100).
    pub fn apply(&self, block: TokenRow<'_>, rng: &mut SplitMix64) -> (Vec<u32>, Vec<i64>) {
        let chosen: Vec<bool> = match self.whole_word {
            true => whole_words(block, self.probability, rng),
            false => block
                .special
                .iter()
                .map(|&s| {
                    let draw = rng.uniform() <= self.probability;
                    s == 0 && draw
                })
                .collect(),
        };
        let mut ids = block.ids.to_vec();
        let mut labels = vec![-100i64; ids.len()];
        for (i, &c) in chosen.iter().enumerate() {
            if !c {
                continue;
            }
            labels[i] = i64::from(block.ids[i]);
            let roll = rng.uniform();
            if roll <= 0.8 {
                ids[i] = self.mask_id;
            } else if roll <= 0.9 {
                ids[i] = (rng.next_u64() % u64::from(self.vocab_size.max(1))) as u32;
            }
        }
        (ids, labels)
    }
}

/// Which tokens whole-word masking chooses: words in random order, each taken whole while the
/// chosen tokens stay within `probability` of the block's length (at least one token).
fn whole_words(block: TokenRow<'_>, probability: f64, rng: &mut SplitMix64) -> Vec<bool> {
    let mut words: Vec<Vec<usize>> = Vec::new();
    for (i, (&special, &start)) in block.special.iter().zip(block.word_start).enumerate() {
        if special == 1 {
            continue;
        }
        match words.last_mut() {
            Some(word) if start == 0 && word.last() == Some(&(i - 1)) => word.push(i),
            _ => words.push(vec![i]),
        }
    }
    rng.shuffle(&mut words);
    let budget = ((block.ids.len() as f64 * probability).round() as usize).max(1);
    let mut chosen = vec![false; block.ids.len()];
    let mut count = 0;
    for word in words {
        if count >= budget {
            break;
        }
        if count + word.len() > budget {
            continue;
        }
        count += word.len();
        for i in word {
            chosen[i] = true;
        }
    }
    chosen
}

/// The values of an integer tensor, on the host.
pub fn int_values<const D: usize>(t: Tensor<D, Int>) -> Vec<i64> {
    t.into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::testing::{model, tiny};
    use crate::tasks::{batch_rng, evaluate};

    const TEXT: &str = "the cat sat on the mat . the dog ran .\njohn lives in paris .\n\n\
                        a big red cat sat on a mat , the dog sat .\n";

    fn blocks(data_keys: &str) -> (MaskedLm, Vec<Block>, crate::tasks::testing::Tiny) {
        let tiny = tiny("task = \"masked-lm\"", data_keys, &[("train.txt", TEXT)]);
        let task = MaskedLm::from_task_config(&tiny.config.task).unwrap();
        let data = task.load(&tiny.context()).unwrap();
        (task, data.train.features, tiny)
    }

    #[test]
    fn documents_are_packed_into_full_blocks_and_lines_kept_apart() {
        // Two documents of 16 + 2 and 13 + 2 tokens: 33 tokens, two blocks of 16 (the last
        // token dropped). [SEP] [CLS] of the documents' seam fall in the second block.
        let (_, packed, _) = blocks("format = \"text\"\n");
        assert_eq!(packed.len(), 2);
        assert!(packed.iter().all(|b| b.tokens().ids.len() == 16));
        let specials = |b: &Block| b.tokens().special.iter().filter(|&&s| s == 1).count();
        assert_eq!((specials(&packed[0]), specials(&packed[1])), (1, 2));
        let (_, lines, _) = blocks("format = \"text\"\nline_by_line = true\n");
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1].tokens().ids.len(), 7);
    }

    #[test]
    fn masking_follows_the_80_10_10_rule_and_never_touches_special_tokens() {
        let (task, features, _) = blocks("format = \"text\"\nmlm_probability = 0.3\n");
        let (mut chosen, mut masked, mut kept, mut total) = (0, 0, 0, 0);
        for step in 0..400 {
            let mut rng = batch_rng(42, step, 0);
            let host = task.gather(&features, &[0, 1], &mut rng);
            for ((ids, _), (labels, block)) in host.rows.iter().zip(host.labels.iter().zip(&features)) {
                let block = block.tokens();
                for i in 0..ids.len() {
                    total += usize::from(block.special[i] == 0);
                    if labels[i] < 0 {
                        assert_eq!(ids[i], block.ids[i]);
                        continue;
                    }
                    assert_eq!(block.special[i], 0, "a special token was chosen");
                    chosen += 1;
                    masked += usize::from(ids[i] == 4);
                    kept += usize::from(ids[i] == block.ids[i]);
                }
            }
        }
        let share = chosen as f64 / total as f64;
        assert!((share - 0.3).abs() < 0.02, "{share}");
        let masked = masked as f64 / chosen as f64;
        assert!((masked - 0.8).abs() < 0.03, "{masked}");
        // "kept" includes random draws that hit the same token (1 in 21 here).
        let kept = kept as f64 / chosen as f64;
        assert!((kept - 0.1).abs() < 0.03, "{kept}");
        // The same step masks the same way.
        let a = task.gather(&features, &[0], &mut batch_rng(42, 7, 0));
        let b = task.gather(&features, &[0], &mut batch_rng(42, 7, 0));
        assert_eq!(a.rows, b.rows);
    }

    #[test]
    fn whole_word_masking_takes_words_whole_up_to_the_budget() {
        let ids: Vec<u32> = (0..10).collect();
        let block = TokenRow {
            ids: &ids,
            special: &[1, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            word_start: &[1, 1, 0, 0, 1, 1, 0, 1, 1, 1],
        };
        for seed in 0..50 {
            let chosen = whole_words(block, 0.4, &mut SplitMix64(seed));
            let count = chosen.iter().filter(|&&c| c).count();
            assert!(count <= 4 && count >= 1, "{chosen:?}");
            assert!(!chosen[0] && !chosen[9]);
            // Words: [1,2,3], [4], [5,6], [7], [8]: all or none of each.
            assert!(chosen[1] == chosen[2] && chosen[2] == chosen[3]);
            assert_eq!(chosen[5], chosen[6]);
        }
    }

    #[test]
    fn shards_give_the_blocks_and_batches_of_the_in_memory_path() {
        for layout in ["", "line_by_line = true\n"] {
            let keys = format!("format = \"text\"\nwhole_word_mask = true\n{layout}");
            let (task, mapped, tiny) = blocks(&keys);
            let memory_task = MaskedLm { in_memory: true, ..task.clone() };
            let memory = memory_task.load(&tiny.context()).unwrap().train.features;
            assert!(mapped[0].corpus.is_mapped() && !memory[0].corpus.is_mapped());
            assert_eq!(mapped.len(), memory.len());
            for (a, b) in mapped.iter().zip(&memory) {
                assert_eq!(a.tokens(), b.tokens());
            }
            let rows: Vec<usize> = (0..mapped.len()).rev().collect();
            for step in 0..20 {
                let a = task.gather(&mapped, &rows, &mut batch_rng(7, step, 0));
                let b = task.gather(&memory, &rows, &mut batch_rng(7, step, 0));
                assert_eq!((a.rows, a.labels), (b.rows, b.labels), "step {step}");
            }
        }
    }

    #[test]
    fn a_corpus_is_prepared_once_per_text_and_settings() {
        let (task, _, tiny) = blocks("format = \"text\"\n");
        let cache = tiny.config.data.cache_dir.clone().unwrap();
        let folders = || std::fs::read_dir(&cache).unwrap().count();
        assert_eq!(folders(), 1);
        task.load(&tiny.context()).unwrap();
        assert_eq!(folders(), 1, "the second run reads the prepared shards");
        let lines = MaskedLm { line_by_line: true, ..task.clone() };
        lines.load(&tiny.context()).unwrap();
        assert_eq!(folders(), 2, "other settings, another folder");
        std::fs::write(&tiny.config.data.train, format!("{TEXT}\nthe end .\n")).unwrap();
        task.load(&tiny.context()).unwrap();
        assert_eq!(folders(), 3, "another text, another folder");
        let source = task.source(&tiny.context(), &tiny.config.data.train, None);
        let folder = cache::folder(&source, &cache, &tiny.tokenizer).unwrap();
        assert!(folder.join(cache::MANIFEST).is_file());
    }

    #[test]
    fn folders_of_killed_preparations_are_removed_and_live_ones_kept() {
        let tiny = tiny("task = \"masked-lm\"", "format = \"text\"\n", &[("train.txt", TEXT)]);
        let task = MaskedLm::from_task_config(&tiny.config.task).unwrap();
        let cache = tiny.config.data.cache_dir.clone().unwrap();
        let source = task.source(&tiny.context(), &tiny.config.data.train, None);
        let folder = cache::folder(&source, &cache, &tiny.tokenizer).unwrap();
        let name = folder.file_name().unwrap().to_string_lossy().into_owned();
        let host = cache::host_name();
        // No process has a PID this large; PID 1 is always alive.
        let dead = cache.join(format!(".{name}.{host}-999999999.tmp"));
        let alive = cache.join(format!(".{name}.{host}-1.tmp"));
        for dir in [&dead, &alive] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join("part-00000.arrow"), b"half written").unwrap();
        }
        task.load(&tiny.context()).unwrap();
        assert!(folder.join(cache::MANIFEST).is_file());
        assert!(!dead.exists() && alive.exists());
    }

    #[test]
    fn a_cache_that_cannot_be_written_says_what_to_change() {
        let tiny = tiny("task = \"masked-lm\"", "format = \"text\"\n", &[("train.txt", TEXT)]);
        let task = MaskedLm::from_task_config(&tiny.config.task).unwrap();
        // A file where the cache folder should be.
        std::fs::write(tiny.config.data.cache_dir.as_ref().unwrap(), b"not a folder").unwrap();
        let error = task.load(&tiny.context()).unwrap_err().to_string();
        assert!(error.contains("data.cache_dir") && error.contains("in_memory"), "{error}");
        let in_memory = MaskedLm { in_memory: true, ..task };
        assert_eq!(in_memory.load(&tiny.context()).unwrap().train.features.len(), 2);
    }

    #[test]
    fn evaluation_reports_perplexity_and_accuracy_over_predicted_tokens() {
        let (task, features, tiny) = blocks("format = \"text\"\n");
        let model = model(&task, &tiny, None);
        let device = Device::default();
        let first = evaluate(&task, &model, &features, 2, 0, None, &device);
        let again = evaluate(&task, &model, &features, 2, 0, None, &device);
        assert_eq!(first, again, "evaluation masks the same way every time");
        assert!((first["perplexity"] - first["loss"].exp()).abs() < 1e-9);
        assert!((0.0..=1.0).contains(&first["accuracy"]));
    }
}
