//! Parity with transformers: every head and loss, every checkpoint layout, and the real
//! all-MiniLM-L6-v2, against outputs stored by `tests/fixtures/model/make_fixtures.py`.
//!
//! The device is `BERT_TEST_DEVICE` (default `cpu`), so the same tests run on wgpu or libtorch:
//! `BERT_TEST_DEVICE=wgpu cargo test -p bert-model --features wgpu --test model_parity`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bert_model::burn::prelude::{Device, Int, Tensor, TensorData};
use bert_model::*;

const TOLERANCE: f32 = 1e-4;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model")
}

fn device() -> Device {
    let name = std::env::var("BERT_TEST_DEVICE").unwrap_or_else(|_| "cpu".into());
    let device = parse_device(&name).unwrap_or_else(|e| panic!("BERT_TEST_DEVICE: {e}"));
    eprintln!("model parity on `{name}`: {device:?}");
    device
}

/// The tensors of one case's expected.safetensors.
struct Expected {
    checkpoint: Checkpoint,
    device: Device,
}

impl Expected {
    fn open(dir: &Path, device: &Device) -> Self {
        Expected {
            checkpoint: Checkpoint::open_safetensors(&dir.join("expected.safetensors")).unwrap(),
            device: device.clone(),
        }
    }

    fn has(&self, name: &str) -> bool {
        self.checkpoint.tensors.contains_key(name)
    }

    fn shape(&self, name: &str) -> Vec<usize> {
        self.checkpoint.tensors[name].shape.clone()
    }

    fn floats(&self, name: &str) -> Vec<f32> {
        self.checkpoint.tensors[name].to_f32(name).unwrap()
    }

    fn ints<const D: usize>(&self, name: &str) -> Tensor<D, Int> {
        let values = self.checkpoint.tensors[name].to_i64(name).unwrap();
        let shape: [usize; D] = self.shape(name).try_into().unwrap();
        Tensor::from_data(TensorData::new(values, shape), &self.device)
    }

    fn float_tensor<const D: usize>(&self, name: &str) -> Tensor<D> {
        let shape: [usize; D] = self.shape(name).try_into().unwrap();
        Tensor::from_data(TensorData::new(self.floats(name), shape), &self.device)
    }

    /// The batch, flattened to rows (multiple choice stores `[batch, choices, seq]`).
    fn input(&self) -> (BertInput, usize) {
        let shape = self.shape("input_ids");
        let (rows, seq, choices) = match shape.as_slice() {
            [b, s] => (*b, *s, 1),
            [b, c, s] => (b * c, *s, *c),
            other => panic!("input_ids shape {other:?}"),
        };
        let get = |name: &str| {
            let values = self.checkpoint.tensors[name].to_i64(name).unwrap();
            Tensor::<2, Int>::from_data(TensorData::new(values, [rows, seq]), &self.device)
        };
        let input = BertInput {
            input_ids: get("input_ids"),
            attention_mask: Some(get("attention_mask")),
            token_type_ids: Some(get("token_type_ids")),
        };
        (input, choices)
    }
}

/// Collects mismatches so that one run reports every output that differs.
#[derive(Default)]
struct Report {
    failures: Vec<String>,
    checked: usize,
}

impl Report {
    fn compare<const D: usize>(
        &mut self,
        case: &str,
        name: &str,
        actual: Tensor<D>,
        expected: &Expected,
    ) {
        let key = format!("out.{name}");
        assert!(expected.has(&key), "{case}: fixture has no {key}");
        let want = expected.floats(&key);
        let shape = expected.shape(&key);
        self.compare_values(case, name, actual, &shape, &want);
    }

    fn compare_values<const D: usize>(
        &mut self,
        case: &str,
        name: &str,
        actual: Tensor<D>,
        shape: &[usize],
        want: &[f32],
    ) {
        self.checked += 1;
        let dims = actual.dims().to_vec();
        let got = actual
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap();
        let count: usize = shape.iter().product();
        if got.len() != count || (dims != shape && !(shape.is_empty() && dims == [1])) {
            self.failures
                .push(format!("{case}/{name}: shape {dims:?}, expected {shape:?}"));
            return;
        }
        let (mut worst, mut at) = (0.0f32, 0);
        for (i, (a, b)) in got.iter().zip(want).enumerate() {
            let diff = (a - b).abs();
            if diff > worst || diff.is_nan() {
                worst = if diff.is_nan() { f32::INFINITY } else { diff };
                at = i;
            }
        }
        if worst > TOLERANCE {
            self.failures.push(format!(
                "{case}/{name}: max abs diff {worst:e} at {at} (got {}, expected {})",
                got[at], want[at]
            ));
        }
    }

    fn encoder(&mut self, case: &str, out: &BertOutput, expected: &Expected) {
        let states = out.hidden_states.clone().expect("hidden states asked for");
        self.compare(
            case,
            "hidden_states",
            Tensor::stack::<4>(states, 0),
            expected,
        );
        let probs = out.attentions.clone().expect("attentions asked for");
        self.compare(case, "attentions", Tensor::stack::<5>(probs, 0), expected);
    }

    fn finish(self) {
        assert!(self.checked > 0, "nothing compared");
        assert!(
            self.failures.is_empty(),
            "{} of {} outputs differ from transformers:\n{}",
            self.failures.len(),
            self.checked,
            self.failures.join("\n")
        );
    }
}

const ALL: OutputOptions = OutputOptions {
    hidden_states: true,
    attentions: true,
    skip_padding: false,
};

fn load<M: HfModel>(dir: &Path, device: &Device) -> M {
    let loaded = from_pretrained::<M>(dir.to_str().unwrap(), device, 0)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    assert!(
        loaded.report.initialized.is_empty() && loaded.report.unused.is_empty(),
        "{}: {}",
        dir.display(),
        loaded.report.summary()
    );
    loaded.model
}

fn run_case(name: &str, class: &str, report: &mut Report, device: &Device) {
    let dir = fixtures().join(name);
    let expected = Expected::open(&dir, device);
    let (input, choices) = expected.input();
    match class {
        "BertModel" => {
            let model: BertModel = load(&dir, device);
            let out = model.forward(&input, ALL);
            report.compare(
                name,
                "last_hidden_state",
                out.last_hidden_state.clone(),
                &expected,
            );
            report.compare(
                name,
                "pooler_output",
                out.pooler_output.clone().unwrap(),
                &expected,
            );
            report.encoder(name, &out, &expected);
            // Without attentions asked for, inference takes the fused attention kernel.
            let fused = model.forward(&input, OutputOptions::default());
            let case = format!("{name} (fused attention)");
            report.compare(
                &case,
                "last_hidden_state",
                fused.last_hidden_state,
                &expected,
            );
        }
        "BertForPreTraining" => {
            let model: BertForPreTraining = load(&dir, device);
            let labels = (
                expected.ints::<2>("labels"),
                expected.ints::<1>("next_sentence_label"),
            );
            let out = model.forward(&input, Some(labels), ALL);
            report.compare(name, "prediction_logits", out.prediction_logits, &expected);
            report.compare(
                name,
                "seq_relationship_logits",
                out.seq_relationship_logits,
                &expected,
            );
            report.compare(name, "loss", out.loss.unwrap(), &expected);
            report.encoder(name, &out.encoder, &expected);
        }
        "BertForMaskedLM" => {
            let model: BertForMaskedLM = load(&dir, device);
            let out = model.forward(&input, Some(expected.ints::<2>("labels")), ALL);
            report.compare(name, "logits", out.logits, &expected);
            report.compare(name, "loss", out.loss.unwrap(), &expected);
            report.encoder(name, &out.encoder, &expected);
        }
        "BertForNextSentencePrediction" => {
            let model: BertForNextSentencePrediction = load(&dir, device);
            let out = model.forward(&input, Some(expected.ints::<1>("labels")), ALL);
            report.compare(name, "logits", out.logits, &expected);
            report.compare(name, "loss", out.loss.unwrap(), &expected);
            report.encoder(name, &out.encoder, &expected);
        }
        "BertForSequenceClassification" => {
            let model: BertForSequenceClassification = load(&dir, device);
            let labels = match expected.shape("labels").len() {
                1 if expected.checkpoint.tensors["labels"].dtype == StoredDType::I64 => {
                    SequenceLabels::Classes(expected.ints::<1>("labels"))
                }
                1 => {
                    let scores: Tensor<1> = expected.float_tensor("labels");
                    let n = scores.dims()[0];
                    SequenceLabels::Scores(scores.reshape([n, 1]))
                }
                _ => SequenceLabels::Scores(expected.float_tensor::<2>("labels")),
            };
            let out = model.forward(&input, Some(labels), ALL);
            report.compare(name, "logits", out.logits, &expected);
            report.compare(name, "loss", out.loss.unwrap(), &expected);
            report.encoder(name, &out.encoder, &expected);
        }
        "BertForMultipleChoice" => {
            let model: BertForMultipleChoice = load(&dir, device);
            let out = model.forward(&input, choices, Some(expected.ints::<1>("labels")), ALL);
            report.compare(name, "logits", out.logits, &expected);
            report.compare(name, "loss", out.loss.unwrap(), &expected);
            report.encoder(name, &out.encoder, &expected);
        }
        "BertForTokenClassification" => {
            let model: BertForTokenClassification = load(&dir, device);
            let out = model.forward(&input, Some(expected.ints::<2>("labels")), ALL);
            report.compare(name, "logits", out.logits, &expected);
            report.compare(name, "loss", out.loss.unwrap(), &expected);
            report.encoder(name, &out.encoder, &expected);
        }
        "BertForQuestionAnswering" => {
            let model: BertForQuestionAnswering = load(&dir, device);
            let positions = (
                expected.ints::<1>("start_positions"),
                expected.ints::<1>("end_positions"),
            );
            let out = model.forward(&input, Some(positions), ALL);
            report.compare(name, "start_logits", out.start_logits, &expected);
            report.compare(name, "end_logits", out.end_logits, &expected);
            report.compare(name, "loss", out.loss.unwrap(), &expected);
            report.encoder(name, &out.encoder, &expected);
        }
        other => panic!("unknown class {other}"),
    }
}

fn cases() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(fixtures().join("cases.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_head_and_layout_matches_transformers() {
    let device = device();
    let mut report = Report::default();
    let mut ran = BTreeMap::new();
    for case in cases() {
        let (name, class) = (
            case["name"].as_str().unwrap(),
            case["class"].as_str().unwrap(),
        );
        if case["check"] != "outputs" || case["layout"] == "external" {
            continue;
        }
        run_case(name, class, &mut report, &device);
        ran.insert(name.to_string(), class.to_string());
    }
    // Every class and every layout was exercised.
    for class in [
        "BertModel",
        "BertForPreTraining",
        "BertForMaskedLM",
        "BertForNextSentencePrediction",
        "BertForSequenceClassification",
        "BertForMultipleChoice",
        "BertForTokenClassification",
        "BertForQuestionAnswering",
    ] {
        assert!(ran.values().any(|c| c == class), "no case for {class}");
    }
    assert!(ran.len() >= 20, "{ran:?}");
    report.finish();
}

#[test]
fn a_bare_encoder_loads_into_a_head_model_and_reports_the_new_head() {
    let device = device();
    let dir = fixtures().join("bert_model");
    let loaded =
        from_pretrained::<BertForSequenceClassification>(dir.to_str().unwrap(), &device, 3)
            .unwrap();
    assert_eq!(
        loaded.report.initialized,
        vec!["classifier.weight", "classifier.bias"]
    );
    assert!(
        loaded.report.unused.is_empty(),
        "{:?}",
        loaded.report.unused
    );
    let expected = Expected::open(&dir, &device);
    let (input, _) = expected.input();
    let out = loaded.model.forward(&input, None, ALL);
    let mut report = Report::default();
    report.compare(
        "into_head",
        "last_hidden_state",
        out.encoder.last_hidden_state,
        &expected,
    );
    report.compare(
        "into_head",
        "pooler_output",
        out.encoder.pooler_output.unwrap(),
        &expected,
    );
    report.finish();
}

#[test]
fn a_head_checkpoint_loads_as_a_bare_encoder_and_reports_unused_heads() {
    let device = device();
    let dir = fixtures().join("pretraining");
    let loaded = from_pretrained::<BertModel>(dir.to_str().unwrap(), &device, 0).unwrap();
    assert!(
        loaded.report.initialized.is_empty(),
        "{:?}",
        loaded.report.initialized
    );
    assert!(loaded.report.unused.iter().all(|n| n.starts_with("cls.")));
    assert_eq!(loaded.report.unused.len(), 7, "{:?}", loaded.report.unused);
    let expected = Expected::open(&dir, &device);
    let (input, _) = expected.input();
    let out = loaded.model.forward(&input, ALL);
    let mut report = Report::default();
    report.encoder("pretraining_as_encoder", &out, &expected);
    report.finish();
}

#[test]
fn a_shape_mismatch_names_the_tensor_and_both_shapes() {
    let device = device();
    let dir = fixtures().join("sequence_classification");
    let mut config = BertConfig::from_file(dir.join("config.json")).unwrap();
    config.intermediate_size += 1;
    let checkpoint = Checkpoint::open_dir(&dir).unwrap();
    let err = from_checkpoint::<BertForSequenceClassification>(&config, &checkpoint, &device, 0)
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("bert.encoder.layer.0.intermediate.dense.weight"),
        "{text}"
    );
    assert!(
        text.contains("[37, 32]") && text.contains("[38, 32]"),
        "{text}"
    );
}

#[test]
fn padded_rows_equal_rows_run_alone() {
    let device = device();
    let dir = fixtures().join("bert_model");
    let model: BertModel = load(&dir, &device);
    let expected = Expected::open(&dir, &device);
    let (input, _) = expected.input();
    let batched = model.forward(&input, OutputOptions::default());
    let [rows, seq] = input.dims();
    let ids = expected.checkpoint.tensors["input_ids"]
        .to_i64("input_ids")
        .unwrap();
    let types = expected.checkpoint.tensors["token_type_ids"]
        .to_i64("t")
        .unwrap();
    let mask = expected.checkpoint.tensors["attention_mask"]
        .to_i64("m")
        .unwrap();
    let mut report = Report::default();
    for r in 0..rows {
        let len = (0..seq).filter(|&c| mask[r * seq + c] == 1).count();
        let row = |v: &[i64]| {
            v[r * seq..r * seq + len]
                .iter()
                .map(|&x| x as u32)
                .collect::<Vec<_>>()
        };
        let alone = BertInput::from_rows(&[(row(&ids), row(&types))], 0, &device);
        let out = model.forward(&alone, OutputOptions::default());
        let want = batched
            .last_hidden_state
            .clone()
            .narrow(0, r, 1)
            .narrow(1, 0, len)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let shape = out.last_hidden_state.dims().to_vec();
        report.compare_values(
            "alone",
            &format!("row {r}"),
            out.last_hidden_state,
            &shape,
            &want,
        );
    }
    report.finish();
}

impl Report {
    /// Compares a `[batch, seq, n]` output at the real positions only: both sides' padded
    /// positions are set to 0 first.
    fn compare_real(&mut self, case: &str, name: &str, actual: Tensor<3>, expected: &Expected) {
        let mask = expected
            .ints::<2>("attention_mask")
            .float()
            .unsqueeze_dim::<3>(2);
        let key = format!("out.{name}");
        let want = expected.float_tensor::<3>(&key) * mask.clone();
        let shape = expected.shape(&key);
        let want = want.into_data().try_to_vec::<f32>().unwrap();
        self.compare_values(case, name, actual * mask, &shape, &want);
    }

    /// Compares `[n, vocab]` rows against a `[batch, seq, vocab]` output at `positions`.
    fn compare_rows(
        &mut self,
        case: &str,
        name: &str,
        actual: Tensor<2>,
        positions: &[(usize, usize)],
        expected: &Expected,
    ) {
        let key = format!("out.{name}");
        let (all, shape) = (expected.floats(&key), expected.shape(&key));
        let (seq, vocab) = (shape[1], shape[2]);
        let want: Vec<f32> = positions
            .iter()
            .flat_map(|&(r, c)| all[(r * seq + c) * vocab..(r * seq + c + 1) * vocab].to_vec())
            .collect();
        let case = format!("{case} (labelled rows)");
        self.compare_values(&case, name, actual, &[positions.len(), vocab], &want);
    }
}

/// With `skip_padding`, every head but question answering (whose loss reads padded positions,
/// as transformers' does) gives transformers' losses, and its outputs at every real position.
#[test]
fn skipping_padding_keeps_real_positions_and_losses() {
    let device = device();
    let skip = OutputOptions::skipping_padding();
    let mut report = Report::default();
    let open = |name: &str| Expected::open(&fixtures().join(name), &device);
    let expected = open("bert_model");
    let out = load::<BertModel>(&fixtures().join("bert_model"), &device)
        .forward(&expected.input().0, skip);
    report.compare_real(
        "bert_model",
        "last_hidden_state",
        out.last_hidden_state,
        &expected,
    );
    report.compare(
        "bert_model",
        "pooler_output",
        out.pooler_output.unwrap(),
        &expected,
    );

    let expected = open("masked_lm");
    let model: BertForMaskedLM = load(&fixtures().join("masked_lm"), &device);
    let out = model.forward(&expected.input().0, Some(expected.ints("labels")), skip);
    report.compare_real("masked_lm", "logits", out.logits, &expected);
    report.compare("masked_lm", "loss", out.loss.unwrap(), &expected);
    let rows = model.forward_labelled(&expected.input().0, expected.ints("labels"), skip);
    report.compare("masked_lm (labelled rows)", "loss", rows.lm.loss, &expected);
    report.compare_rows(
        "masked_lm",
        "logits",
        rows.lm.logits,
        &rows.lm.positions,
        &expected,
    );

    let expected = open("pretraining");
    let model: BertForPreTraining = load(&fixtures().join("pretraining"), &device);
    let labels = (
        expected.ints("labels"),
        expected.ints("next_sentence_label"),
    );
    let out = model.forward(&expected.input().0, Some(labels), skip);
    report.compare_real(
        "pretraining",
        "prediction_logits",
        out.prediction_logits,
        &expected,
    );
    report.compare("pretraining", "loss", out.loss.unwrap(), &expected);
    let labels = (
        expected.ints("labels"),
        expected.ints("next_sentence_label"),
    );
    let rows = model.forward_labelled(&expected.input().0, labels, skip);
    report.compare("pretraining (labelled rows)", "loss", rows.loss, &expected);
    let (logits, positions) = (rows.lm.logits, &rows.lm.positions);
    report.compare_rows(
        "pretraining",
        "prediction_logits",
        logits,
        positions,
        &expected,
    );

    let expected = open("next_sentence");
    let model: BertForNextSentencePrediction = load(&fixtures().join("next_sentence"), &device);
    let out = model.forward(&expected.input().0, Some(expected.ints("labels")), skip);
    report.compare("next_sentence", "logits", out.logits, &expected);
    report.compare("next_sentence", "loss", out.loss.unwrap(), &expected);

    let expected = open("sequence_classification");
    let model: BertForSequenceClassification =
        load(&fixtures().join("sequence_classification"), &device);
    let labels = SequenceLabels::Classes(expected.ints("labels"));
    let out = model.forward(&expected.input().0, Some(labels), skip);
    report.compare("sequence_classification", "logits", out.logits, &expected);
    report.compare(
        "sequence_classification",
        "loss",
        out.loss.unwrap(),
        &expected,
    );

    let expected = open("token_classification");
    let model: BertForTokenClassification = load(&fixtures().join("token_classification"), &device);
    let out = model.forward(&expected.input().0, Some(expected.ints("labels")), skip);
    report.compare_real("token_classification", "logits", out.logits, &expected);
    report.compare("token_classification", "loss", out.loss.unwrap(), &expected);

    let expected = open("multiple_choice");
    let model: BertForMultipleChoice = load(&fixtures().join("multiple_choice"), &device);
    let (input, choices) = expected.input();
    let out = model.forward(&input, choices, Some(expected.ints("labels")), skip);
    report.compare("multiple_choice", "logits", out.logits, &expected);
    report.compare("multiple_choice", "loss", out.loss.unwrap(), &expected);
    report.finish();
}

/// A batch without any label: the head takes every position and the loss is NaN, as
/// transformers' is (0 / 0).
#[test]
fn a_batch_without_labels_takes_every_position() {
    let device = device();
    let expected = Expected::open(&fixtures().join("masked_lm"), &device);
    let model: BertForMaskedLM = load(&fixtures().join("masked_lm"), &device);
    let (input, _) = expected.input();
    let [batch, seq] = input.dims();
    let none = Tensor::<2, Int>::full([batch, seq], -100, &device);
    let rows = model.forward_labelled(&input, none, OutputOptions::skipping_padding());
    assert_eq!(rows.lm.positions.len(), batch * seq);
    assert!(rows.lm.loss.into_scalar::<f32>().is_nan());
}

/// The real all-MiniLM-L6-v2 (fetched by scripts/fetch-assets.sh).
#[test]
fn minilm_matches_transformers() {
    let dir = std::env::var("BERT_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/bert-rs/all-MiniLM-L6-v2")
        });
    assert!(
        dir.join("model.safetensors").is_file(),
        "all-MiniLM-L6-v2 not found in {} (run scripts/fetch-assets.sh or set BERT_MINILM_DIR)",
        dir.display()
    );
    let device = device();
    let model: BertModel = load(&dir, &device);
    let expected = Expected::open(&fixtures().join("minilm"), &device);
    let (input, _) = expected.input();
    let out = model.forward(&input, ALL);
    let mut report = Report::default();
    report.compare(
        "minilm",
        "last_hidden_state",
        out.last_hidden_state.clone(),
        &expected,
    );
    report.compare(
        "minilm",
        "pooler_output",
        out.pooler_output.clone().unwrap(),
        &expected,
    );
    report.encoder("minilm", &out, &expected);
    let fused = model.forward(&input, OutputOptions::default());
    let case = "minilm (fused attention)";
    report.compare(
        case,
        "last_hidden_state",
        fused.last_hidden_state,
        &expected,
    );
    report.finish();
}

/// `save_pretrained` writes what transformers' own `save_pretrained` wrote: the same tensor
/// names, shapes and values (so transformers loads our files exactly as its own), and a
/// config.json that reads back to the same configuration.
fn save_round_trip<M: HfModel>(name: &str, device: &Device) {
    let dir = fixtures().join(name);
    let loaded = from_pretrained::<M>(dir.to_str().unwrap(), device, 0).unwrap();
    let out = tempfile::tempdir().unwrap();
    save_pretrained(&loaded.model, &loaded.config, out.path()).unwrap();
    let theirs = Checkpoint::open_dir(&dir).unwrap();
    let ours = Checkpoint::open_dir(out.path()).unwrap();
    let names = |c: &Checkpoint| c.tensors.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&ours), names(&theirs), "{name}: tensor names differ");
    for (key, stored) in &theirs.tensors {
        let mine = &ours.tensors[key];
        assert_eq!(mine.shape, stored.shape, "{name}/{key}");
        assert_eq!(
            mine.to_f32(key).unwrap(),
            stored.to_f32(key).unwrap(),
            "{name}/{key}"
        );
    }
    let config = BertConfig::from_file(out.path().join("config.json")).unwrap();
    let mut original = loaded.config.clone();
    original.architectures = Some(vec![M::ARCHITECTURE.to_string()]);
    assert_eq!(config, original, "{name}: config.json");
    // And our own loader reads it back to the same model.
    let again = from_pretrained::<M>(out.path().to_str().unwrap(), device, 0).unwrap();
    assert_eq!(again.report.loaded.len(), loaded.report.loaded.len());
    assert!(again.report.initialized.is_empty() && again.report.unused.is_empty());
}

#[test]
fn save_pretrained_writes_what_transformers_writes() {
    let device = device();
    save_round_trip::<BertModel>("bert_model", &device);
    save_round_trip::<BertForPreTraining>("pretraining", &device);
    save_round_trip::<BertForMaskedLM>("masked_lm", &device);
    save_round_trip::<BertForNextSentencePrediction>("next_sentence", &device);
    save_round_trip::<BertForSequenceClassification>("sequence_classification", &device);
    save_round_trip::<BertForSequenceClassification>("sequence_regression", &device);
    save_round_trip::<BertForMultipleChoice>("multiple_choice", &device);
    save_round_trip::<BertForTokenClassification>("token_classification", &device);
    save_round_trip::<BertForQuestionAnswering>("question_answering", &device);
}

#[test]
fn a_stored_decoder_must_equal_the_word_embeddings() {
    let device = device();
    let dir = fixtures().join("pretraining_bin");
    let config = BertConfig::from_file(dir.join("config.json")).unwrap();
    let mut checkpoint = Checkpoint::open_dir(&dir).unwrap();
    // The torch.save file holds the tied decoder: accepted, and listed as such.
    let (_, report) =
        from_checkpoint::<BertForPreTraining>(&config, &checkpoint, &device, 0).unwrap();
    assert_eq!(
        report.tied_or_buffers,
        vec![
            "cls.predictions.decoder.bias",
            "cls.predictions.decoder.weight"
        ]
    );
    let key = "cls.predictions.decoder.weight";
    let shape = checkpoint.tensors[key].shape.clone();
    let zeros = vec![0.0; shape.iter().product()];
    checkpoint.tensors.insert(
        key.into(),
        StoredTensor::from_f32(shape, zeros, dir.join("x")),
    );
    let err = from_checkpoint::<BertForPreTraining>(&config, &checkpoint, &device, 0).unwrap_err();
    assert!(err.to_string().contains("untied"), "{err}");
}
