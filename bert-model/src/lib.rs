//! `bert-model`: the backend-independent BERT encoder, its task heads and HF weight I/O.
//!
//! This crate is the bottom of the workspace (`bert-model` <- `bert-data` <- `bert-train`).
//! - [`BertConfig`]: a Hugging Face `config.json`, validated.
//! - [`BertModel`] and the heads ([`BertForMaskedLM`], [`BertForNextSentencePrediction`],
//!   [`BertForPreTraining`], [`BertForSequenceClassification`], [`BertForMultipleChoice`],
//!   [`BertForTokenClassification`], [`BertForQuestionAnswering`]): one model code for every
//!   Burn device, parameters named as in transformers.
//! - [`from_pretrained`] / [`save_pretrained`]: HF directories (safetensors, sharded, torch
//!   `.bin`, 2019 names, f16/bf16) and hub ids in the HF cache.
//! - [`parse_device`]: `cpu`, `ndarray`, `flex`, `wgpu`, `tch`, `tch-cuda:N`, `cuda:N`.

#![warn(missing_docs)]

pub mod atomic;
pub mod config;
pub mod device;
pub mod dropout;
pub mod gelu;
pub mod heads;
mod host;
mod labelled;
pub mod layer_norm;
pub mod loss;
pub mod model;
mod packing;
pub mod params;
pub mod pretrained;
pub mod rng;
pub mod softmax;
pub mod torch_rng;
pub mod weights;

pub use burn;
pub use config::{BertConfig, ConfigError, HiddenAct};
pub use device::{compiled_backends, parse_device, DeviceError};
pub use heads::{
    BertForMaskedLM, BertForMultipleChoice, BertForNextSentencePrediction, BertForPreTraining,
    BertForQuestionAnswering, BertForSequenceClassification, BertForTokenClassification,
    ClassifierOutput, HfModel, MaskedLmOutput, PreTrainingOutput, ProblemType,
    QuestionAnsweringOutput, SequenceLabels, TokenClassifierOutput,
};
pub use labelled::{LabelledLogits, MaskedLmRows, PreTrainingRows};
pub use model::{BertInput, BertModel, BertOutput, OutputOptions};
pub use params::{host_values, HfTensors, LoadError, LoadReport, ParamSource};
pub use pretrained::{
    from_checkpoint, from_pretrained, resolve_model_dir, save_pretrained, write_text_atomically,
    Pretrained, PretrainedError,
};
pub use weights::{write_safetensors, Checkpoint, StoredDType, StoredTensor, WeightsError};
