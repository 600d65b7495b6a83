//! `sequence-classification`: one label (or, with `problem_type = "regression"`, one score) per
//! text or text pair, `BertForSequenceClassification`.

use std::path::Path;

use bert_data::batch::{LabelSet, Row};
use bert_data::readers::{read_text_examples, Read, Format, LabelValue, TextColumns, TextExample};
use bert_data::{Encoding, Truncation, TruncationStrategy};
use bert_model::burn::prelude::{Device, Int, Tensor, TensorData};
use bert_model::rng::SplitMix64;
use bert_model::{
    host_values, BertConfig, BertForSequenceClassification, BertInput, OutputOptions,
    ProblemType, SequenceLabels,
};

use super::inference::{fields, host, sigmoid, softmax, Fields, Inference};
use super::{argmax, copy_rows, load_splits, unknown_label, with_label_set, LoadContext, Predict, Task, TaskData};
use crate::config::read::label_names;
use crate::config::Validate;
use crate::metrics::{self, Metrics};
use crate::TrainError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What the model predicts (`problem_type`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// One class per row, cross-entropy loss.
    #[default]
    SingleLabelClassification,
    /// One score per row (float labels), mean squared error.
    Regression,
}

/// The keys of `sequence-classification`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Config {
    /// `single_label_classification` or `regression`.
    pub problem_type: Problem,
    /// Its keys of `[data]`.
    pub data: Columns,
}

/// The `[data]` keys of `sequence-classification`: where a row's texts and label are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Columns {
    /// Column (CSV/TSV header, JSONL field) of the text.
    pub text_column: String,
    /// Column of the second text of a pair; unset: single texts.
    pub text_pair_column: Option<String>,
    /// Column of the label: a class name, or a number with `problem_type = "regression"`.
    pub label_column: String,
    /// The class names in id order; unset: those of the training file, sorted.
    #[serde(deserialize_with = "label_names")]
    #[schemars(with = "Option<Vec<String>>")]
    pub labels: Option<Vec<String>>,
}

impl Default for Columns {
    fn default() -> Self {
        Columns {
            text_column: "text".into(),
            text_pair_column: None,
            label_column: "label".into(),
            labels: None,
        }
    }
}

impl Validate for Config {
    fn problems(&self) -> Vec<String> {
        match &self.data.labels {
            Some(labels) if labels.is_empty() => vec!["`data.labels`: must not be empty".into()],
            _ => vec![],
        }
    }
}

/// The task and its options.
#[derive(Debug, Clone)]
pub struct SequenceClassification {
    /// Float labels, one output, MSE loss.
    pub regression: bool,
    /// Column of the text.
    pub text_column: String,
    /// Column of the second text of pairs.
    pub text_pair_column: Option<String>,
    /// Column of the label.
    pub label_column: String,
    /// The class names in id order; else collected from the training file, sorted.
    pub labels: Option<Vec<String>>,
}

/// What a row is trained towards.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// A class id.
    Class(i64),
    /// A regression target.
    Score(f32),
}

/// One encoded row and its label.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    /// Token ids and token type ids.
    pub row: Row,
    /// The label.
    pub target: Target,
    /// The line of the file it came from.
    pub line: usize,
}

/// Rows and labels of a batch, before padding.
#[derive(Debug, Clone)]
pub struct HostBatch {
    rows: Vec<(Vec<u32>, Vec<u32>)>,
    targets: Vec<Target>,
}

/// A padded batch on a device.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Model inputs `[batch, seq]`.
    pub input: BertInput,
    /// Class ids `[batch]` or scores `[batch, 1]`.
    pub labels: SequenceLabels,
}

/// The prediction for one row.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Output {
    /// The argmax class.
    Class(usize),
    /// The predicted score.
    Score(f64),
}

impl Task for SequenceClassification {
    const NAME: &'static str = "sequence-classification";
    const FORMATS: &'static [Format] = &[Format::Csv, Format::Tsv, Format::Jsonl];
    type Model = BertForSequenceClassification;
    type Config = Config;
    type Feature = Feature;
    type HostBatch = HostBatch;
    type Batch = Batch;
    type Output = Output;

    fn new(config: &Config) -> Self {
        let data = config.data.clone();
        SequenceClassification {
            regression: config.problem_type == Problem::Regression,
            text_column: data.text_column,
            text_pair_column: data.text_pair_column,
            label_column: data.label_column,
            labels: data.labels,
        }
    }

    fn describe(&self) -> String {
        if self.regression {
            format!("{} (regression)", Self::NAME)
        } else {
            Self::NAME.to_string()
        }
    }

    fn metric_names(&self) -> &'static [&'static str] {
        if self.regression {
            &["pearson", "spearman", "mse"]
        } else {
            &["accuracy", "f1", "mcc"]
        }
    }

    fn load(&self, context: &LoadContext) -> Result<TaskData<Feature>, TrainError> {
        let read = |path: &Path, limit: Option<usize>| self.read(context, path, limit);
        let names = |row: &TextExample| match &row.label {
            Some(LabelValue::Class(c)) => vec![c.clone()],
            _ => Vec::new(),
        };
        let featurize = |rows: Vec<TextExample>, labels: Option<&LabelSet>, split, path: &Path| {
            rows.into_iter()
                .map(|row| self.feature(context, row, labels, split, path))
                .collect()
        };
        let names: Option<&dyn Fn(&TextExample) -> Vec<String>> =
            (!self.regression).then_some(&names);
        load_splits(context, &read, names, self.labels.as_deref(), &featurize)
    }

    fn model_config(&self, mut config: BertConfig, labels: Option<&LabelSet>) -> BertConfig {
        if self.regression {
            config.num_labels = Some(1);
            config.id2label = Some([("0".to_string(), "LABEL_0".to_string())].into());
            config.label2id = Some([("LABEL_0".to_string(), 0)].into());
            config.problem_type = Some("regression".to_string());
            return config;
        }
        if let Some(labels) = labels {
            config = with_label_set(config, labels);
            if config.problem_type.as_deref() == Some("regression") {
                config.problem_type = None;
            }
        }
        config
    }

    fn length(feature: &Feature) -> usize {
        feature.row.ids.len()
    }

    fn gather(&self, features: &[Feature], indices: &[usize], _: &mut SplitMix64) -> HostBatch {
        HostBatch {
            rows: copy_rows(indices.iter().map(|&i| &features[i].row)),
            targets: indices.iter().map(|&i| features[i].target).collect(),
        }
    }

    fn to_device(&self, host: &HostBatch, pad_id: u32, device: &Device) -> Batch {
        let input = BertInput::from_rows(&host.rows, pad_id, device);
        let n = host.rows.len();
        let labels = if self.regression {
            let values: Vec<f32> = host
                .targets
                .iter()
                .map(|t| if let Target::Score(s) = t { *s } else { 0.0 })
                .collect();
            SequenceLabels::Scores(Tensor::from_data(TensorData::new(values, [n, 1]), device))
        } else {
            let values: Vec<i64> = host
                .targets
                .iter()
                .map(|t| if let Target::Class(c) = t { *c } else { -100 })
                .collect();
            let ids: Tensor<1, Int> = Tensor::from_data(TensorData::new(values, [n]), device);
            SequenceLabels::Classes(ids)
        };
        Batch { input, labels }
    }

    fn forward(
        &self,
        model: &BertForSequenceClassification,
        batch: &Batch,
        with_outputs: bool,
    ) -> (Tensor<1>, Vec<Output>) {
        let labels = Some(batch.labels.clone());
        let out = model.forward(&batch.input, labels, OutputOptions::skipping_padding());
        let loss = out.loss.expect("labels were given");
        if !with_outputs {
            return (loss, Vec::new());
        }
        let [_, n] = out.logits.dims();
        let values = host_values(out.logits);
        let outputs = if self.regression {
            values.iter().map(|&v| Output::Score(v as f64)).collect()
        } else {
            values
                .chunks(n)
                .map(|row| Output::Class(argmax(row)))
                .collect()
        };
        (loss, outputs)
    }

    fn metrics(
        &self,
        features: &[Feature],
        outputs: Vec<Output>,
        labels: Option<&LabelSet>,
    ) -> Metrics {
        let pairs = features.iter().zip(outputs);
        if self.regression {
            let (pred, gold): (Vec<f64>, Vec<f64>) = pairs
                .filter_map(|(f, o)| match (f.target, o) {
                    (Target::Score(g), Output::Score(p)) => Some((p, g as f64)),
                    _ => None,
                })
                .unzip();
            metrics::regression(&pred, &gold)
        } else {
            let (pred, gold): (Vec<usize>, Vec<usize>) = pairs
                .filter_map(|(f, o)| match (f.target, o) {
                    (Target::Class(g), Output::Class(p)) => Some((p, g as usize)),
                    _ => None,
                })
                .unzip();
            metrics::classification(&pred, &gold, labels.map_or(2, LabelSet::len))
        }
    }

}

impl Predict for SequenceClassification {
    type Input = Encoding;

    fn read_input(&self, fields: &Fields, inference: &Inference) -> Result<Encoding, String> {
        inference.text_input(fields)
    }

    fn infer(
        &self,
        model: &BertForSequenceClassification,
        inputs: &[Encoding],
        inference: &Inference,
    ) -> Vec<Fields> {
        let out = model.forward(&inference.input(inputs), None, OutputOptions::skipping_padding());
        let (logits, [_, n]) = host(out.logits);
        let problem = ProblemType::of(inference.config, true);
        logits
            .chunks(n)
            .map(|row| label_fields(row, problem, inference.config))
            .collect()
    }
}

impl SequenceClassification {
    fn read(
        &self,
        context: &LoadContext,
        path: &Path,
        limit: Option<usize>,
    ) -> Result<(Vec<TextExample>, Vec<bert_data::readers::BadRow>), TrainError> {
        let columns = TextColumns {
            text: self.text_column.clone(),
            text_pair: self.text_pair_column.clone(),
            label: Some(self.label_column.clone()),
            regression: self.regression,
        };
        let read = read_rows(context, path, &columns)?;
        let rows = read.rows.into_iter().take(limit.unwrap_or(usize::MAX));
        Ok((rows.collect(), read.skipped))
    }

    fn feature(
        &self,
        context: &LoadContext,
        example: TextExample,
        labels: Option<&LabelSet>,
        split: &str,
        path: &Path,
    ) -> Result<Feature, TrainError> {
        let line = example.line;
        let row_error = |message: String| TrainError::Row {
            path: path.to_path_buf(),
            line,
            message,
        };
        let row = encode_row(context, &example, path)?;
        let target = match (example.label, labels) {
            (Some(LabelValue::Score(s)), None) => Target::Score(s),
            (Some(LabelValue::Class(c)), Some(set)) => match set.id(&c) {
                Ok(id) => Target::Class(id as i64),
                Err(e) => return Err(unknown_label(path, line, "label", split, e)),
            },
            (None, _) => return Err(row_error("missing label".into())),
            (Some(other), _) => return Err(row_error(format!("unexpected label {other:?}"))),
        };
        Ok(Feature { row, target, line })
    }
}

/// Reads the text rows of `path` with `columns` (in the run's format and bad-row rule); also
/// next-sentence's reader.
pub fn read_rows(
    context: &LoadContext,
    path: &Path,
    columns: &TextColumns,
) -> Result<Read<TextExample>, TrainError> {
    let data = &context.config.data;
    let format = data.format_of(path)?;
    Ok(read_text_examples(path, format, columns, data.on_bad_row)?)
}

/// The text (and pair) of a row as model input, cut longest-first to `data.max_seq_length`;
/// also next-sentence's encoder.
pub fn encode_row(
    context: &LoadContext,
    example: &TextExample,
    path: &Path,
) -> Result<Row, TrainError> {
    let truncation = Some(Truncation {
        max_length: context.config.data.max_seq_length,
        strategy: TruncationStrategy::LongestFirst,
    });
    let encoding = context
        .tokenizer
        .encode(&example.text, example.text_pair.as_deref(), truncation)
        .map_err(|e| TrainError::Row {
            path: path.to_path_buf(),
            line: example.line,
            message: e.to_string(),
        })?;
    Ok(Row {
        ids: encoding.ids,
        type_ids: encoding.type_ids,
    })
}

/// What `predict` writes for one row: the logits and the label with its probability; the score
/// of a regression; the scores and the labels above 0.5 of a multi-label model.
fn label_fields(row: &[f32], problem: ProblemType, config: &BertConfig) -> Fields {
    fields(match problem {
        ProblemType::Regression => json!({"logits": row, "score": row[0]}),
        ProblemType::MultiLabel => {
            let scores: Vec<f32> = row.iter().map(|&x| sigmoid(x)).collect();
            let labels: Vec<String> = (0..row.len())
                .filter(|&i| scores[i] > 0.5)
                .map(|i| config.label_name(i))
                .collect();
            json!({"logits": row, "scores": scores, "labels": labels})
        }
        ProblemType::SingleLabel => {
            let probs = softmax(row);
            let best = argmax(&probs);
            json!({"logits": row, "label": config.label_name(best), "score": probs[best]})
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::testing::{model, tiny};

    const ROWS: &str = "sentence,label\nthe cat sat,pos\na big red dog ran,neg\njohn lives in paris,pos\n";

    #[test]
    fn a_row_is_a_feature_with_its_label_and_batches_pad_to_the_longest() {
        let tiny = tiny(
            "task = \"sequence-classification\"",
            "text_column = \"sentence\"",
            &[("train.csv", ROWS)],
        );
        let task = SequenceClassification::from_task_config(&tiny.config.task).unwrap();
        let data = task.load(&tiny.context()).unwrap();
        let labels = data.labels.as_ref().unwrap();
        assert_eq!(labels.names(), ["neg", "pos"]);
        let features = &data.train.features;
        assert_eq!(features.len(), 3);
        assert_eq!(features[1].target, Target::Class(0));
        assert_eq!(features[1].row.ids.len(), 7);

        let device = Device::default();
        let host = task.gather(features, &[0, 1, 2], &mut SplitMix64(0));
        let batch = task.to_device(&host, 0, &device);
        assert_eq!(batch.input.input_ids.dims(), [3, 7]);
        let model = model(&task, &tiny, Some(labels));
        let (loss, outputs) = task.forward(&model, &batch, true);
        assert!(loss.into_scalar::<f32>().is_finite());
        assert_eq!(outputs.len(), 3);
        let scores = task.metrics(features, outputs, Some(labels));
        for name in task.metric_names() {
            assert!(scores.contains_key(*name), "{name} missing from {scores:?}");
        }
    }
}
