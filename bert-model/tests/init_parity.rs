//! Initialisation parity: PyTorch's generator and the heads transformers initialises for a seed,
//! against `tests/fixtures/init/` (made by its `make_fixtures.py`).

use std::path::{Path, PathBuf};

use bert_model::burn::prelude::Device;
use bert_model::torch_rng::TorchGenerator;
use bert_model::{
    from_checkpoint, BertConfig, BertForMaskedLM, BertForMultipleChoice,
    BertForNextSentencePrediction, BertForPreTraining, BertForQuestionAnswering,
    BertForSequenceClassification, BertForTokenClassification, Checkpoint, HfModel, HfTensors,
    LoadReport,
};

/// PyTorch computes the Box-Muller step in float32; values of size ~0.02 agree to about 1e-9.
const TOLERANCE: f32 = 1e-7;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read_json(name: &str) -> serde_json::Value {
    let path = fixtures().join("init").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn largest_difference(ours: &[f32], theirs: &[f32]) -> f32 {
    assert_eq!(ours.len(), theirs.len());
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

#[test]
fn generator_draws_what_torch_draws_after_manual_seed() {
    let runs = read_json("generator.json");
    for run in runs.as_array().unwrap() {
        let seed = run["seed"].as_u64().unwrap();
        let std = run["std"].as_f64().unwrap();
        let mut generator = TorchGenerator::new(seed);
        let sizes = run["sizes"].as_array().unwrap();
        for (size, expected) in sizes.iter().zip(run["values"].as_array().unwrap()) {
            let size = size.as_u64().unwrap() as usize;
            let ours = generator.normal_tensor(size, 0.0, std);
            let theirs: Vec<f32> = expected
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            let difference = largest_difference(&ours, &theirs);
            assert!(
                difference <= TOLERANCE,
                "seed {seed}, a tensor of {size}: largest difference {difference}"
            );
        }
    }
}

fn build<M: HfModel>(config: &BertConfig, seed: u64) -> (HfTensors, LoadReport) {
    let encoder = fixtures().join("model/bert_model");
    let checkpoint = Checkpoint::open_dir(&encoder).unwrap();
    let (model, report) =
        from_checkpoint::<M>(config, &checkpoint, &Device::default(), seed).unwrap();
    (model.hf_tensors(), report)
}

fn build_class(class: &str, config: &BertConfig, seed: u64) -> (HfTensors, LoadReport) {
    match class {
        "BertForSequenceClassification" => build::<BertForSequenceClassification>(config, seed),
        "BertForTokenClassification" => build::<BertForTokenClassification>(config, seed),
        "BertForQuestionAnswering" => build::<BertForQuestionAnswering>(config, seed),
        "BertForMultipleChoice" => build::<BertForMultipleChoice>(config, seed),
        "BertForNextSentencePrediction" => build::<BertForNextSentencePrediction>(config, seed),
        "BertForMaskedLM" => build::<BertForMaskedLM>(config, seed),
        "BertForPreTraining" => build::<BertForPreTraining>(config, seed),
        other => panic!("unknown class {other}"),
    }
}

#[test]
fn every_new_head_equals_the_one_transformers_draws_for_the_seed() {
    let cases = read_json("heads.json");
    let expected =
        Checkpoint::open_safetensors(&fixtures().join("init/heads.safetensors")).unwrap();
    let base = BertConfig::from_file(fixtures().join("model/bert_model/config.json")).unwrap();
    for case in cases["cases"].as_array().unwrap() {
        let class = case["class"].as_str().unwrap();
        let seed = case["seed"].as_u64().unwrap();
        let mut config = base.clone();
        if let Some(n) = case["overrides"]["num_labels"].as_u64() {
            config.num_labels = Some(n as usize);
        }
        let (tensors, report) = build_class(class, &config, seed);
        let missing: Vec<&str> = case["missing"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            // transformers lists the decoder's bias, which is `cls.predictions.bias` itself.
            .filter(|name| *name != "cls.predictions.decoder.bias")
            .collect();
        let mut initialized: Vec<&str> = report.initialized.iter().map(String::as_str).collect();
        let mut sorted_missing = missing.clone();
        initialized.sort();
        sorted_missing.sort();
        assert_eq!(initialized, sorted_missing, "{class}, seed {seed}");
        for name in missing {
            let key = format!("{class}/{seed}/{name}");
            let theirs = expected.tensors[&key].to_f32(&key).unwrap();
            let (shape, ours) = &tensors[name];
            assert_eq!(shape, &expected.tensors[&key].shape, "{key}");
            let difference = largest_difference(ours, &theirs);
            assert!(
                difference <= TOLERANCE,
                "{key}: largest difference {difference}"
            );
        }
    }
}
