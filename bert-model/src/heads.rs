//! The task heads of transformers' BERT, each with its loss (section 4 of the BERT paper and
//! the pretraining objectives of section 3.1). Parameter names follow transformers exactly:
//! `bert.*` for the encoder, `cls.predictions.*`, `cls.seq_relationship.*`, `classifier.*`,
//! `qa_outputs.*`.

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, LayerNorm, Linear};
use burn::prelude::{Int, Tensor};

use crate::config::BertConfig;
use crate::dropout::dropout;
use crate::layer_norm::layer_norm;
use crate::loss::{bce_with_logits, cross_entropy, mse};
use crate::model::{Activation, BertInput, BertModel, BertOutput, OutputOptions};
use crate::params::{
    put_layer_norm, put_linear, put_tensor, HfTensors, Init, LoadError, ParamSource,
};

/// A model that transformers knows by an architecture name, built from and saved to HF names.
pub trait HfModel: Module + Sized {
    /// The transformers class name (`config.json` `architectures`).
    const ARCHITECTURE: &'static str;
    /// The prefix of the encoder's tensors in this model's checkpoints.
    const BASE_PREFIX: &'static str;
    /// Builds the model, taking each tensor from `source`.
    fn build(config: &BertConfig, source: &mut ParamSource) -> Result<Self, LoadError>;
    /// Every parameter under its HF name.
    fn hf_tensors(&self) -> HfTensors;
}

impl HfModel for BertModel {
    const ARCHITECTURE: &'static str = "BertModel";
    const BASE_PREFIX: &'static str = "";
    fn build(config: &BertConfig, source: &mut ParamSource) -> Result<Self, LoadError> {
        BertModel::build(config, source, "", true)
    }
    fn hf_tensors(&self) -> HfTensors {
        let mut out = HfTensors::new();
        BertModel::hf_tensors(self, "", &mut out);
        out
    }
}

/// The masked-LM head (`cls.predictions`): dense + activation + LayerNorm, then the decoder,
/// whose weight is the word-embedding matrix (tied, as in transformers) plus its own bias.
#[derive(Module, Debug)]
pub struct BertLmPredictionHead {
    /// `cls.predictions.transform.dense`.
    pub transform: Linear,
    /// `cls.predictions.transform.LayerNorm`.
    pub layer_norm: LayerNorm,
    layer_norm_eps: f64,
    /// `cls.predictions.bias` (also saved as the tied `cls.predictions.decoder.bias`).
    pub bias: Param<Tensor<1>>,
    activation: Activation,
}

impl BertLmPredictionHead {
    fn build(
        config: &BertConfig,
        source: &mut ParamSource,
        word_embeddings: &Tensor<2>,
    ) -> Result<Self, LoadError> {
        let h = config.hidden_size;
        source.check_tied("cls.predictions.decoder.weight", word_embeddings)?;
        Ok(BertLmPredictionHead {
            transform: source.linear("cls.predictions.transform.dense", h, h)?,
            layer_norm: source.layer_norm(
                "cls.predictions.transform.LayerNorm",
                h,
                config.layer_norm_eps,
            )?,
            layer_norm_eps: config.layer_norm_eps,
            bias: Param::from_tensor(source.tensor(
                "cls.predictions.bias",
                [config.vocab_size],
                Init::Zeros,
            )?),
            activation: Activation::new(config.hidden_act),
        })
    }

    /// Vocabulary logits `[batch, seq, vocab]` from hidden states and the word embeddings.
    fn forward(&self, hidden: Tensor<3>, word_embeddings: Tensor<2>) -> Tensor<3> {
        let [batch, seq, h] = hidden.dims();
        let vocab = word_embeddings.dims()[0];
        self.rows(hidden.reshape([batch * seq, h]), word_embeddings)
            .reshape([batch, seq, vocab])
    }

    /// Vocabulary logits `[n, vocab]` of hidden-state rows `[n, hidden]`.
    pub(crate) fn rows(&self, hidden: Tensor<2>, word_embeddings: Tensor<2>) -> Tensor<2> {
        let x = layer_norm(
            &self.layer_norm,
            self.layer_norm_eps,
            self.activation.forward(self.transform.forward(hidden)),
        );
        x.matmul(word_embeddings.transpose()) + self.bias.val().unsqueeze::<2>()
    }

    fn hf_tensors(&self, out: &mut HfTensors, word_embeddings: Tensor<2>) {
        put_linear(out, "cls.predictions.transform.dense", &self.transform);
        put_layer_norm(out, "cls.predictions.transform.LayerNorm", &self.layer_norm);
        put_tensor(out, "cls.predictions.bias", self.bias.val());
        // The decoder weight is the word-embedding matrix: like transformers' safetensors
        // files, ours leave the tied copy out.
        let _ = word_embeddings;
    }
}

fn mlm_loss(logits: &Tensor<3>, labels: Tensor<2, Int>) -> Tensor<1> {
    let [batch, seq, vocab] = logits.dims();
    cross_entropy(
        logits.clone().reshape([batch * seq, vocab]),
        labels.reshape([batch * seq]),
        -100,
        None,
    )
}

/// Masked-LM logits and loss.
#[derive(Debug, Clone)]
pub struct MaskedLmOutput {
    /// `[batch, seq, vocab]`.
    pub logits: Tensor<3>,
    /// Mean cross-entropy over the labelled positions (label -100: not counted).
    pub loss: Option<Tensor<1>>,
    /// The encoder's output.
    pub encoder: BertOutput,
}

/// BERT with the masked-LM head (no pooler).
#[derive(Module, Debug)]
pub struct BertForMaskedLM {
    /// `bert`.
    pub bert: BertModel,
    /// `cls.predictions`.
    pub cls: BertLmPredictionHead,
}

impl HfModel for BertForMaskedLM {
    const ARCHITECTURE: &'static str = "BertForMaskedLM";
    const BASE_PREFIX: &'static str = "bert.";
    fn build(config: &BertConfig, source: &mut ParamSource) -> Result<Self, LoadError> {
        let bert = BertModel::build(config, source, "bert.", false)?;
        let words = bert.embeddings.word_embeddings.weight.val();
        Ok(BertForMaskedLM {
            cls: BertLmPredictionHead::build(config, source, &words)?,
            bert,
        })
    }
    fn hf_tensors(&self) -> HfTensors {
        let mut out = HfTensors::new();
        self.bert.hf_tensors("bert.", &mut out);
        self.cls
            .hf_tensors(&mut out, self.bert.embeddings.word_embeddings.weight.val());
        out
    }
}

impl BertForMaskedLM {
    /// Logits for every position; the loss when `labels` `[batch, seq]` are given.
    pub fn forward(
        &self,
        input: &BertInput,
        labels: Option<Tensor<2, Int>>,
        options: OutputOptions,
    ) -> MaskedLmOutput {
        let encoder = self.bert.forward(input, options);
        let logits = self.cls.forward(
            encoder.last_hidden_state.clone(),
            self.bert.embeddings.word_embeddings.weight.val(),
        );
        let loss = labels.map(|labels| mlm_loss(&logits, labels));
        MaskedLmOutput {
            logits,
            loss,
            encoder,
        }
    }
}

/// Logits of a classifier over the pooled output (or over choices), and the loss.
#[derive(Debug, Clone)]
pub struct ClassifierOutput {
    /// `[batch, labels]` (`[batch, choices]` for multiple choice, `[batch, 2]` for NSP).
    pub logits: Tensor<2>,
    /// The loss, when labels are given.
    pub loss: Option<Tensor<1>>,
    /// The encoder's output.
    pub encoder: BertOutput,
}

/// BERT with the next-sentence head (`cls.seq_relationship`, 2 logits: 0 = is next).
#[derive(Module, Debug)]
pub struct BertForNextSentencePrediction {
    /// `bert`.
    pub bert: BertModel,
    /// `cls.seq_relationship`.
    pub seq_relationship: Linear,
}

impl HfModel for BertForNextSentencePrediction {
    const ARCHITECTURE: &'static str = "BertForNextSentencePrediction";
    const BASE_PREFIX: &'static str = "bert.";
    fn build(config: &BertConfig, source: &mut ParamSource) -> Result<Self, LoadError> {
        Ok(BertForNextSentencePrediction {
            bert: BertModel::build(config, source, "bert.", true)?,
            seq_relationship: source.linear("cls.seq_relationship", config.hidden_size, 2)?,
        })
    }
    fn hf_tensors(&self) -> HfTensors {
        let mut out = HfTensors::new();
        self.bert.hf_tensors("bert.", &mut out);
        put_linear(&mut out, "cls.seq_relationship", &self.seq_relationship);
        out
    }
}

impl BertForNextSentencePrediction {
    /// NSP logits; the cross-entropy loss when `labels` `[batch]` are given.
    pub fn forward(
        &self,
        input: &BertInput,
        labels: Option<Tensor<1, Int>>,
        options: OutputOptions,
    ) -> ClassifierOutput {
        let encoder = self.bert.forward(input, options);
        let pooled = encoder
            .pooler_output
            .clone()
            .expect("NSP model has a pooler");
        let logits = self.seq_relationship.forward(pooled);
        let loss = labels.map(|labels| cross_entropy(logits.clone(), labels, -100, None));
        ClassifierOutput {
            logits,
            loss,
            encoder,
        }
    }
}

/// Pretraining outputs: both heads, and the summed loss.
#[derive(Debug, Clone)]
pub struct PreTrainingOutput {
    /// Masked-LM logits `[batch, seq, vocab]`.
    pub prediction_logits: Tensor<3>,
    /// NSP logits `[batch, 2]`.
    pub seq_relationship_logits: Tensor<2>,
    /// MLM loss + NSP loss, when both label sets are given.
    pub loss: Option<Tensor<1>>,
    /// The encoder's output.
    pub encoder: BertOutput,
}

/// BERT with both pretraining heads.
#[derive(Module, Debug)]
pub struct BertForPreTraining {
    /// `bert`.
    pub bert: BertModel,
    /// `cls.predictions`.
    pub predictions: BertLmPredictionHead,
    /// `cls.seq_relationship`.
    pub seq_relationship: Linear,
}

impl HfModel for BertForPreTraining {
    const ARCHITECTURE: &'static str = "BertForPreTraining";
    const BASE_PREFIX: &'static str = "bert.";
    fn build(config: &BertConfig, source: &mut ParamSource) -> Result<Self, LoadError> {
        let bert = BertModel::build(config, source, "bert.", true)?;
        let words = bert.embeddings.word_embeddings.weight.val();
        Ok(BertForPreTraining {
            predictions: BertLmPredictionHead::build(config, source, &words)?,
            bert,
            seq_relationship: source.linear("cls.seq_relationship", config.hidden_size, 2)?,
        })
    }
    fn hf_tensors(&self) -> HfTensors {
        let mut out = HfTensors::new();
        self.bert.hf_tensors("bert.", &mut out);
        self.predictions
            .hf_tensors(&mut out, self.bert.embeddings.word_embeddings.weight.val());
        put_linear(&mut out, "cls.seq_relationship", &self.seq_relationship);
        out
    }
}

impl BertForPreTraining {
    /// Both heads; the summed loss when MLM `labels` `[batch, seq]` and
    /// `next_sentence_label` `[batch]` are given.
    pub fn forward(
        &self,
        input: &BertInput,
        labels: Option<(Tensor<2, Int>, Tensor<1, Int>)>,
        options: OutputOptions,
    ) -> PreTrainingOutput {
        let encoder = self.bert.forward(input, options);
        let prediction_logits = self.predictions.forward(
            encoder.last_hidden_state.clone(),
            self.bert.embeddings.word_embeddings.weight.val(),
        );
        let pooled = encoder
            .pooler_output
            .clone()
            .expect("pretraining model has a pooler");
        let seq_relationship_logits = self.seq_relationship.forward(pooled);
        let loss = labels.map(|(mlm, nsp)| {
            mlm_loss(&prediction_logits, mlm)
                + cross_entropy(seq_relationship_logits.clone(), nsp, -100, None)
        });
        PreTrainingOutput {
            prediction_logits,
            seq_relationship_logits,
            loss,
            encoder,
        }
    }
}

/// Labels of a sequence classifier.
#[derive(Debug, Clone)]
pub enum SequenceLabels {
    /// One class per row, `[batch]` (cross-entropy).
    Classes(Tensor<1, Int>),
    /// Float targets `[batch, num_labels]`: regression (MSE) when `num_labels` is 1 or the
    /// problem type is `regression`, else multi-label (binary cross-entropy with logits).
    Scores(Tensor<2>),
}

/// How a sequence classifier computes its loss (`problem_type` in config.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    /// Mean squared error on `num_labels` outputs.
    Regression,
    /// Cross-entropy over classes.
    SingleLabel,
    /// Independent binary cross-entropies.
    MultiLabel,
}

impl ProblemType {
    /// The problem type of a configuration, as transformers derives it when `problem_type` is
    /// unset: regression for one label, else single-label for class labels.
    pub fn of(config: &BertConfig, labels_are_classes: bool) -> ProblemType {
        match config.problem_type.as_deref() {
            Some("regression") => ProblemType::Regression,
            Some("multi_label_classification") => ProblemType::MultiLabel,
            Some("single_label_classification") => ProblemType::SingleLabel,
            _ if config.num_labels() == 1 => ProblemType::Regression,
            _ if labels_are_classes => ProblemType::SingleLabel,
            _ => ProblemType::MultiLabel,
        }
    }
}

/// BERT with a classifier on the pooled output (sequence classification and regression).
#[derive(Module, Debug)]
pub struct BertForSequenceClassification {
    /// `bert`.
    pub bert: BertModel,
    /// `classifier`.
    pub classifier: Linear,
    dropout: Dropout,
    #[module(skip)]
    config: BertConfig,
}

fn classifier_dropout(config: &BertConfig) -> Dropout {
    DropoutConfig::new(
        config
            .classifier_dropout
            .unwrap_or(config.hidden_dropout_prob),
    )
    .init()
}

impl HfModel for BertForSequenceClassification {
    const ARCHITECTURE: &'static str = "BertForSequenceClassification";
    const BASE_PREFIX: &'static str = "bert.";
    fn build(config: &BertConfig, source: &mut ParamSource) -> Result<Self, LoadError> {
        Ok(BertForSequenceClassification {
            bert: BertModel::build(config, source, "bert.", true)?,
            classifier: source.linear("classifier", config.hidden_size, config.num_labels())?,
            dropout: classifier_dropout(config),
            config: config.clone(),
        })
    }
    fn hf_tensors(&self) -> HfTensors {
        let mut out = HfTensors::new();
        self.bert.hf_tensors("bert.", &mut out);
        put_linear(&mut out, "classifier", &self.classifier);
        out
    }
}

impl BertForSequenceClassification {
    /// Logits `[batch, num_labels]`; the loss of the configured problem type when labels are
    /// given.
    pub fn forward(
        &self,
        input: &BertInput,
        labels: Option<SequenceLabels>,
        options: OutputOptions,
    ) -> ClassifierOutput {
        let encoder = self.bert.forward(input, options);
        let pooled = encoder
            .pooler_output
            .clone()
            .expect("classifier has a pooler");
        let logits = self.classifier.forward(dropout(&self.dropout, pooled));
        let loss = labels.map(|labels| match labels {
            SequenceLabels::Classes(classes) => match ProblemType::of(&self.config, true) {
                ProblemType::Regression => {
                    let [batch, n] = logits.dims();
                    mse(logits.clone(), classes.float().reshape([batch, n]))
                }
                _ => cross_entropy(logits.clone(), classes, -100, None),
            },
            SequenceLabels::Scores(scores) => match ProblemType::of(&self.config, false) {
                ProblemType::Regression => mse(logits.clone(), scores),
                ProblemType::MultiLabel => bce_with_logits(logits.clone(), scores),
                ProblemType::SingleLabel => {
                    let [batch, _] = scores.dims();
                    cross_entropy(logits.clone(), scores.int().reshape([batch]), -100, None)
                }
            },
        });
        ClassifierOutput {
            logits,
            loss,
            encoder,
        }
    }

    /// The configuration the model was built from (labels, problem type).
    pub fn config(&self) -> &BertConfig {
        &self.config
    }
}

/// BERT scoring each choice with one logit from its pooled output.
#[derive(Module, Debug)]
pub struct BertForMultipleChoice {
    /// `bert`.
    pub bert: BertModel,
    /// `classifier` (hidden -> 1).
    pub classifier: Linear,
    dropout: Dropout,
}

impl HfModel for BertForMultipleChoice {
    const ARCHITECTURE: &'static str = "BertForMultipleChoice";
    const BASE_PREFIX: &'static str = "bert.";
    fn build(config: &BertConfig, source: &mut ParamSource) -> Result<Self, LoadError> {
        Ok(BertForMultipleChoice {
            bert: BertModel::build(config, source, "bert.", true)?,
            classifier: source.linear("classifier", config.hidden_size, 1)?,
            dropout: classifier_dropout(config),
        })
    }
    fn hf_tensors(&self) -> HfTensors {
        let mut out = HfTensors::new();
        self.bert.hf_tensors("bert.", &mut out);
        put_linear(&mut out, "classifier", &self.classifier);
        out
    }
}

impl BertForMultipleChoice {
    /// `input` holds `batch * num_choices` rows, the choices of each example next to each other
    /// (transformers' `[batch, choices, seq]` flattened). Logits `[batch, num_choices]`; the
    /// cross-entropy loss when `labels` `[batch]` (the right choice) are given.
    pub fn forward(
        &self,
        input: &BertInput,
        num_choices: usize,
        labels: Option<Tensor<1, Int>>,
        options: OutputOptions,
    ) -> ClassifierOutput {
        let encoder = self.bert.forward(input, options);
        let pooled = encoder
            .pooler_output
            .clone()
            .expect("multiple choice has a pooler");
        let rows = pooled.dims()[0];
        let logits = self
            .classifier
            .forward(dropout(&self.dropout, pooled))
            .reshape([rows / num_choices.max(1), num_choices.max(1)]);
        let loss = labels.map(|labels| cross_entropy(logits.clone(), labels, -100, None));
        ClassifierOutput {
            logits,
            loss,
            encoder,
        }
    }
}

/// Per-token logits and the loss.
#[derive(Debug, Clone)]
pub struct TokenClassifierOutput {
    /// `[batch, seq, num_labels]`.
    pub logits: Tensor<3>,
    /// Mean cross-entropy over positions that are not padding and not labelled -100.
    pub loss: Option<Tensor<1>>,
    /// The encoder's output.
    pub encoder: BertOutput,
}

/// BERT with a classifier on every token (NER and other tagging), no pooler.
#[derive(Module, Debug)]
pub struct BertForTokenClassification {
    /// `bert`.
    pub bert: BertModel,
    /// `classifier`.
    pub classifier: Linear,
    dropout: Dropout,
}

impl HfModel for BertForTokenClassification {
    const ARCHITECTURE: &'static str = "BertForTokenClassification";
    const BASE_PREFIX: &'static str = "bert.";
    fn build(config: &BertConfig, source: &mut ParamSource) -> Result<Self, LoadError> {
        Ok(BertForTokenClassification {
            bert: BertModel::build(config, source, "bert.", false)?,
            classifier: source.linear("classifier", config.hidden_size, config.num_labels())?,
            dropout: classifier_dropout(config),
        })
    }
    fn hf_tensors(&self) -> HfTensors {
        let mut out = HfTensors::new();
        self.bert.hf_tensors("bert.", &mut out);
        put_linear(&mut out, "classifier", &self.classifier);
        out
    }
}

impl BertForTokenClassification {
    /// Logits for every position; the loss when `labels` `[batch, seq]` are given (-100 and
    /// padded positions are not counted).
    pub fn forward(
        &self,
        input: &BertInput,
        labels: Option<Tensor<2, Int>>,
        options: OutputOptions,
    ) -> TokenClassifierOutput {
        let encoder = self.bert.forward(input, options);
        let logits = self
            .classifier
            .forward(dropout(&self.dropout, encoder.last_hidden_state.clone()));
        let loss = labels.map(|labels| {
            let [batch, seq, n] = logits.dims();
            let keep = input
                .attention_mask
                .clone()
                .map(|m| m.reshape([batch * seq]));
            cross_entropy(
                logits.clone().reshape([batch * seq, n]),
                labels.reshape([batch * seq]),
                -100,
                keep,
            )
        });
        TokenClassifierOutput {
            logits,
            loss,
            encoder,
        }
    }
}

/// Span start and end logits, and the loss.
#[derive(Debug, Clone)]
pub struct QuestionAnsweringOutput {
    /// `[batch, seq]`.
    pub start_logits: Tensor<2>,
    /// `[batch, seq]`.
    pub end_logits: Tensor<2>,
    /// Mean of the start and end cross-entropies; positions outside the sequence are clamped
    /// to its length and ignored, as transformers does.
    pub loss: Option<Tensor<1>>,
    /// The encoder's output.
    pub encoder: BertOutput,
}

/// BERT with the extractive QA head (`qa_outputs`: hidden -> 2), no pooler.
#[derive(Module, Debug)]
pub struct BertForQuestionAnswering {
    /// `bert`.
    pub bert: BertModel,
    /// `qa_outputs`.
    pub qa_outputs: Linear,
}

impl HfModel for BertForQuestionAnswering {
    const ARCHITECTURE: &'static str = "BertForQuestionAnswering";
    const BASE_PREFIX: &'static str = "bert.";
    fn build(config: &BertConfig, source: &mut ParamSource) -> Result<Self, LoadError> {
        Ok(BertForQuestionAnswering {
            bert: BertModel::build(config, source, "bert.", false)?,
            qa_outputs: source.linear("qa_outputs", config.hidden_size, 2)?,
        })
    }
    fn hf_tensors(&self) -> HfTensors {
        let mut out = HfTensors::new();
        self.bert.hf_tensors("bert.", &mut out);
        put_linear(&mut out, "qa_outputs", &self.qa_outputs);
        out
    }
}

impl BertForQuestionAnswering {
    /// Start and end logits; the loss when `(start_positions, end_positions)` `[batch]` are
    /// given.
    pub fn forward(
        &self,
        input: &BertInput,
        positions: Option<(Tensor<1, Int>, Tensor<1, Int>)>,
        options: OutputOptions,
    ) -> QuestionAnsweringOutput {
        let encoder = self.bert.forward(input, options);
        let logits = self.qa_outputs.forward(encoder.last_hidden_state.clone());
        let [batch, seq, _] = logits.dims();
        let start_logits = logits.clone().narrow(2, 0, 1).reshape([batch, seq]);
        let end_logits = logits.narrow(2, 1, 1).reshape([batch, seq]);
        let loss = positions.map(|(starts, ends)| {
            let ignored = seq as i64;
            let start = cross_entropy(
                start_logits.clone(),
                starts.clamp(0, ignored),
                ignored,
                None,
            );
            let end = cross_entropy(end_logits.clone(), ends.clamp(0, ignored), ignored, None);
            (start + end).div_scalar(2.0)
        });
        QuestionAnsweringOutput {
            start_logits,
            end_logits,
            loss,
            encoder,
        }
    }
}
