//! Every fine-tuning task, one module each, and the one place that lists them.
//!
//! A task owns its config type (its keys, their defaults and checks), reads its files (bad-row
//! rules, file/line/field in errors), turns each example into one or more features (the units
//! the batch plan shuffles), gathers host batches on the loader threads, and owns its head,
//! loss, evaluation output and metrics. The loop, evaluation, checkpoints and export are written
//! once over [`Task`]; a new task is a new file here plus one line in the `tasks!` list at the
//! bottom of this file, which declares [`TaskConfig`] (the one list of tasks) and
//! [`with_task!`] (the one `match` over them).

use std::path::{Path, PathBuf};

use bert_data::batch::{LabelSet, Row};
use bert_data::readers::{BadRow, Format, OnBadRow};
use bert_data::BertTokenizer;
use bert_model::burn::module::ModuleDisplay;
use bert_model::burn::prelude::{Device, Tensor};
use bert_model::rng::SplitMix64;
use bert_model::{BertConfig, HfModel};

use crate::config::read::read;
use crate::config::{FineTuneConfig, TaskKeys, Validate};
use crate::metrics::Metrics;
use crate::TrainError;
use inference::{Fields, Inference};

/// One fine-tuning task: data, head, loss and metrics.
pub trait Task: Clone + std::fmt::Debug + Send + Sync + 'static {
    /// The name used in configs (`task = "..."`).
    const NAME: &'static str;
    /// The file formats it reads.
    const FORMATS: &'static [Format];
    /// The default of `data.max_seq_length`.
    const MAX_SEQ_LENGTH: usize = 128;
    /// The head, as transformers names it.
    type Model: HfModel + ModuleDisplay;
    /// The unit of batching: a row, the rows of all choices of an example, a window.
    type Feature: Clone + Send + Sync + 'static;
    /// A batch gathered on a loader thread.
    type HostBatch: Send + 'static;
    /// A batch on a device.
    type Batch;
    /// What evaluation keeps of one feature (host side); serialisable, to gather the
    /// outputs of ranks that evaluated a share each.
    type Output: Send + serde::Serialize + serde::de::DeserializeOwned;

    /// The task's own keys: top-level ones and a `data` table of its `[data]` keys, each a
    /// serde field with its default and doc comment; range checks in its [`Validate`].
    type Config: serde::Serialize
        + serde::de::DeserializeOwned
        + schemars::JsonSchema
        + Validate
        + Default
        + Clone
        + std::fmt::Debug;

    /// The task with the options of `config`.
    fn new(config: &Self::Config) -> Self;

    /// The task as a run's summary line names it (e.g. `sequence-classification (regression)`).
    fn describe(&self) -> String {
        Self::NAME.to_string()
    }

    /// The metrics it reports, in `metrics.csv` column order (the loss comes first, always).
    fn metric_names(&self) -> &'static [&'static str];

    /// Reads and encodes every configured split.
    fn load(&self, context: &LoadContext) -> Result<TaskData<Self::Feature>, TrainError>;

    /// The model config of the run: `base` with this task's labels or problem type.
    fn model_config(&self, base: BertConfig, labels: Option<&LabelSet>) -> BertConfig;

    /// Tokens of a feature (its longest row), for length grouping.
    fn length(feature: &Self::Feature) -> usize;

    /// Copies the features at `indices` into a host batch. Anything random in a batch
    /// (masking) draws from `rng`, seeded from the run's seed and the step.
    fn gather(
        &self,
        features: &[Self::Feature],
        indices: &[usize],
        rng: &mut SplitMix64,
    ) -> Self::HostBatch;

    /// What [`Task::forward`]'s mean loss averages over in a host batch of `rows` rows: the
    /// rows, by default; masked tokens for masked LM, labelled tokens for tagging. A step's
    /// loss is the mean over all of its batches by this count.
    fn loss_count(&self, _host: &Self::HostBatch, rows: usize) -> usize {
        rows
    }

    /// Pads a host batch and puts it on `device`.
    fn to_device(&self, host: &Self::HostBatch, pad_id: u32, device: &Device) -> Self::Batch;

    /// The head's forward pass over a batch: the mean loss (a scalar that back-propagates on
    /// an autodiff device) and, `with_outputs` (evaluation), one output per feature.
    fn forward(
        &self,
        model: &Self::Model,
        batch: &Self::Batch,
        with_outputs: bool,
    ) -> (Tensor<1>, Vec<Self::Output>);

    /// The metrics of a split (without `loss`) from the outputs of all its features, in order;
    /// features of one example are scored together.
    fn metrics(
        &self,
        features: &[Self::Feature],
        outputs: Vec<Self::Output>,
        labels: Option<&LabelSet>,
    ) -> Metrics;

    /// Metrics that follow from the split's mean loss (perplexity); none by default.
    fn loss_metrics(&self, _loss: f64, _metrics: &mut Metrics) {}
}

/// A task's side of `bert-train predict`, apart from training as Burn keeps `InferenceStep`
/// apart from `TrainStep`: reading one input line, and the fields of its output line.
pub trait Predict: Task {
    /// Other names `predict --task` accepts (transformers' pipeline names, e.g. `fill-mask`).
    const ALIASES: &'static [&'static str] = &[];
    /// One line of `predict`'s input, encoded: the rows the model sees and what the output
    /// line needs of the input (texts, offsets).
    type Input: Send;

    /// Reads one line of `predict`'s input (a JSON object; its fields as the README's
    /// `predict` section lists them); the error names the field.
    fn read_input(&self, fields: &Fields, inference: &Inference) -> Result<Self::Input, String>;

    /// Runs the model (in validation mode) on some inputs: for each, the fields `predict`
    /// adds to its line.
    fn infer(
        &self,
        model: &Self::Model,
        inputs: &[Self::Input],
        inference: &Inference,
    ) -> Vec<Fields>;
}

/// All metrics of a split: the task's, `loss` (the mean over features), and those that follow
/// from the loss.
pub fn split_metrics<T: Task>(
    task: &T,
    features: &[T::Feature],
    outputs: Vec<T::Output>,
    labels: Option<&LabelSet>,
    loss_sum: f64,
) -> Metrics {
    let mut metrics = task.metrics(features, outputs, labels);
    let loss = loss_sum / features.len().max(1) as f64;
    metrics.insert("loss".into(), loss);
    task.loss_metrics(loss, &mut metrics);
    metrics
}

/// What [`Task::load`] needs.
pub struct LoadContext<'a> {
    /// The run's configuration.
    pub config: &'a FineTuneConfig<TaskConfig>,
    /// The model's tokenizer.
    pub tokenizer: &'a BertTokenizer,
    /// The labels of a fine-tuned model being resumed or evaluated (its `id2label`).
    pub trained_labels: Option<LabelSet>,
    /// Whether to encode the training file (evaluation only needs its labels, if that).
    pub with_train: bool,
    /// Whether to show the progress of long preparations (a corpus prepared into shards) on
    /// stderr.
    pub progress: bool,
}

/// One data file, encoded.
#[derive(Debug, Clone)]
pub struct Split<F> {
    /// `train`, `validation` or `test`.
    pub name: &'static str,
    /// The file.
    pub path: PathBuf,
    /// Its features, in file order.
    pub features: Vec<F>,
    /// Rows left out under `on_bad_row = "skip"`.
    pub skipped: Vec<BadRow>,
}

impl<F> Split<F> {
    /// An empty split of `path` (the training file, when only evaluating).
    pub fn empty(name: &'static str, path: &Path) -> Self {
        Split {
            name,
            path: path.to_path_buf(),
            features: Vec::new(),
            skipped: Vec::new(),
        }
    }
}

/// The encoded data of a run.
#[derive(Debug, Clone)]
pub struct TaskData<F> {
    /// Class or tag names in id order (tasks with labels).
    pub labels: Option<LabelSet>,
    /// Training features.
    pub train: Split<F>,
    /// Validation features.
    pub validation: Option<Split<F>>,
    /// Test features.
    pub test: Option<Split<F>>,
}

/// Reads one file of a task: its rows (in file order, at most `limit`) and the rows skipped.
pub type ReadFile<'a, R> =
    dyn Fn(&Path, Option<usize>) -> Result<(Vec<R>, Vec<BadRow>), TrainError> + 'a;

/// Turns the rows of a split into features, given the label set.
pub type Featurize<'a, R, F> =
    dyn Fn(Vec<R>, Option<&LabelSet>, &'static str, &Path) -> Result<Vec<F>, TrainError> + 'a;

/// Loads the splits of a task. Tasks with labels name each row's label strings with
/// `label_names`; the set comes from `configured` (`data.labels`), else from `trained_labels`, else from
/// the training file, sorted.
pub fn load_splits<R, F>(
    context: &LoadContext,
    read: &ReadFile<R>,
    label_names: Option<&dyn Fn(&R) -> Vec<String>>,
    configured: Option<&[String]>,
    featurize: &Featurize<R, F>,
) -> Result<TaskData<F>, TrainError> {
    let data = &context.config.data;
    let needs_train_labels =
        label_names.is_some() && configured.is_none() && context.trained_labels.is_none();
    let (train_rows, train_skipped) = if context.with_train || needs_train_labels {
        read(&data.train, data.max_train_rows)?
    } else {
        (Vec::new(), Vec::new())
    };
    let labels = match label_names {
        None => None,
        Some(_) if configured.is_some() => configured.map(LabelSet::from_names),
        Some(_) if context.trained_labels.is_some() => context.trained_labels.clone(),
        Some(names_of) => {
            let names: Vec<String> = train_rows.iter().flat_map(names_of).collect();
            Some(LabelSet::collect(names.iter().map(String::as_str)))
        }
    };
    let train = if context.with_train {
        let features = featurize(train_rows, labels.as_ref(), "train", &data.train)?;
        non_empty(features, "train", &data.train, train_skipped)?
    } else {
        Split::empty("train", &data.train)
    };
    let eval =
        |path: &Option<PathBuf>, name: &'static str| -> Result<Option<Split<F>>, TrainError> {
            let Some(path) = path else { return Ok(None) };
            let (rows, skipped) = read(path, data.max_eval_rows)?;
            let features = featurize(rows, labels.as_ref(), name, path)?;
            non_empty(features, name, path, skipped).map(Some)
        };
    let validation = eval(&data.validation, "validation")?;
    let test = eval(&data.test, "test")?;
    Ok(TaskData {
        labels,
        train,
        validation,
        test,
    })
}

/// A split of `features`, or the error of a file with none.
pub(crate) fn non_empty<F>(
    features: Vec<F>,
    name: &'static str,
    path: &Path,
    skipped: Vec<BadRow>,
) -> Result<Split<F>, TrainError> {
    if features.is_empty() {
        return Err(TrainError::Row {
            path: path.to_path_buf(),
            line: 0,
            message: "no usable rows".into(),
        });
    }
    Ok(Split {
        name,
        path: path.to_path_buf(),
        features,
        skipped,
    })
}

/// Keeps the rows that `check` accepts: the bad-row rule of every task. A rejected row stops
/// the run with an error naming its file and line, or, with `on_bad_row = "skip"`, is left
/// out and added to `skipped`.
pub fn keep_good_rows<R>(
    rows: Vec<R>,
    path: &Path,
    on_bad_row: OnBadRow,
    skipped: &mut Vec<BadRow>,
    check: impl Fn(&R) -> Result<(), BadRow>,
) -> Result<Vec<R>, TrainError> {
    let mut kept = Vec::with_capacity(rows.len());
    for row in rows {
        match check(&row) {
            Ok(()) => kept.push(row),
            Err(bad) if on_bad_row == OnBadRow::Skip => skipped.push(bad),
            Err(bad) => {
                return Err(TrainError::Row {
                    path: path.to_path_buf(),
                    line: bad.line,
                    message: bad.message,
                })
            }
        }
    }
    Ok(kept)
}

/// The error for a label of a row that the label set lacks.
pub fn unknown_label(
    path: &Path,
    line: usize,
    field: &str,
    split: &str,
    error: impl std::fmt::Display,
) -> TrainError {
    let message = if split == "train" {
        format!("field `{field}`: {error}")
    } else {
        format!(
            "field `{field}`: {error}; a {split} label must occur in the training data (or in \
             `data.labels`)"
        )
    };
    TrainError::Row {
        path: path.to_path_buf(),
        line,
        message,
    }
}

/// The labels of a fine-tuned model's config (`id2label`, in id order).
pub fn labels_of(config: &BertConfig) -> Option<LabelSet> {
    let map = config.id2label.as_ref()?;
    let mut pairs: Vec<(usize, &String)> = map
        .iter()
        .filter_map(|(k, v)| Some((k.parse().ok()?, v)))
        .collect();
    pairs.sort();
    let names: Vec<&String> = pairs.into_iter().map(|(_, v)| v).collect();
    Some(LabelSet::from_names(&names))
}

/// `config` with `labels` as its `num_labels`, `id2label` and `label2id`.
pub fn with_label_set(mut config: BertConfig, labels: &LabelSet) -> BertConfig {
    config.num_labels = Some(labels.len());
    config.id2label = Some(
        labels
            .names()
            .iter()
            .enumerate()
            .map(|(i, n)| (i.to_string(), n.clone()))
            .collect(),
    );
    config.label2id = Some(
        labels
            .names()
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as i64))
            .collect(),
    );
    config
}

/// Token ids and type ids of `rows`, copied for a host batch.
pub fn copy_rows<'a>(rows: impl IntoIterator<Item = &'a Row>) -> Vec<(Vec<u32>, Vec<u32>)> {
    rows.into_iter()
        .map(|r| (r.ids.clone(), r.type_ids.clone()))
        .collect()
}

/// The index of the largest value (the first of ties), as `argmax` in torch and numpy.
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// Evaluates `model` (a plain-device model in validation mode) on `features` in batches of
/// `batch_size` grouped by length ([`evaluation_batches`]): the task's metrics and `loss`, the
/// mean of the batch losses weighted by batch size (as transformers' Trainer computes it).
pub fn evaluate<T: Task>(
    task: &T,
    model: &T::Model,
    features: &[T::Feature],
    batch_size: usize,
    pad_id: u32,
    labels: Option<&LabelSet>,
    device: &Device,
) -> Metrics {
    let mut loss_sum = 0.0;
    let mut outputs = Vec::with_capacity(features.len());
    let batches = evaluation_batches(task, features, batch_size);
    for (b, indices) in batches.iter().enumerate() {
        let host = evaluation_batch(task, features, indices, b);
        let batch = task.to_device(&host, pad_id, device);
        let (loss, batch_outputs) = task.forward(model, &batch, true);
        loss_sum += loss.into_scalar::<f32>() as f64 * indices.len() as f64;
        outputs.extend(batch_outputs);
    }
    split_metrics(
        task,
        features,
        file_order(&batches, outputs),
        labels,
        loss_sum,
    )
}

/// The evaluation batches of `features` as lists of indices: longest features first (ties in
/// file order), `batch_size` to a batch, so that a batch pads its rows to about their own
/// length. [`file_order`] puts the outputs back.
pub fn evaluation_batches<T: Task>(
    _task: &T,
    features: &[T::Feature],
    batch_size: usize,
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..features.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(T::length(&features[i])));
    order
        .chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

/// The host batch of the features at `indices`, the `b`-th evaluation batch. Evaluation draws
/// from a fixed stream: the same numbers every time.
pub fn evaluation_batch<T: Task>(
    task: &T,
    features: &[T::Feature],
    indices: &[usize],
    b: usize,
) -> T::HostBatch {
    let mut rng = batch_rng(EVALUATION_SEED, b, 0);
    task.gather(features, indices, &mut rng)
}

/// `outputs`, one per feature in the order of `batches`, put back in file order.
pub fn file_order<O>(batches: &[Vec<usize>], outputs: Vec<O>) -> Vec<O> {
    debug_assert_eq!(outputs.len(), batches.iter().map(Vec::len).sum::<usize>());
    let mut slots: Vec<Option<O>> = (0..outputs.len()).map(|_| None).collect();
    for (&i, output) in batches.iter().flatten().zip(outputs) {
        slots[i] = Some(output);
    }
    slots.into_iter().flatten().collect()
}

/// The seed of everything random in evaluation batches.
const EVALUATION_SEED: u64 = 0x5EED_0F_E7A1;

/// Lists the tasks: each line names a module of this directory and its [`Task`] type, with the
/// task's doc comment. It declares the modules, [`TaskConfig`] (one variant per task, holding
/// the task's [`Task::Config`]) and [`with_task!`].
macro_rules! tasks {
    ($($(#[doc = $doc:literal])* $module:ident :: $task:ident),+ $(,)?) => {
        tasks!(@with_dollar ($) $($(#[doc = $doc])* $module::$task),+);
    };
    (@with_dollar ($d:tt) $($(#[doc = $doc:literal])* $module:ident :: $task:ident),+) => {
        $(pub mod $module;)+

        /// The task of a run and its own keys: `task = "sequence-classification"` picks the
        /// variant, whose config type reads the task's other keys (at the top level, and in
        /// `[data]` as its `data` table).
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
        #[serde(tag = "task", rename_all = "kebab-case")]
        pub enum TaskConfig {
            $($(#[doc = $doc])* $task(<$module::$task as Task>::Config),)+
        }

        /// Runs `$body` with `$t` bound to the task (a value of its [`Task`] type) that a
        /// [`TaskConfig`] names: `with_task!(&config.task, task => run(&task))`. The one `match`
        /// over the tasks.
        #[macro_export]
        macro_rules! with_task {
            ($d config:expr, $d t:ident => $d body:expr) => {
                match $d config {
                    $($crate::tasks::TaskConfig::$task(c) => {
                        let $d t = <$crate::tasks::$module::$task as $crate::tasks::Task>::new(c);
                        $d body
                    })+
                }
            };
        }

        impl TaskConfig {
            /// Every task, each with its default keys, in the order listed.
            pub fn all() -> Vec<TaskConfig> {
                vec![$(TaskConfig::$task(Default::default())),+]
            }

            /// The transformers class of the task's head (`BertForSequenceClassification`).
            pub fn architecture(&self) -> &'static str {
                match self {
                    $(TaskConfig::$task(_) => <<$module::$task as Task>::Model as HfModel>::ARCHITECTURE,)+
                }
            }

            /// Other names `predict --task` accepts (transformers' pipeline names).
            pub fn aliases(&self) -> &'static [&'static str] {
                match self {
                    $(TaskConfig::$task(_) => <$module::$task as Predict>::ALIASES,)+
                }
            }
        }

        impl TaskKeys for TaskConfig {
            fn name(&self) -> &'static str {
                match self {
                    $(TaskConfig::$task(_) => <$module::$task as Task>::NAME,)+
                }
            }

            fn formats(&self) -> &'static [Format] {
                match self {
                    $(TaskConfig::$task(_) => <$module::$task as Task>::FORMATS,)+
                }
            }

            fn max_seq_length(&self) -> usize {
                match self {
                    $(TaskConfig::$task(_) => <$module::$task as Task>::MAX_SEQ_LENGTH,)+
                }
            }

            fn problems(&self) -> Vec<String> {
                match self {
                    $(TaskConfig::$task(c) => c.problems(),)+
                }
            }
        }

        $(impl $module::$task {
            /// This task from a run's [`TaskConfig`], if that names it.
            pub fn from_task_config(config: &TaskConfig) -> Option<Self> {
                match config {
                    TaskConfig::$task(c) => Some(<Self as Task>::new(c)),
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }
        })+
    };
}

impl TaskConfig {
    /// The task named `name` or one of its aliases, with its default keys.
    pub fn named(name: &str) -> Option<TaskConfig> {
        Self::all()
            .into_iter()
            .find(|t| t.name() == name || t.aliases().contains(&name))
    }

    /// The task whose head is the transformers class `architecture`, with its default keys.
    pub fn for_architecture(architecture: &str) -> Option<TaskConfig> {
        Self::all()
            .into_iter()
            .find(|t| t.architecture() == architecture)
    }

    /// This task with those keys of `data` that its `[data]` table has (the others are left
    /// out): `predict`'s task options. Every problem with them.
    pub fn with_data_keys(&self, data: &toml::Table) -> Result<TaskConfig, Vec<String>> {
        let mut table = match toml::Value::try_from(self) {
            Ok(toml::Value::Table(table)) => table,
            _ => toml::Table::new(),
        };
        if let Some(toml::Value::Table(own)) = table.get_mut("data") {
            for (key, value) in data {
                if own.contains_key(key) {
                    own.insert(key.clone(), value.clone());
                }
            }
        }
        let mut problems = Vec::new();
        let task = read::<TaskConfig>(table, "", &[], &mut problems);
        problems.extend(task.iter().flat_map(TaskKeys::problems));
        match task {
            Some(task) if problems.is_empty() => Ok(task),
            _ => Err(problems),
        }
    }

    /// The names of every task, in the order listed.
    pub fn names() -> Vec<&'static str> {
        Self::all().iter().map(TaskKeys::name).collect()
    }
}

pub mod inference;

tasks! {
    /// One label (or, with `problem_type = "regression"`, one score) per text or text pair;
    /// CSV, TSV or JSONL.
    sequence_classification::SequenceClassification,
    /// One tag per word (named entities, parts of speech); CoNLL or JSONL.
    token_classification::TokenClassification,
    /// The right one of several endings or answers; JSONL or CSV.
    multiple_choice::MultipleChoice,
    /// The span of a context that answers a question (SQuAD v1 and v2); JSONL.
    question_answering::QuestionAnswering,
    /// Masked-word prediction on raw text (continued pre-training); text files.
    masked_lm::MaskedLm,
    /// Whether the second text follows the first; CSV, TSV or JSONL.
    next_sentence::NextSentence,
    /// BERT's pre-training: masked words and next sentence together, from raw text.
    pretraining::Pretraining,
}

/// Seeds the generator of one host batch from the run's seed, the optimizer step and the
/// micro-batch, so that a resumed run draws what an uninterrupted one drew. Training batches
/// all use micro-batch 0: tasks split the generator per row ([`row_rng`]), so a row's draws
/// do not depend on the batch it lands in.
pub fn batch_rng(seed: u64, step: usize, micro: usize) -> SplitMix64 {
    let mut mix = SplitMix64(
        seed.rotate_left(17) ^ (step as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ micro as u64,
    );
    SplitMix64(mix.next_u64())
}

/// A generator for the row at `index` of the features, from a batch's generator: its first draw
/// mixed with the index (so every row of a batch, on any rank, draws from its own stream).
pub fn row_rng(batch: &SplitMix64, index: usize) -> SplitMix64 {
    let mut base = SplitMix64(batch.0);
    let seed = base.next_u64() ^ (index as u64).wrapping_mul(0xA24B_AED4_963E_E407);
    let mut mix = SplitMix64(seed);
    SplitMix64(mix.next_u64())
}

/// What the task modules' unit tests share: a tiny vocabulary, a config over files written to
/// a temporary directory, and a tiny random model (hidden 16, 2 layers) on the CPU.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use bert_data::TokenizerOptions;
    use bert_model::ParamSource;

    /// Words of the tiny vocabulary (after the special tokens).
    const WORDS: &str = "the cat dog sat ran on mat a big red john paris lives in . ,";

    /// A run's directory, config and tokenizer.
    pub struct Tiny {
        _dir: tempfile::TempDir,
        pub config: FineTuneConfig<TaskConfig>,
        pub tokenizer: BertTokenizer,
    }

    impl Tiny {
        /// The context of `Task::load` (training file included).
        pub fn context(&self) -> LoadContext<'_> {
            LoadContext {
                config: &self.config,
                tokenizer: &self.tokenizer,
                trained_labels: None,
                with_train: true,
                progress: false,
            }
        }
    }

    /// Writes `files` (name, text) and a config of `head` (task keys) with `[data]` keys `data`.
    pub fn tiny(head: &str, data: &str, files: &[(&str, &str)]) -> Tiny {
        let dir = tempfile::tempdir().unwrap();
        let vocab = dir.path().join("vocab.txt");
        let special = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
        std::fs::write(&vocab, format!("{special}{}\n", WORDS.replace(' ', "\n"))).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let train = dir.path().join(files[0].0);
        let cache = dir.path().join("cache");
        let text = format!(
            "{head}\noutput_dir = \"out\"\n[model]\ntokenizer = {vocab:?}\n[model.config]\n\
             vocab_size = 30\nhidden_size = 16\nnum_hidden_layers = 2\nnum_attention_heads = 2\n\
             intermediate_size = 32\nmax_position_embeddings = 64\n[data]\ntrain = {train:?}\n\
             max_seq_length = 16\ncache_dir = {cache:?}\n{data}"
        );
        let config =
            FineTuneConfig::<TaskConfig>::parse(&text, Path::new("tiny.toml"), &[]).unwrap();
        let tokenizer =
            BertTokenizer::from_vocab_file(&vocab, TokenizerOptions::default()).unwrap();
        Tiny {
            _dir: dir,
            config,
            tokenizer,
        }
    }

    /// A random head of `task` for the tiny config.
    pub fn model<T: Task>(task: &T, tiny: &Tiny, labels: Option<&LabelSet>) -> T::Model {
        let crate::config::ModelSource::Random { config, .. } = &tiny.config.model else {
            panic!("the tiny config has a random model");
        };
        let config = task.model_config((**config).clone(), labels);
        let device = Device::default();
        T::Model::build(&config, &mut ParamSource::random(&device, 0.02, 7)).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_architectures_are_unique() {
        let all = TaskConfig::all();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a.name(), b.name());
                assert_ne!(a.architecture(), b.architecture());
            }
        }
        let tagging = TaskConfig::named("token-classification").unwrap();
        assert_eq!(tagging.architecture(), "BertForTokenClassification");
        assert_eq!(TaskConfig::named("fill-mask").unwrap().name(), "masked-lm");
    }

    #[test]
    fn the_task_key_of_each_variant_is_its_name() {
        for task in TaskConfig::all() {
            let table = toml::Value::try_from(&task).unwrap();
            assert_eq!(table["task"].as_str(), Some(task.name()));
            let back: TaskConfig = table.try_into().unwrap();
            assert_eq!(back, task);
        }
    }

    #[test]
    fn argmax_takes_the_first_of_ties() {
        assert_eq!(argmax(&[0.1, 0.7, 0.7, -1.0]), 1);
        assert_eq!(argmax(&[3.0]), 0);
    }
}
