//! `question-answering`: extractive QA as in SQuAD v1.1 / v2.0, `BertForQuestionAnswering`.
//! Each question becomes one or more windows ([`windows`]); the loss is the mean of the start
//! and end cross-entropies of each window; evaluation post-processes all windows of a question
//! together ([`answers`]) and scores the answers with the official exact match and F1
//! ([`crate::metrics::squad`]).

pub mod answers;
pub mod windows;

use std::path::Path;
use std::sync::Arc;

use bert_data::batch::LabelSet;
use bert_data::readers::{read_qa_examples, BadRow, Format, QaExample};
use bert_data::WindowOptions;
use bert_model::burn::prelude::{Device, Int, Tensor, TensorData};
use bert_model::rng::SplitMix64;
use bert_model::{host_values, BertConfig, BertForQuestionAnswering, BertInput, OutputOptions};

use super::inference::{fields, text_field, Fields, Inference};
use super::{keep_good_rows, load_splits, LoadContext, Predict, Task, TaskData};
use crate::config::{ConfigError, Validate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use crate::metrics::squad::{squad_metrics, Version};
use crate::metrics::Metrics;
use crate::TrainError;
use serde_json::json;
use answers::{AnswerOptions, Logits};
use windows::{Question, Window};

/// The keys of `question-answering`: all in `[data]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Config {
    /// Its keys of `[data]`.
    pub data: Options,
}

/// How questions and contexts become windows, and windows answers: the `[data]` keys of
/// `question-answering`, with the defaults of transformers' `run_qa.py`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Options {
    /// Context tokens shared by consecutive windows of a long context.
    pub doc_stride: usize,
    /// Questions are cut to this many tokens.
    pub max_query_length: usize,
    /// Longest answer, in tokens.
    pub max_answer_length: usize,
    /// Starts and ends considered per window.
    pub n_best_size: usize,
    /// SQuAD v2: questions may have no answer in the context.
    pub version_2_with_negative: bool,
    /// SQuAD v2: answer "no answer" when its score beats the best span's by more than this.
    pub null_score_diff_threshold: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            doc_stride: 128,
            max_query_length: 64,
            max_answer_length: 30,
            n_best_size: 20,
            version_2_with_negative: false,
            null_score_diff_threshold: 0.0,
        }
    }
}

impl Validate for Config {
    fn problems(&self) -> Vec<String> {
        let d = &self.data;
        let counts = [
            ("max_query_length", d.max_query_length),
            ("max_answer_length", d.max_answer_length),
            ("n_best_size", d.n_best_size),
        ];
        let mut problems: Vec<String> = counts
            .iter()
            .filter(|(_, value)| *value == 0)
            .map(|(key, _)| format!("`data.{key}`: must be at least 1"))
            .collect();
        if !d.null_score_diff_threshold.is_finite() {
            problems.push("`data.null_score_diff_threshold`: must be a finite number".into());
        }
        problems
    }
}

/// The task and its options.
#[derive(Debug, Clone)]
pub struct QuestionAnswering {
    /// Context tokens shared by consecutive windows (128).
    pub doc_stride: usize,
    /// Questions are cut to this many tokens (64).
    pub max_query_length: usize,
    /// Post-processing: starts, ends, length limit and the null answer.
    pub answers: AnswerOptions,
}

/// A batch of windows before padding.
#[derive(Debug, Clone)]
pub struct HostBatch {
    rows: Vec<(Vec<u32>, Vec<u32>)>,
    starts: Vec<i64>,
    ends: Vec<i64>,
}

/// A padded batch on a device.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Model inputs `[windows, seq]`.
    pub input: BertInput,
    /// The answer's first token in each window (0: `[CLS]`, no answer here) `[windows]`.
    pub starts: Tensor<1, Int>,
    /// The answer's last token in each window `[windows]`.
    pub ends: Tensor<1, Int>,
    /// The tokens of each window (before padding).
    pub lengths: Vec<usize>,
}

const V1_METRICS: &[&str] = &["exact_match", "f1"];
const V2_METRICS: &[&str] = &[
    "exact_match",
    "f1",
    "HasAns_exact",
    "HasAns_f1",
    "NoAns_exact",
    "NoAns_f1",
];

impl Task for QuestionAnswering {
    const NAME: &'static str = "question-answering";
    const FORMATS: &'static [Format] = &[Format::Jsonl];
    const MAX_SEQ_LENGTH: usize = 384;
    type Model = BertForQuestionAnswering;
    type Config = Config;
    type Feature = Window;
    type HostBatch = HostBatch;
    type Batch = Batch;
    /// The start and end logits of a window.
    type Output = Logits;

    fn new(config: &Config) -> Self {
        let d = &config.data;
        QuestionAnswering {
            doc_stride: d.doc_stride,
            max_query_length: d.max_query_length,
            answers: AnswerOptions {
                n_best_size: d.n_best_size,
                max_answer_length: d.max_answer_length,
                version_2_with_negative: d.version_2_with_negative,
                null_score_diff_threshold: d.null_score_diff_threshold,
            },
        }
    }

    fn describe(&self) -> String {
        match self.answers.version_2_with_negative {
            true => format!("{} (SQuAD v2: questions may have no answer)", Self::NAME),
            false => Self::NAME.to_string(),
        }
    }

    fn metric_names(&self) -> &'static [&'static str] {
        match self.answers.version_2_with_negative {
            true => V2_METRICS,
            false => V1_METRICS,
        }
    }

    fn load(&self, context: &LoadContext) -> Result<TaskData<Window>, TrainError> {
        let options = self.window_options(context.config.data.max_seq_length)?;
        let read = |path: &Path, limit: Option<usize>| self.read(context, path, limit);
        let featurize = |rows: Vec<QaExample>, _: Option<&LabelSet>, _, path: &Path| {
            let mut features = Vec::new();
            for (index, example) in rows.into_iter().enumerate() {
                let line = example.line;
                let id = example.id.clone();
                let windows = windows::windows(context.tokenizer, example, index, options)
                    .map_err(|e| TrainError::Row {
                        path: path.to_path_buf(),
                        line,
                        message: format!("question {id:?}: {e}"),
                    })?;
                features.extend(windows);
            }
            Ok(features)
        };
        load_splits(context, &read, None, None, &featurize)
    }

    fn model_config(&self, config: BertConfig, _labels: Option<&LabelSet>) -> BertConfig {
        config
    }

    fn length(feature: &Window) -> usize {
        feature.ids.len()
    }

    fn gather(&self, features: &[Window], indices: &[usize], _: &mut SplitMix64) -> HostBatch {
        let chosen = || indices.iter().map(|&i| &features[i]);
        HostBatch {
            rows: chosen()
                .map(|w| (w.ids.clone(), w.type_ids.clone()))
                .collect(),
            starts: chosen().map(|w| w.start as i64).collect(),
            ends: chosen().map(|w| w.end as i64).collect(),
        }
    }

    fn to_device(&self, host: &HostBatch, pad_id: u32, device: &Device) -> Batch {
        let n = host.starts.len();
        let positions = |p: &[i64]| Tensor::from_data(TensorData::new(p.to_vec(), [n]), device);
        Batch {
            input: BertInput::from_rows(&host.rows, pad_id, device),
            starts: positions(&host.starts),
            ends: positions(&host.ends),
            lengths: host.rows.iter().map(|(ids, _)| ids.len()).collect(),
        }
    }

    fn forward(
        &self,
        model: &BertForQuestionAnswering,
        batch: &Batch,
        with_outputs: bool,
    ) -> (Tensor<1>, Vec<Logits>) {
        let positions = Some((batch.starts.clone(), batch.ends.clone()));
        let out = model.forward(&batch.input, positions, OutputOptions::default());
        let loss = out.loss.expect("positions were given");
        if !with_outputs {
            return (loss, Vec::new());
        }
        (loss, split_logits(out.start_logits, out.end_logits, &batch.lengths))
    }

    fn metrics(&self, features: &[Window], outputs: Vec<Logits>, _: Option<&LabelSet>) -> Metrics {
        let version = match self.answers.version_2_with_negative {
            true => Version::V2,
            false => Version::V1,
        };
        let questions: Vec<(Vec<String>, String)> = by_question(features, &outputs)
            .into_iter()
            .map(|(windows, logits)| {
                let prediction = answers::predict(&windows, &logits, self.answers);
                (windows[0].question.answers.clone(), prediction.answer.text)
            })
            .collect();
        squad_metrics(&questions, version)
    }

}

impl Predict for QuestionAnswering {
    /// The windows of one question over its context.
    type Input = Vec<Window>;

    fn read_input(&self, fields: &Fields, inference: &Inference) -> Result<Vec<Window>, String> {
        let question = text_field(fields, "question")?;
        let context = text_field(fields, "context")?;
        // The stride is at most half of what a window holds of the context.
        let question_tokens = inference.tokenizer.tokenize_with_offsets(question).len();
        let budget = inference
            .max_len
            .saturating_sub(question_tokens.min(self.max_query_length) + 3);
        let options = WindowOptions {
            max_length: inference.max_len,
            stride: self.doc_stride.min(budget / 2),
            max_first_length: Some(self.max_query_length),
        };
        let encodings = inference
            .tokenizer
            .encode_windows(question, context, options)
            .map_err(|e| e.to_string())?;
        let question = Arc::new(Question {
            id: String::new(),
            index: 0,
            line: 0,
            context: context.to_string(),
            answers: Vec::new(),
        });
        Ok(encodings
            .into_iter()
            .map(|encoding| Window::new(&question, encoding, None))
            .collect())
    }

    fn infer(
        &self,
        model: &BertForQuestionAnswering,
        inputs: &[Vec<Window>],
        inference: &Inference,
    ) -> Vec<Fields> {
        let windows: Vec<&Window> = inputs.iter().flatten().collect();
        let mut logits: Vec<Logits> = Vec::with_capacity(windows.len());
        for chunk in windows.chunks(inference.batch_size.max(1)) {
            let rows: Vec<(Vec<u32>, Vec<u32>)> = chunk
                .iter()
                .map(|w| (w.ids.clone(), w.type_ids.clone()))
                .collect();
            let pad = inference.tokenizer.special_ids().pad;
            let input = BertInput::from_rows(&rows, pad, inference.device);
            let out = model.forward(&input, None, OutputOptions::default());
            let lengths: Vec<usize> = chunk.iter().map(|w| w.ids.len()).collect();
            logits.extend(split_logits(out.start_logits, out.end_logits, &lengths));
        }
        let mut logits = logits.into_iter();
        inputs
            .iter()
            .map(|windows| {
                let ls: Vec<Logits> = logits.by_ref().take(windows.len()).collect();
                let refs: Vec<&Window> = windows.iter().collect();
                let prediction = answers::predict(&refs, &ls, self.answers);
                let answer = &prediction.answer;
                fields(json!({
                    "answer": {"text": answer.text, "start": answer.start, "end": answer.end,
                               "score": answer.score},
                    "null_score": prediction.null_score,
                    "start_logits": ls.iter().map(|l| &l.0).collect::<Vec<_>>(),
                    "end_logits": ls.iter().map(|l| &l.1).collect::<Vec<_>>(),
                }))
            })
            .collect()
    }
}

impl QuestionAnswering {
    /// How questions and contexts are cut for `max_seq_length`-token windows; an error when
    /// the stride leaves no room.
    pub fn window_options(&self, max_seq_length: usize) -> Result<WindowOptions, ConfigError> {
        let budget = max_seq_length.saturating_sub(self.max_query_length + 3);
        if self.doc_stride >= budget {
            return Err(ConfigError::Invalid {
                path: "config".into(),
                problems: vec![format!(
                    "`data.doc_stride` ({}) must be less than `data.max_seq_length` ({}) minus \
                     `data.max_query_length` ({}) minus 3 special tokens",
                    self.doc_stride, max_seq_length, self.max_query_length
                )],
            });
        }
        Ok(WindowOptions {
            max_length: max_seq_length,
            stride: self.doc_stride,
            max_first_length: Some(self.max_query_length),
        })
    }

    fn read(
        &self,
        context: &LoadContext,
        path: &Path,
        limit: Option<usize>,
    ) -> Result<(Vec<QaExample>, Vec<BadRow>), TrainError> {
        let data = &context.config.data;
        data.format_of(path)?;
        let read = read_qa_examples(path, data.on_bad_row)?;
        let mut skipped = read.skipped;
        let version_2 = self.answers.version_2_with_negative;
        let mut rows = keep_good_rows(read.rows, path, data.on_bad_row, &mut skipped, |row| {
            if !row.answers.is_empty() || version_2 {
                return Ok(());
            }
            let message = format!(
                "question {:?} has no answer; set `data.version_2_with_negative = true` for \
                 SQuAD v2 data",
                row.id
            );
            Err(BadRow {
                line: row.line,
                message,
            })
        })?;
        rows.truncate(limit.unwrap_or(usize::MAX));
        Ok((rows, skipped))
    }
}

/// Start and end logits `[windows, seq]` cut to each window's length.
pub fn split_logits(starts: Tensor<2>, ends: Tensor<2>, lengths: &[usize]) -> Vec<Logits> {
    let seq = starts.dims()[1];
    let (starts, ends) = (host_values(starts), host_values(ends));
    lengths
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let row = |v: &[f32]| v[i * seq..i * seq + len].to_vec();
            (row(&starts), row(&ends))
        })
        .collect()
}

/// The windows of each question with their logits (windows of a question are consecutive).
pub fn by_question<'a>(
    windows: &'a [Window],
    logits: &[Logits],
) -> Vec<(Vec<&'a Window>, Vec<Logits>)> {
    let mut out: Vec<(Vec<&Window>, Vec<Logits>)> = Vec::new();
    for (window, logits) in windows.iter().zip(logits) {
        match out.last_mut() {
            Some((ws, ls)) if ws[0].question.index == window.question.index => {
                ws.push(window);
                ls.push(logits.clone());
            }
            _ => out.push((vec![window], vec![logits.clone()])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::testing::{model, tiny};
    use crate::tasks::evaluate;

    const ROWS: &str = "{\"id\": \"a\", \"question\": \"john ?\", \"context\": \"john lives in paris . the cat sat on the mat . the dog ran\", \"answers\": {\"text\": [\"paris\"], \"answer_start\": [14]}}\n\
                        {\"id\": \"b\", \"question\": \"cat ?\", \"context\": \"the big red cat\", \"answers\": {\"text\": [], \"answer_start\": []}}\n";

    #[test]
    fn long_contexts_become_windows_scored_together_per_question() {
        let tiny = tiny(
            "task = \"question-answering\"",
            "doc_stride = 2\nmax_query_length = 4\nversion_2_with_negative = true\n",
            &[("train.jsonl", ROWS)],
        );
        let task = QuestionAnswering::from_task_config(&tiny.config.task).unwrap();
        let data = task.load(&tiny.context()).unwrap();
        let windows = &data.train.features;
        // Question a: 2 question tokens ("?" is [UNK]); 16-token windows hold 11 of the 15
        // context tokens, the second starting 9 tokens later.
        let of_a: Vec<&Window> = windows.iter().filter(|w| w.question.id == "a").collect();
        assert_eq!(of_a.len(), 2);
        assert!(of_a.iter().all(|w| w.ids.len() <= 16));
        // "paris" is the 4th context token: in the first window only, after [CLS] john ? [SEP].
        assert_eq!((of_a[0].start, of_a[0].end), (7, 7));
        assert_eq!((of_a[1].start, of_a[1].end), (0, 0));
        let of_b = windows.iter().filter(|w| w.question.id == "b").count();
        assert_eq!(of_b, 1);

        let device = Device::default();
        let indices: Vec<usize> = (0..windows.len()).collect();
        let host = task.gather(windows, &indices, &mut SplitMix64(0));
        let batch = task.to_device(&host, 0, &device);
        let model = model(&task, &tiny, None);
        let (loss, logits) = task.forward(&model, &batch, true);
        assert!(loss.into_scalar::<f32>().is_finite());
        assert_eq!(logits.len(), windows.len());
        assert_eq!(logits[2].0.len(), windows[2].ids.len());

        // Metrics are per question: 2 questions whatever the number of windows.
        let whole = evaluate(&task, &model, windows, 1, 0, None, &device);
        let by_two = evaluate(&task, &model, windows, 2, 0, None, &device);
        for key in V2_METRICS {
            assert_eq!(whole[*key], by_two[*key], "{key}");
        }
        // The loss is not: as in transformers, the head's softmax runs over padded positions
        // too, so it depends on how windows are batched.
        assert!(whole["loss"].is_finite() && by_two["loss"].is_finite());
        let scores = whole["exact_match"] * 2.0;
        assert!((scores - scores.round()).abs() < 1e-9, "{whole:?}");
    }
}
