//! `next-sentence`: does the second text follow the first? Labelled pairs (`text`,
//! `text_pair`, `label`: 0 = it is the next sentence, 1 = it is not, as BERT's pre-training
//! labels them), `BertForNextSentencePrediction`; metric accuracy.

use std::path::Path;

use bert_data::batch::{LabelSet, Row};
use bert_data::readers::{BadRow, Format, LabelValue, TextColumns, TextExample};
use bert_data::Encoding;
use bert_model::burn::prelude::{Device, Int, Tensor, TensorData};
use bert_model::rng::SplitMix64;
use bert_model::{host_values, BertConfig, BertForNextSentencePrediction, BertInput, OutputOptions};

use super::inference::{fields, text_field, Fields, Inference};
use super::sequence_classification::{encode_row, read_rows};
use super::{keep_good_rows, argmax, copy_rows, load_splits, LoadContext, Predict, Task, TaskData};
use crate::config::Validate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use crate::metrics::{self, Metrics};
use crate::TrainError;
use serde_json::json;

/// The keys of `next-sentence`: all in `[data]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Config {
    /// Its keys of `[data]`.
    pub data: NextSentence,
}

impl Validate for Config {
    fn problems(&self) -> Vec<String> {
        vec![]
    }
}

/// The task and its columns (CSV/TSV header names or JSONL keys), which are its `[data]` keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct NextSentence {
    /// Column of the first text.
    pub text_column: String,
    /// Column of the second text.
    pub text_pair_column: String,
    /// Column of the label: 0 (the second text follows the first) or 1 (it does not).
    pub label_column: String,
}

impl Default for NextSentence {
    fn default() -> Self {
        NextSentence {
            text_column: "text".into(),
            text_pair_column: "text_pair".into(),
            label_column: "label".into(),
        }
    }
}

/// One encoded pair and its label.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    /// `[CLS] text [SEP] text_pair [SEP]`.
    pub row: Row,
    /// 0: the pair is consecutive; 1: it is not.
    pub label: usize,
}

/// Rows and labels of a batch, before padding.
#[derive(Debug, Clone)]
pub struct HostBatch {
    rows: Vec<(Vec<u32>, Vec<u32>)>,
    labels: Vec<i64>,
}

/// A padded batch on a device.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Model inputs `[pairs, seq]`.
    pub input: BertInput,
    /// Labels `[pairs]`.
    pub labels: Tensor<1, Int>,
}

impl Task for NextSentence {
    const NAME: &'static str = "next-sentence";
    const FORMATS: &'static [Format] = &[Format::Csv, Format::Tsv, Format::Jsonl];
    type Model = BertForNextSentencePrediction;
    type Config = Config;
    type Feature = Feature;
    type HostBatch = HostBatch;
    type Batch = Batch;
    /// The predicted label.
    type Output = usize;

    fn new(config: &Config) -> Self {
        config.data.clone()
    }

    fn metric_names(&self) -> &'static [&'static str] {
        &["accuracy"]
    }

    fn load(&self, context: &LoadContext) -> Result<TaskData<Feature>, TrainError> {
        let read = |path: &Path, limit: Option<usize>| self.read(context, path, limit);
        let featurize = |rows: Vec<TextExample>, _: Option<&LabelSet>, _, path: &Path| {
            rows.into_iter()
                .map(|row| feature(context, row, path))
                .collect()
        };
        load_splits(context, &read, None, None, &featurize)
    }

    fn model_config(&self, config: BertConfig, _labels: Option<&LabelSet>) -> BertConfig {
        config
    }

    fn length(feature: &Feature) -> usize {
        feature.row.ids.len()
    }

    fn gather(&self, features: &[Feature], indices: &[usize], _: &mut SplitMix64) -> HostBatch {
        HostBatch {
            rows: copy_rows(indices.iter().map(|&i| &features[i].row)),
            labels: indices.iter().map(|&i| features[i].label as i64).collect(),
        }
    }

    fn to_device(&self, host: &HostBatch, pad_id: u32, device: &Device) -> Batch {
        let n = host.labels.len();
        Batch {
            input: BertInput::from_rows(&host.rows, pad_id, device),
            labels: Tensor::from_data(TensorData::new(host.labels.clone(), [n]), device),
        }
    }

    fn forward(
        &self,
        model: &BertForNextSentencePrediction,
        batch: &Batch,
        with_outputs: bool,
    ) -> (Tensor<1>, Vec<usize>) {
        let labels = Some(batch.labels.clone());
        let out = model.forward(&batch.input, labels, OutputOptions::skipping_padding());
        let loss = out.loss.expect("labels were given");
        if !with_outputs {
            return (loss, Vec::new());
        }
        (loss, host_values(out.logits).chunks(2).map(argmax).collect())
    }

    fn metrics(&self, features: &[Feature], outputs: Vec<usize>, _: Option<&LabelSet>) -> Metrics {
        let gold: Vec<usize> = features.iter().map(|f| f.label).collect();
        let mut out = Metrics::new();
        out.insert("accuracy".into(), metrics::accuracy(&outputs, &gold));
        out
    }

}

impl Predict for NextSentence {
    type Input = Encoding;

    fn read_input(&self, fields: &Fields, inference: &Inference) -> Result<Encoding, String> {
        let pair = text_field(fields, "text_pair")
            .map_err(|e| format!("{e} (next-sentence needs a pair)"))?;
        inference.encode(text_field(fields, "text")?, Some(pair))
    }

    fn infer(
        &self,
        model: &BertForNextSentencePrediction,
        inputs: &[Encoding],
        inference: &Inference,
    ) -> Vec<Fields> {
        let out = model.forward(&inference.input(inputs), None, OutputOptions::skipping_padding());
        host_values(out.logits)
            .chunks(2)
            .map(|row| fields(json!({"logits": row, "is_next": row[0] >= row[1]})))
            .collect()
    }
}

impl NextSentence {
    fn read(
        &self,
        context: &LoadContext,
        path: &Path,
        limit: Option<usize>,
    ) -> Result<(Vec<TextExample>, Vec<BadRow>), TrainError> {
        let columns = TextColumns {
            text: self.text_column.clone(),
            text_pair: Some(self.text_pair_column.clone()),
            label: Some(self.label_column.clone()),
            regression: false,
        };
        let read = read_rows(context, path, &columns)?;
        let mut skipped = read.skipped;
        let on_bad_row = context.config.data.on_bad_row;
        let mut rows = keep_good_rows(read.rows, path, on_bad_row, &mut skipped, |row| {
            label_of(row).map(|_| ()).map_err(|message| BadRow {
                line: row.line,
                message,
            })
        })?;
        rows.truncate(limit.unwrap_or(usize::MAX));
        Ok((rows, skipped))
    }
}

/// The label of a row: 0 (is next) or 1 (is not).
fn label_of(row: &TextExample) -> Result<usize, String> {
    match &row.label {
        Some(LabelValue::Class(c)) if c == "0" => Ok(0),
        Some(LabelValue::Class(c)) if c == "1" => Ok(1),
        other => Err(format!(
            "field `label`: {other:?} is not 0 (the second text follows) or 1 (it does not)"
        )),
    }
}

fn feature(context: &LoadContext, row: TextExample, path: &Path) -> Result<Feature, TrainError> {
    let label = label_of(&row).map_err(|message| TrainError::Row {
        path: path.to_path_buf(),
        line: row.line,
        message,
    })?;
    Ok(Feature {
        row: encode_row(context, &row, path)?,
        label,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::testing::{model, tiny};
    use crate::tasks::evaluate;

    #[test]
    fn pairs_with_0_or_1_labels_train_the_next_sentence_head() {
        let rows = "text,text_pair,label\nthe cat sat,on the mat,0\njohn lives in paris,a big red dog,1\n";
        let run = tiny("task = \"next-sentence\"", "", &[("train.csv", rows)]);
        let task = NextSentence::from_task_config(&run.config.task).unwrap();
        let features = task.load(&run.context()).unwrap().train.features;
        assert_eq!(features.len(), 2);
        assert_eq!((features[0].label, features[1].label), (0, 1));
        assert_eq!(features[0].row.type_ids.iter().filter(|&&t| t == 1).count(), 4);
        let model = model(&task, &run, None);
        let device = Device::default();
        let scores = evaluate(&task, &model, &features, 2, 0, None, &device);
        assert!([0.0, 0.5, 1.0].contains(&scores["accuracy"]), "{scores:?}");

        let bad = "text,text_pair,label\nthe cat,sat,2\n";
        let bad_run = tiny("task = \"next-sentence\"", "", &[("train.csv", bad)]);
        let error = task.load(&bad_run.context()).unwrap_err().to_string();
        assert!(error.contains("train.csv:2") && error.contains("field `label`"), "{error}");
    }
}
