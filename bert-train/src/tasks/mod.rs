//! Every fine-tuning task, one module each, and the one place that lists them.
//!
//! A task owns its config keys, reads its files (bad-row rules, file/line/field in errors),
//! turns each example into one or more features (the units the batch plan shuffles), gathers
//! host batches on the loader threads, and owns its head, loss, evaluation output and metrics.
//! The loop, evaluation, checkpoints and export are written once over [`Task`]; a new task is a
//! new file here plus one line in the [`tasks!`] list at the bottom of this file.

use std::path::{Path, PathBuf};

use bert_data::batch::{LabelSet, Row};
use bert_data::readers::{BadRow, Format};
use bert_data::BertTokenizer;
use bert_model::burn::module::ModuleDisplay;
use bert_model::burn::prelude::{Device, Tensor};
use bert_model::rng::SplitMix64;
use bert_model::{BertConfig, HfModel};

use crate::config::{ConfigError, FineTuneConfig, Section};
use crate::metrics::Metrics;
use crate::TrainError;
use inference::{Fields, Inference};

/// One fine-tuning task: data, head, loss and metrics.
pub trait Task: Clone + std::fmt::Debug + Send + Sync + 'static {
    /// The name used in configs (`task = "..."`).
    const NAME: &'static str;
    /// Top-level config keys of this task (beside `task`, `model`, `output_dir`).
    const TOP_KEYS: &'static [&'static str];
    /// Keys of `[data]` this task reads, beside the common ones ([`crate::config::DATA_KEYS`]).
    const DATA_KEYS: &'static [&'static str];
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
    /// What evaluation keeps of one feature (host side).
    type Output: Send;

    /// Reads the task's keys from the top level and from `[data]`, noting every problem in the
    /// sections; `None` when a key is wrong.
    fn configure(top: &mut Section, data: &mut Section) -> Option<Self>;

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

    /// Pads a host batch and puts it on `device`.
    fn to_device(&self, host: &Self::HostBatch, pad_id: u32, device: &Device) -> Self::Batch;

    /// The mean loss of a batch (a scalar that back-propagates on an autodiff device).
    fn loss(&self, model: &Self::Model, batch: &Self::Batch) -> Tensor<1>;

    /// The mean loss of a batch and one output per feature, for evaluation.
    fn predict(&self, model: &Self::Model, batch: &Self::Batch) -> (f64, Vec<Self::Output>);

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
    pub config: &'a FineTuneConfig,
    /// The model's tokenizer.
    pub tokenizer: &'a BertTokenizer,
    /// The labels of a fine-tuned model being resumed or evaluated (its `id2label`).
    pub known: Option<LabelSet>,
    /// Whether to encode the training file (evaluation only needs its labels, if that).
    pub with_train: bool,
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
/// `label_names`; the set comes from `configured` (`data.labels`), else from `known`, else from
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
        label_names.is_some() && configured.is_none() && context.known.is_none();
    let (train_rows, train_skipped) = if context.with_train || needs_train_labels {
        read(&data.train, data.max_train_rows)?
    } else {
        (Vec::new(), Vec::new())
    };
    let labels = match label_names {
        None => None,
        Some(_) if configured.is_some() => configured.map(LabelSet::from_names),
        Some(_) if context.known.is_some() => context.known.clone(),
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

fn non_empty<F>(
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
        let (loss, batch_outputs) = task.predict(model, &batch);
        loss_sum += loss * indices.len() as f64;
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

/// Reads a task's own keys from the config's stored tables, noting each problem.
pub fn configure<T: Task>(config: &FineTuneConfig) -> Result<T, ConfigError> {
    let mut problems = Vec::new();
    let task = configure_from(
        config.task_keys.top.clone(),
        config.task_keys.data.clone(),
        &mut problems,
    );
    match task {
        Some(task) if problems.is_empty() => Ok(task),
        _ => Err(ConfigError::Invalid {
            path: PathBuf::from("config"),
            problems,
        }),
    }
}

/// [`Task::configure`] on two tables of keys.
pub fn configure_from<T: Task>(
    top: toml::Table,
    data: toml::Table,
    problems: &mut Vec<String>,
) -> Option<T> {
    let mut data_problems = Vec::new();
    let mut data = Section::new("data", data, T::DATA_KEYS.to_vec(), &mut data_problems);
    let mut top = Section::new("", top, T::TOP_KEYS.to_vec(), problems);
    let task = T::configure(&mut top, &mut data);
    problems.extend(data_problems);
    task
}

/// A computation over one task type, run by [`by_name`] or [`by_architecture`].
pub trait TaskFn {
    /// What it returns.
    type Output;
    /// Runs with the task `T`.
    fn call<T: Task>(self) -> Self::Output;
}

/// The static description of a task, for config validation.
#[derive(Debug, Clone, Copy)]
pub struct TaskInfo {
    /// [`Task::NAME`].
    pub name: &'static str,
    /// [`Task::TOP_KEYS`].
    pub top_keys: &'static [&'static str],
    /// [`Task::DATA_KEYS`].
    pub data_keys: &'static [&'static str],
    /// [`Task::FORMATS`].
    pub formats: &'static [Format],
    /// The transformers class of its head.
    pub architecture: &'static str,
    /// [`Task::MAX_SEQ_LENGTH`].
    pub max_seq_length: usize,
    /// [`Task::ALIASES`].
    pub aliases: &'static [&'static str],
}

/// The description of `T`.
pub fn info<T: Task>() -> TaskInfo {
    TaskInfo {
        name: T::NAME,
        top_keys: T::TOP_KEYS,
        data_keys: T::DATA_KEYS,
        formats: T::FORMATS,
        architecture: <T::Model as HfModel>::ARCHITECTURE,
        max_seq_length: T::MAX_SEQ_LENGTH,
        aliases: T::ALIASES,
    }
}

/// Lists the tasks: each line names a module of this directory and its [`Task`] type. The
/// macro declares the modules and writes [`ALL`], [`by_name`] and [`by_architecture`].
macro_rules! tasks {
    ($($module:ident :: $task:ident),+ $(,)?) => {
        $(pub mod $module;)+

        /// Every task, in the order listed.
        pub fn all() -> Vec<TaskInfo> {
            vec![$(info::<$module::$task>()),+]
        }

        /// Runs `f` with the task named `name` (a config's `task`); `None` if there is none.
        pub fn by_name<F: TaskFn>(name: &str, f: F) -> Option<F::Output> {
            $(if name == <$module::$task as Task>::NAME {
                return Some(f.call::<$module::$task>());
            })+
            None
        }

        /// Runs `f` with the task whose head is the transformers class `architecture`.
        pub fn by_architecture<F: TaskFn>(architecture: &str, f: F) -> Option<F::Output> {
            $(if architecture == <<$module::$task as Task>::Model as HfModel>::ARCHITECTURE {
                return Some(f.call::<$module::$task>());
            })+
            None
        }
    };
}

pub mod inference;

tasks! {
    sequence_classification::SequenceClassification,
    token_classification::TokenClassification,
    multiple_choice::MultipleChoice,
    question_answering::QuestionAnswering,
    masked_lm::MaskedLm,
    next_sentence::NextSentence,
    pretraining::Pretraining,
}

/// The description of the task named `name`.
pub fn find(name: &str) -> Option<TaskInfo> {
    all().into_iter().find(|t| t.name == name)
}

/// Seeds the generator of one host batch from the run's seed, the optimizer step and the
/// micro-batch, so that a resumed run draws what an uninterrupted one drew.
pub fn batch_rng(seed: u64, step: usize, micro: usize) -> SplitMix64 {
    let mut mix = SplitMix64(
        seed.rotate_left(17) ^ (step as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ micro as u64,
    );
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
        pub config: FineTuneConfig,
        pub tokenizer: BertTokenizer,
    }

    impl Tiny {
        /// The context of `Task::load` (training file included).
        pub fn context(&self) -> LoadContext<'_> {
            LoadContext {
                config: &self.config,
                tokenizer: &self.tokenizer,
                known: None,
                with_train: true,
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
        let text = format!(
            "{head}\noutput_dir = \"out\"\n[model]\ntokenizer = {vocab:?}\n[model.config]\n\
             vocab_size = 30\nhidden_size = 16\nnum_hidden_layers = 2\nnum_attention_heads = 2\n\
             intermediate_size = 32\nmax_position_embeddings = 64\n[data]\ntrain = {train:?}\n\
             max_seq_length = 16\n{data}"
        );
        let config = FineTuneConfig::parse(&text, Path::new("tiny.toml"), &[]).unwrap();
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
        let all = all();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a.name, b.name);
                assert_ne!(a.architecture, b.architecture);
            }
        }
        assert_eq!(
            find("token-classification").unwrap().architecture,
            "BertForTokenClassification"
        );
    }

    #[test]
    fn argmax_takes_the_first_of_ties() {
        assert_eq!(argmax(&[0.1, 0.7, 0.7, -1.0]), 1);
        assert_eq!(argmax(&[3.0]), 0);
    }
}
