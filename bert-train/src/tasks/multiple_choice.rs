//! `multiple-choice`: the right one of two or more choices for a context (SWAG, Social IQa,
//! MMLU), `BertForMultipleChoice`. Each choice is encoded as the pair (context, choice), cut
//! longest-first to `max_seq_length`; the head scores every choice and the loss is the
//! cross-entropy over the choices of an example.

use std::path::Path;

use bert_data::batch::{LabelSet, Row};
use bert_data::readers::{read_choice_examples, BadRow, ChoiceColumns, ChoiceExample, Format};
use bert_data::{Encoding, Truncation, TruncationStrategy};
use bert_model::burn::prelude::{Device, Int, Tensor, TensorData};
use bert_model::rng::SplitMix64;
use bert_model::{host_values, BertConfig, BertForMultipleChoice, BertInput, OutputOptions};

use super::inference::{fields, text_field, Fields, Inference};
use super::{argmax, copy_rows, load_splits, LoadContext, Predict, Task, TaskData};
use crate::config::Validate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use crate::metrics::{self, Metrics};
use crate::TrainError;
use serde_json::{json, Value};

/// The keys of `multiple-choice`: all in `[data]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Config {
    /// Its keys of `[data]`.
    pub data: MultipleChoice,
}

impl Validate for Config {
    fn problems(&self) -> Vec<String> {
        vec![]
    }
}

/// The task and its options, which are its `[data]` keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct MultipleChoice {
    /// Column (JSONL field, CSV header) of the context.
    pub context_column: String,
    /// Column of the list of choices.
    pub choices_column: String,
    /// Column of the right choice's index.
    pub label_column: String,
}

impl Default for MultipleChoice {
    fn default() -> Self {
        MultipleChoice {
            context_column: "context".into(),
            choices_column: "choices".into(),
            label_column: "label".into(),
        }
    }
}

/// One example: a row per choice and the index of the right one.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    /// One encoded (context, choice) pair per choice.
    pub rows: Vec<Row>,
    /// The right choice.
    pub label: usize,
    /// The line of the file it came from.
    pub line: usize,
}

/// The rows of a batch, the choices of each example next to each other.
#[derive(Debug, Clone)]
pub struct HostBatch {
    rows: Vec<(Vec<u32>, Vec<u32>)>,
    labels: Vec<i64>,
    choices: usize,
}

/// A padded batch on a device.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `[examples * choices, seq]`, the choices of an example on consecutive rows.
    pub input: BertInput,
    /// The right choice of each example `[examples]`.
    pub labels: Tensor<1, Int>,
    /// Choices per example.
    pub choices: usize,
}

impl Task for MultipleChoice {
    const NAME: &'static str = "multiple-choice";
    const FORMATS: &'static [Format] = &[Format::Jsonl, Format::Csv];
    type Model = BertForMultipleChoice;
    type Config = Config;
    type Feature = Feature;
    type HostBatch = HostBatch;
    type Batch = Batch;
    /// The chosen index.
    type Output = usize;

    fn new(config: &Config) -> Self {
        config.data.clone()
    }

    fn metric_names(&self) -> &'static [&'static str] {
        &["accuracy"]
    }

    fn load(&self, context: &LoadContext) -> Result<TaskData<Feature>, TrainError> {
        let read = |path: &Path, limit: Option<usize>| self.read(context, path, limit);
        let featurize = |rows: Vec<ChoiceExample>, _: Option<&LabelSet>, _, path: &Path| {
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
        feature.rows.iter().map(|r| r.ids.len()).max().unwrap_or(0)
    }

    fn gather(&self, features: &[Feature], indices: &[usize], _: &mut SplitMix64) -> HostBatch {
        let chosen = indices.iter().map(|&i| &features[i]);
        HostBatch {
            rows: copy_rows(chosen.clone().flat_map(|f| &f.rows)),
            labels: chosen.clone().map(|f| f.label as i64).collect(),
            choices: chosen.map(|f| f.rows.len()).next().unwrap_or(1),
        }
    }

    fn to_device(&self, host: &HostBatch, pad_id: u32, device: &Device) -> Batch {
        let n = host.labels.len();
        Batch {
            input: BertInput::from_rows(&host.rows, pad_id, device),
            labels: Tensor::from_data(TensorData::new(host.labels.clone(), [n]), device),
            choices: host.choices,
        }
    }

    fn forward(
        &self,
        model: &BertForMultipleChoice,
        batch: &Batch,
        with_outputs: bool,
    ) -> (Tensor<1>, Vec<usize>) {
        let labels = Some(batch.labels.clone());
        let options = OutputOptions::skipping_padding();
        let out = model.forward(&batch.input, batch.choices, labels, options);
        let loss = out.loss.expect("labels were given");
        if !with_outputs {
            return (loss, Vec::new());
        }
        let values = host_values(out.logits);
        let chosen = values.chunks(batch.choices.max(1)).map(argmax).collect();
        (loss, chosen)
    }

    fn metrics(&self, features: &[Feature], outputs: Vec<usize>, _: Option<&LabelSet>) -> Metrics {
        let gold: Vec<usize> = features.iter().map(|f| f.label).collect();
        let mut out = Metrics::new();
        out.insert("accuracy".into(), metrics::accuracy(&outputs, &gold));
        out
    }

}

impl Predict for MultipleChoice {
    /// One encoded (context, choice) pair per choice.
    type Input = Vec<Encoding>;

    fn read_input(&self, fields: &Fields, inference: &Inference) -> Result<Vec<Encoding>, String> {
        let context = text_field(fields, "context")?;
        let choices = match fields.get("choices") {
            Some(Value::Array(items)) if !items.is_empty() => items,
            Some(_) => return Err("field `choices` must be a non-empty list of strings".into()),
            None => return Err("missing field `choices`".into()),
        };
        let mut rows = Vec::with_capacity(choices.len());
        for (i, choice) in choices.iter().enumerate() {
            let Value::String(choice) = choice else {
                return Err(format!("`choices[{i}]` must be a string, found {choice}"));
            };
            rows.push(inference.encode(context, Some(choice))?);
        }
        Ok(rows)
    }

    fn infer(
        &self,
        model: &BertForMultipleChoice,
        inputs: &[Vec<Encoding>],
        inference: &Inference,
    ) -> Vec<Fields> {
        // Consecutive inputs with the same number of choices go through the model together.
        let mut outputs = Vec::with_capacity(inputs.len());
        for group in inputs.chunk_by(|a, b| a.len() == b.len()) {
            let choices = group[0].len();
            let input = inference.input(group.iter().flatten());
            let out = model.forward(&input, choices, None, OutputOptions::skipping_padding());
            let logits = host_values(out.logits);
            outputs.extend(
                logits
                    .chunks(choices)
                    .map(|row| fields(json!({"logits": row, "choice": argmax(row)}))),
            );
        }
        outputs
    }
}

impl MultipleChoice {
    fn read(
        &self,
        context: &LoadContext,
        path: &Path,
        limit: Option<usize>,
    ) -> Result<(Vec<ChoiceExample>, Vec<BadRow>), TrainError> {
        let columns = ChoiceColumns {
            context: self.context_column.clone(),
            choices: self.choices_column.clone(),
            label: Some(self.label_column.clone()),
        };
        let data = &context.config.data;
        let read = read_choice_examples(path, data.format_of(path)?, &columns, data.on_bad_row)?;
        let rows = read.rows.into_iter().take(limit.unwrap_or(usize::MAX));
        Ok((rows.collect(), read.skipped))
    }
}

/// Encodes each choice as the pair (context, choice).
fn feature(context: &LoadContext, example: ChoiceExample, path: &Path) -> Result<Feature, TrainError> {
    let truncation = Some(Truncation {
        max_length: context.config.data.max_seq_length,
        strategy: TruncationStrategy::LongestFirst,
    });
    let line = example.line;
    let mut rows = Vec::with_capacity(example.choices.len());
    for choice in &example.choices {
        let encoding = context
            .tokenizer
            .encode(&example.context, Some(choice), truncation)
            .map_err(|e| TrainError::Row {
                path: path.to_path_buf(),
                line,
                message: e.to_string(),
            })?;
        rows.push(Row {
            ids: encoding.ids,
            type_ids: encoding.type_ids,
        });
    }
    let label = example.label.ok_or_else(|| TrainError::Row {
        path: path.to_path_buf(),
        line,
        message: "missing label".into(),
    })?;
    Ok(Feature { rows, label, line })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::testing::{model, tiny};
    use crate::tasks::evaluate;

    const ROWS: &str = "{\"context\": \"the cat\", \"choices\": [\"sat\", \"ran on the mat\", \"a dog\"], \"label\": 2}\n\
                        {\"context\": \"john lives in paris\", \"choices\": [\"the dog\", \"a cat\", \"big red\"], \"label\": 0}\n";

    #[test]
    fn choices_become_rows_of_one_feature_and_examples_are_scored_together() {
        let tiny = tiny("task = \"multiple-choice\"", "", &[("train.jsonl", ROWS)]);
        let task = MultipleChoice::from_task_config(&tiny.config.task).unwrap();
        let data = task.load(&tiny.context()).unwrap();
        let features = &data.train.features;
        assert_eq!(features.len(), 2);
        assert_eq!(features[0].rows.len(), 3);
        assert_eq!(features[0].label, 2);
        // Each row is the pair [CLS] context [SEP] choice [SEP].
        let first = &features[0].rows[1];
        assert_eq!(first.type_ids.iter().filter(|&&t| t == 1).count(), 5);

        let device = Device::default();
        let host = task.gather(features, &[1, 0], &mut SplitMix64(0));
        let batch = task.to_device(&host, 0, &device);
        let longest = features.iter().map(MultipleChoice::length).max().unwrap();
        assert_eq!(batch.input.input_ids.dims(), [6, longest]);
        assert_eq!(batch.choices, 3);
        let model = model(&task, &tiny, None);
        let (loss, chosen) = task.forward(&model, &batch, true);
        assert!(loss.into_scalar::<f32>().is_finite());
        assert_eq!(chosen.len(), 2);
        assert!(chosen.iter().all(|&c| c < 3));

        // One output per example; accuracy over examples.
        let scores = task.metrics(features, vec![2, 1], None);
        assert_eq!(scores["accuracy"], 0.5);
        let whole = evaluate(&task, &model, features, 1, 0, None, &device);
        let by_two = evaluate(&task, &model, features, 2, 0, None, &device);
        assert_eq!(whole["accuracy"], by_two["accuracy"]);
        assert!((whole["loss"] - by_two["loss"]).abs() < 1e-5);
    }
}
