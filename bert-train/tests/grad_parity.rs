//! One backward pass against transformers' (tests/fixtures/grads/make_fixtures.py): the loss and
//! the gradients of chosen parameters for the masked-LM, pre-training, sequence-classification
//! and question-answering heads on bert-model's tiny fixture checkpoints, dropout off. The masked-LM decoder weight is
//! the word-embedding matrix, so its gradient sums the lookup and the output projection.

use std::path::{Path, PathBuf};

use bert_model::burn::module::Param;
use bert_model::burn::prelude::{Device, Int, Tensor, TensorData};
use bert_model::burn::tensor::Gradients;
use bert_model::{
    from_checkpoint, host_values, BertConfig, BertForMaskedLM, BertForPreTraining,
    BertForQuestionAnswering, BertForSequenceClassification, BertInput, BertModel, Checkpoint,
    HfModel, OutputOptions, SequenceLabels,
};
use serde_json::Value;

fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../bert-model/tests/fixtures/model")
        .join(name)
}

/// The fixture model `name` without dropout, on an autodiff CPU device.
fn load<M: HfModel>(name: &str, device: &Device) -> M {
    let dir = fixture_dir(name);
    let overrides =
        serde_json::json!({"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0});
    let config =
        BertConfig::from_file_with(dir.join("config.json"), overrides.as_object().unwrap())
            .unwrap();
    let checkpoint = Checkpoint::open_dir(&dir).unwrap();
    from_checkpoint::<M>(&config, &checkpoint, device, 0)
        .unwrap()
        .0
}

fn ints(v: &Value) -> (Vec<i64>, [usize; 2]) {
    let rows = v.as_array().unwrap();
    let cols = rows[0].as_array().unwrap().len();
    let flat = rows
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()))
        .collect();
    (flat, [rows.len(), cols])
}

fn int2(v: &Value, device: &Device) -> Tensor<2, Int> {
    let (flat, shape) = ints(v);
    Tensor::from_data(TensorData::new(flat, shape), device)
}

fn int1(v: &Value, device: &Device) -> Tensor<1, Int> {
    let flat: Vec<i64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    let n = flat.len();
    Tensor::from_data(TensorData::new(flat, [n]), device)
}

fn input(case: &Value, device: &Device) -> BertInput {
    BertInput {
        input_ids: int2(&case["input_ids"], device),
        attention_mask: Some(int2(&case["attention_mask"], device)),
        token_type_ids: Some(int2(&case["token_type_ids"], device)),
    }
}

fn compare(case: &Value, name: &str, ours: Vec<f32>) {
    let theirs: Vec<f64> = case["grads"][name]
        .as_array()
        .unwrap_or_else(|| panic!("no {name} in the fixture"))
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(ours.len(), theirs.len(), "{name}");
    let scale = theirs.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-6);
    let diff = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (f64::from(*a) - b).abs())
        .fold(0.0, f64::max);
    assert!(
        diff <= 1e-4 * scale.max(1.0),
        "{}: gradient of {name} differs by {diff:e} (largest value {scale:e})",
        case["name"]
    );
}

/// The gradient of `param`, flattened.
fn grad_of<const D: usize>(param: &Param<Tensor<D>>, grads: &Gradients) -> Vec<f32> {
    host_values(
        param
            .val()
            .grad(grads)
            .expect("the parameter has a gradient"),
    )
}

/// The encoder tensors every case checks.
fn check_encoder(case: &Value, bert: &BertModel, grads: &Gradients) {
    let e = &bert.embeddings;
    compare(
        case,
        "bert.embeddings.LayerNorm.weight",
        grad_of(&e.layer_norm.gamma, grads),
    );
    let query = &bert.layers[0].attention.query.weight;
    // torch stores Linear weights [out, in]; burn's are [in, out].
    let q = param_t(query, grads);
    compare(case, "bert.encoder.layer.0.attention.self.query.weight", q);
    let bias = bert.layers[1].output.bias.as_ref().unwrap();
    compare(
        case,
        "bert.encoder.layer.1.output.dense.bias",
        grad_of(bias, grads),
    );
}

/// The gradient of a burn Linear weight `[in, out]` in torch's layout `[out, in]`.
fn param_t(param: &Param<Tensor<2>>, grads: &Gradients) -> Vec<f32> {
    host_values(param.val().grad(grads).unwrap().transpose())
}

fn fixture() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/grads/grads.json"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v.as_array().unwrap().clone()
}

fn case(name: &str) -> Value {
    fixture().into_iter().find(|c| c["name"] == name).unwrap()
}

fn close_loss(case: &Value, loss: Tensor<1>) {
    let ours = loss.into_scalar::<f32>() as f64;
    let theirs = case["loss"].as_f64().unwrap();
    assert!(
        (ours - theirs).abs() < 1e-4,
        "{}: loss {ours} vs {theirs}",
        case["name"]
    );
}

#[test]
fn masked_lm_gradients_match_transformers() {
    masked_lm_gradients(OutputOptions::default(), false);
    // Skipping padding, and the head at the labelled positions only, change nothing that
    // reaches the loss.
    masked_lm_gradients(OutputOptions::skipping_padding(), false);
    masked_lm_gradients(OutputOptions::skipping_padding(), true);
}

fn masked_lm_gradients(options: OutputOptions, labelled: bool) {
    let device = Device::default().autodiff();
    let case = case("masked_lm");
    let model: BertForMaskedLM = load("masked_lm", &device);
    let labels = int2(&case["labels"], &device);
    let input = input(&case, &device);
    let loss = if labelled {
        model.forward_labelled(&input, labels, options).lm.loss
    } else {
        model.forward(&input, Some(labels), options).loss.unwrap()
    };
    let grads = loss.clone().backward();
    close_loss(&case, loss);
    let words = grad_of(&model.bert.embeddings.word_embeddings.weight, &grads);
    compare(&case, "bert.embeddings.word_embeddings.weight", words);
    compare(
        &case,
        "cls.predictions.bias",
        grad_of(&model.cls.bias, &grads),
    );
    let dense = param_t(&model.cls.transform.weight, &grads);
    compare(&case, "cls.predictions.transform.dense.weight", dense);
    check_encoder(&case, &model.bert, &grads);
}

#[test]
fn pretraining_gradients_match_transformers() {
    pretraining_gradients(OutputOptions::default(), false);
    // Skipping padding, and the head at the labelled positions only, change nothing that
    // reaches the loss.
    pretraining_gradients(OutputOptions::skipping_padding(), false);
    pretraining_gradients(OutputOptions::skipping_padding(), true);
}

fn pretraining_gradients(options: OutputOptions, labelled: bool) {
    let device = Device::default().autodiff();
    let case = case("pretraining");
    let model: BertForPreTraining = load("pretraining", &device);
    let labels = (
        int2(&case["labels"], &device),
        int1(&case["next_sentence_label"], &device),
    );
    let input = input(&case, &device);
    let loss = if labelled {
        model.forward_labelled(&input, labels, options).loss
    } else {
        model.forward(&input, Some(labels), options).loss.unwrap()
    };
    let grads = loss.clone().backward();
    close_loss(&case, loss);
    let words = grad_of(&model.bert.embeddings.word_embeddings.weight, &grads);
    compare(&case, "bert.embeddings.word_embeddings.weight", words);
    compare(
        &case,
        "cls.predictions.bias",
        grad_of(&model.predictions.bias, &grads),
    );
    let nsp = param_t(&model.seq_relationship.weight, &grads);
    compare(&case, "cls.seq_relationship.weight", nsp);
    check_encoder(&case, &model.bert, &grads);
}

#[test]
fn sequence_classification_gradients_match_transformers() {
    sequence_classification_gradients(OutputOptions::default());
    // Skipping padding changes nothing that reaches the loss.
    sequence_classification_gradients(OutputOptions::skipping_padding());
}

fn sequence_classification_gradients(options: OutputOptions) {
    let device = Device::default().autodiff();
    let case = case("sequence_classification");
    let model: BertForSequenceClassification = load("sequence_classification", &device);
    let labels = SequenceLabels::Classes(int1(&case["labels"], &device));
    let out = model.forward(&input(&case, &device), Some(labels), options);
    let loss = out.loss.unwrap();
    let grads = loss.clone().backward();
    close_loss(&case, loss);
    let words = grad_of(&model.bert.embeddings.word_embeddings.weight, &grads);
    compare(&case, "bert.embeddings.word_embeddings.weight", words);
    compare(
        &case,
        "classifier.weight",
        param_t(&model.classifier.weight, &grads),
    );
    check_encoder(&case, &model.bert, &grads);
}

#[test]
fn question_answering_gradients_match_transformers() {
    // A start past the sequence is clamped to its length and ignored, and the softmax runs
    // over padded positions too, as in transformers: the gradient reaches the `[PAD]` lookups.
    let device = Device::default().autodiff();
    let case = case("question_answering");
    let model: BertForQuestionAnswering = load("question_answering", &device);
    let positions = (
        int1(&case["start_positions"], &device),
        int1(&case["end_positions"], &device),
    );
    let out = model.forward(
        &input(&case, &device),
        Some(positions),
        OutputOptions::default(),
    );
    let loss = out.loss.unwrap();
    let grads = loss.clone().backward();
    close_loss(&case, loss);
    // transformers' `[PAD]` row takes no gradient from its lookups (`padding_idx`).
    let words = grad_of(&model.bert.embeddings.word_embeddings.weight, &grads);
    compare(&case, "bert.embeddings.word_embeddings.weight", words);
    let head = &model.qa_outputs;
    compare(&case, "qa_outputs.weight", param_t(&head.weight, &grads));
    let bias = grad_of(head.bias.as_ref().unwrap(), &grads);
    compare(&case, "qa_outputs.bias", bias);
    check_encoder(&case, &model.bert, &grads);
}
