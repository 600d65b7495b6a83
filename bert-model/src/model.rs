//! The BERT encoder (Devlin et al. 2019, section 3): embeddings, a stack of post-LayerNorm
//! transformer layers, and the pooler. Field names follow transformers' module names, so that
//! each parameter maps 1:1 to an HF tensor name (see [`BertModel::hf_tensors`]).

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, LayerNorm, Linear};
use burn::prelude::{Bool, Device, Int, Tensor, TensorData};
use burn::tensor::activation;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

use crate::config::{BertConfig, HiddenAct};
use crate::dropout::dropout;
use crate::gelu::gelu;
use crate::layer_norm::layer_norm;
use crate::packing::Packing;
use crate::params::{put_embedding, put_layer_norm, put_linear, HfTensors, LoadError, ParamSource};
use crate::softmax::softmax;

/// A batch of token sequences, all `[batch, seq]` on the model's device.
#[derive(Debug, Clone)]
pub struct BertInput {
    /// Token ids.
    pub input_ids: Tensor<2, Int>,
    /// 1 for real tokens, 0 for padding. `None`: every position is real.
    pub attention_mask: Option<Tensor<2, Int>>,
    /// Segment ids (0 for the first text, 1 for the pair). `None`: all 0.
    pub token_type_ids: Option<Tensor<2, Int>>,
}

impl BertInput {
    /// Builds a batch from host rows, padded with `pad_id` to the longest row. Each row is
    /// (ids, token type ids); the attention mask marks the real positions.
    pub fn from_rows(rows: &[(Vec<u32>, Vec<u32>)], pad_id: u32, device: &Device) -> Self {
        let batch = rows.len();
        let seq = rows
            .iter()
            .map(|(ids, _)| ids.len())
            .max()
            .unwrap_or(0)
            .max(1);
        let mut ids = vec![pad_id as i64; batch * seq];
        let mut types = vec![0i64; batch * seq];
        let mut mask = vec![0i64; batch * seq];
        for (r, (row_ids, row_types)) in rows.iter().enumerate() {
            for (c, &id) in row_ids.iter().enumerate() {
                ids[r * seq + c] = id as i64;
                types[r * seq + c] = row_types.get(c).copied().unwrap_or(0) as i64;
                mask[r * seq + c] = 1;
            }
        }
        let make =
            |values: Vec<i64>| Tensor::from_data(TensorData::new(values, [batch, seq]), device);
        BertInput {
            input_ids: make(ids),
            attention_mask: Some(make(mask)),
            token_type_ids: Some(make(types)),
        }
    }

    /// Batch size and sequence length.
    pub fn dims(&self) -> [usize; 2] {
        self.input_ids.dims()
    }
}

/// What the encoder returns.
#[derive(Debug, Clone)]
pub struct BertOutput {
    /// The last layer's hidden states, `[batch, seq, hidden]`.
    pub last_hidden_state: Tensor<3>,
    /// `tanh(dense(hidden[CLS]))`, `[batch, hidden]`; `None` for models without a pooler.
    pub pooler_output: Option<Tensor<2>>,
    /// When asked for: the embeddings output and every layer's output (`num_hidden_layers + 1`
    /// tensors, `[batch, seq, hidden]`), the original code's `encoded_layers`.
    pub hidden_states: Option<Vec<Tensor<3>>>,
    /// When asked for: every layer's attention probabilities, `[batch, heads, seq, seq]`.
    pub attentions: Option<Vec<Tensor<4>>>,
}

/// Optional outputs of a forward pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutputOptions {
    /// Return every layer's hidden states.
    pub hidden_states: bool,
    /// Return every layer's attention probabilities.
    pub attentions: bool,
    /// Run the per-token layers on the real tokens only (see the `packing` module): faster on
    /// padded batches, the same values at real positions, but zeros instead of transformers'
    /// values at padded ones. For tasks whose outputs at padding are never used.
    pub skip_padding: bool,
}

impl OutputOptions {
    /// No optional outputs, and the padding skipped (see [`OutputOptions::skip_padding`]): what
    /// training, evaluation and inference of a task use when they never read padded positions.
    pub fn skipping_padding() -> Self {
        OutputOptions {
            skip_padding: true,
            ..OutputOptions::default()
        }
    }
}

/// An activation named by `hidden_act`.
#[derive(Module, Debug)]
pub struct Activation {
    #[module(skip)]
    kind: HiddenAct,
}

impl Activation {
    /// The activation `hidden_act` names.
    pub fn new(kind: HiddenAct) -> Self {
        Activation { kind }
    }

    /// Applies the activation.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self.kind {
            HiddenAct::Gelu => gelu(x),
            HiddenAct::GeluNew | HiddenAct::GeluPytorchTanh => activation::gelu_approximate(x),
            HiddenAct::Relu => activation::relu(x),
            HiddenAct::Silu => activation::silu(x),
        }
    }
}

/// Word, position and token-type embeddings, summed, then LayerNorm and dropout.
#[derive(Module, Debug)]
pub struct BertEmbeddings {
    /// `embeddings.word_embeddings`.
    pub word_embeddings: Embedding,
    /// `embeddings.position_embeddings`.
    pub position_embeddings: Embedding,
    /// `embeddings.token_type_embeddings`.
    pub token_type_embeddings: Embedding,
    /// `embeddings.LayerNorm`.
    pub layer_norm: LayerNorm,
    layer_norm_eps: f64,
    dropout: Dropout,
    pad_token_id: usize,
}

impl BertEmbeddings {
    fn build(
        config: &BertConfig,
        source: &mut ParamSource,
        prefix: &str,
    ) -> Result<Self, LoadError> {
        let h = config.hidden_size;
        Ok(BertEmbeddings {
            word_embeddings: source.embedding(
                &format!("{prefix}word_embeddings"),
                config.vocab_size,
                h,
                Some(config.pad_token_id),
            )?,
            position_embeddings: source.embedding(
                &format!("{prefix}position_embeddings"),
                config.max_position_embeddings,
                h,
                None,
            )?,
            token_type_embeddings: source.embedding(
                &format!("{prefix}token_type_embeddings"),
                config.type_vocab_size,
                h,
                None,
            )?,
            layer_norm: source.layer_norm(
                &format!("{prefix}LayerNorm"),
                h,
                config.layer_norm_eps,
            )?,
            layer_norm_eps: config.layer_norm_eps,
            dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
            pad_token_id: config.pad_token_id,
        })
    }

    /// The word embeddings of `ids`. As in transformers (`nn.Embedding(padding_idx=...)`), the
    /// `[PAD]` row takes no gradient from its lookups: where padded positions reach the loss
    /// (the question-answering head's softmax runs over them) it stays as loaded.
    fn words(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        let words = self.word_embeddings.forward(ids.clone());
        if !ids.device().is_autodiff() {
            return words;
        }
        let [batch, seq, hidden] = words.dims();
        let padded = ids
            .equal_elem(self.pad_token_id as i64)
            .reshape([batch, seq, 1])
            .expand([batch, seq, hidden]);
        words.clone().mask_where(padded, words.detach())
    }

    fn forward(&self, input: &BertInput) -> Tensor<3> {
        let [batch, seq] = input.dims();
        let device = input.input_ids.device();
        let positions = Tensor::<1, Int>::arange(0..seq as i64, &device)
            .reshape([1, seq])
            .expand([batch, seq]);
        let types = input
            .token_type_ids
            .clone()
            .unwrap_or_else(|| Tensor::zeros([batch, seq], &device));
        let x = self.words(input.input_ids.clone())
            + self.position_embeddings.forward(positions)
            + self.token_type_embeddings.forward(types);
        dropout(
            &self.dropout,
            layer_norm(&self.layer_norm, self.layer_norm_eps, x),
        )
    }
}

/// Multi-head scaled dot-product self-attention (`attention.self`).
#[derive(Module, Debug)]
pub struct BertSelfAttention {
    /// `query`.
    pub query: Linear,
    /// `key`.
    pub key: Linear,
    /// `value`.
    pub value: Linear,
    dropout: Dropout,
    num_heads: usize,
    head_size: usize,
}

/// How the layers attend: the decomposed product, whose probabilities can be returned and take
/// dropout (training, or when `attentions` are asked for), or the backend's fused kernel
/// (inference: one pass over the scores, none kept).
#[derive(Clone, Debug)]
enum Attend {
    /// Scores plus the additive mask bias `[batch, 1, 1, seq]`, softmax, dropout, product.
    Decomposed(Option<Tensor<4>>),
    /// `burn::tensor::module::attention` with the padding mask `[batch, 1, seq, seq]` (true:
    /// masked out).
    Fused(Option<Tensor<4, Bool>>),
}

impl Attend {
    /// Fused where nothing needs the probabilities, no gradient flows and the backend is
    /// burn-flex (see [`fused_attention_on`]).
    fn new(mask: Option<&Tensor<2, Int>>, device: &Device, keep_probs: bool) -> Self {
        if keep_probs || device.is_autodiff() || !fused_attention_on(device) {
            return Attend::Decomposed(mask.cloned().map(mask_bias));
        }
        Attend::Fused(mask.map(|mask| {
            let [batch, seq] = mask.dims();
            mask.clone()
                .equal_elem(0)
                .reshape([batch, 1, 1, seq])
                .expand([batch, 1, seq, seq])
        }))
    }
}

/// Whether inference uses Burn's fused attention on `device`: on burn-flex only, where it is
/// measured faster (`experiments/model-bench/`) and checked against transformers. burn-tch
/// 0.22.1 hands Burn's boolean mask (true: masked out) to torch's
/// `scaled_dot_product_attention`, for which true means "attend", so a padding mask would be
/// inverted there; the CubeCL backends were not measured.
fn fused_attention_on(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    return *device == Device::flex();
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

impl BertSelfAttention {
    /// `x`: `[batch * seq, hidden]`, the rows of `dims` = `[batch, seq]`, or the real tokens'
    /// rows only when `packing` is given. Returns the context (the same rows as `x`) and, on the
    /// decomposed path, the probabilities `[batch, heads, seq, seq]`.
    fn forward(
        &self,
        x: Tensor<2>,
        [batch, seq]: [usize; 2],
        attend: &Attend,
        packing: Option<&Packing>,
    ) -> (Tensor<2>, Option<Tensor<4>>) {
        let hidden = x.dims()[1];
        let split = |t: Tensor<2>| {
            let t = match packing {
                Some(packing) => packing.unpack(t),
                None => t,
            };
            t.reshape([batch, seq, self.num_heads, self.head_size])
                .swap_dims(1, 2)
        };
        let q = split(self.query.forward(x.clone()));
        let k = split(self.key.forward(x.clone()));
        let v = split(self.value.forward(x));
        let merge = |t: Tensor<4>| {
            let t = t.swap_dims(1, 2).reshape([batch * seq, hidden]);
            match packing {
                Some(packing) => packing.pack(t),
                None => t,
            }
        };
        match attend {
            Attend::Fused(mask) => {
                let options = AttentionModuleOptions::default();
                let context = attention(q, k, v, mask.clone(), None, options);
                (merge(context), None)
            }
            Attend::Decomposed(bias) => {
                let scale = 1.0 / (self.head_size as f64).sqrt();
                let mut scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(scale);
                if let Some(bias) = bias {
                    scores = scores + bias.clone();
                }
                let probs = softmax(scores);
                let context = dropout(&self.dropout, probs.clone()).matmul(v);
                (merge(context), Some(probs))
            }
        }
    }
}

/// One encoder layer: self-attention, then the feed-forward block, each followed by dropout,
/// the residual connection and LayerNorm (post-norm, as in BERT).
#[derive(Module, Debug)]
pub struct BertLayer {
    /// `attention.self`.
    pub attention: BertSelfAttention,
    /// `attention.output.dense`.
    pub attention_output: Linear,
    /// `attention.output.LayerNorm`.
    pub attention_layer_norm: LayerNorm,
    /// `intermediate.dense`.
    pub intermediate: Linear,
    /// `output.dense`.
    pub output: Linear,
    /// `output.LayerNorm`.
    pub output_layer_norm: LayerNorm,
    layer_norm_eps: f64,
    activation: Activation,
    dropout: Dropout,
}

impl BertLayer {
    fn build(
        config: &BertConfig,
        source: &mut ParamSource,
        prefix: &str,
    ) -> Result<Self, LoadError> {
        let h = config.hidden_size;
        let eps = config.layer_norm_eps;
        let attention_dropout = DropoutConfig::new(config.attention_probs_dropout_prob).init();
        Ok(BertLayer {
            attention: BertSelfAttention {
                query: source.linear(&format!("{prefix}attention.self.query"), h, h)?,
                key: source.linear(&format!("{prefix}attention.self.key"), h, h)?,
                value: source.linear(&format!("{prefix}attention.self.value"), h, h)?,
                dropout: attention_dropout,
                num_heads: config.num_attention_heads,
                head_size: config.head_size(),
            },
            attention_output: source.linear(&format!("{prefix}attention.output.dense"), h, h)?,
            attention_layer_norm: source.layer_norm(
                &format!("{prefix}attention.output.LayerNorm"),
                h,
                eps,
            )?,
            intermediate: source.linear(
                &format!("{prefix}intermediate.dense"),
                h,
                config.intermediate_size,
            )?,
            output: source.linear(
                &format!("{prefix}output.dense"),
                config.intermediate_size,
                h,
            )?,
            output_layer_norm: source.layer_norm(&format!("{prefix}output.LayerNorm"), h, eps)?,
            layer_norm_eps: eps,
            activation: Activation::new(config.hidden_act),
            dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
        })
    }

    /// `x`: `[batch * seq, hidden]` or the real tokens' rows (see
    /// [`BertSelfAttention::forward`]).
    fn forward(
        &self,
        x: Tensor<2>,
        dims: [usize; 2],
        attend: &Attend,
        packing: Option<&Packing>,
    ) -> (Tensor<2>, Option<Tensor<4>>) {
        let (context, probs) = self.attention.forward(x.clone(), dims, attend, packing);
        let eps = self.layer_norm_eps;
        let attended = layer_norm(
            &self.attention_layer_norm,
            eps,
            dropout(&self.dropout, self.attention_output.forward(context)) + x,
        );
        let inner = self
            .activation
            .forward(self.intermediate.forward(attended.clone()));
        let out = layer_norm(
            &self.output_layer_norm,
            eps,
            dropout(&self.dropout, self.output.forward(inner)) + attended,
        );
        (out, probs)
    }
}

/// The BERT encoder: embeddings, `num_hidden_layers` layers and (optionally) the pooler.
#[derive(Module, Debug)]
pub struct BertModel {
    /// `embeddings`.
    pub embeddings: BertEmbeddings,
    /// `encoder.layer.N`.
    pub layers: Vec<BertLayer>,
    /// `pooler.dense`; absent in MLM, token classification and QA models, as in transformers.
    pub pooler: Option<Linear>,
}

impl BertModel {
    /// Builds the encoder from `source`, under names starting with `prefix` (`"bert."` inside
    /// a head model, `""` alone).
    pub fn build(
        config: &BertConfig,
        source: &mut ParamSource,
        prefix: &str,
        with_pooler: bool,
    ) -> Result<Self, LoadError> {
        let embeddings = BertEmbeddings::build(config, source, &format!("{prefix}embeddings."))?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| BertLayer::build(config, source, &format!("{prefix}encoder.layer.{i}.")))
            .collect::<Result<Vec<_>, _>>()?;
        let pooler = if with_pooler {
            let h = config.hidden_size;
            Some(source.linear(&format!("{prefix}pooler.dense"), h, h)?)
        } else {
            None
        };
        Ok(BertModel {
            embeddings,
            layers,
            pooler,
        })
    }

    /// A new encoder with transformers' initialisation, from `seed`.
    pub fn new(config: &BertConfig, device: &Device, seed: u64) -> Self {
        let mut source = ParamSource::random(device, config.initializer_range, seed);
        Self::build(config, &mut source, "", true).expect("random initialisation cannot fail")
    }

    /// Runs the encoder.
    pub fn forward(&self, input: &BertInput, options: OutputOptions) -> BertOutput {
        let device = input.input_ids.device();
        let attend = Attend::new(input.attention_mask.as_ref(), &device, options.attentions);
        let [batch, seq] = input.dims();
        let embedded = self.embeddings.forward(input);
        let hidden = embedded.dims()[2];
        // The layers work on `[batch * seq, hidden]`: every dense layer is then one matmul
        // over all tokens, which the CPU backend runs faster than `batch` matmuls of `seq`
        // rows each.
        // With `skip_padding`, they work on the real tokens' rows only.
        let packing = options
            .skip_padding
            .then(|| input.attention_mask.as_ref().and_then(Packing::from_mask))
            .flatten();
        let unflatten = |x: &Tensor<2>| {
            let x = match &packing {
                Some(packing) => packing.unpack(x.clone()),
                None => x.clone(),
            };
            x.reshape([batch, seq, hidden])
        };
        let mut hidden_states = options.hidden_states.then(|| vec![embedded.clone()]);
        let mut x = embedded.reshape([batch * seq, hidden]);
        if let Some(packing) = &packing {
            x = packing.pack(x);
        }
        let mut attentions = options.attentions.then(Vec::new);
        for layer in &self.layers {
            let (out, probs) = layer.forward(x, [batch, seq], &attend, packing.as_ref());
            x = out;
            if let Some(states) = hidden_states.as_mut() {
                states.push(unflatten(&x));
            }
            if let (Some(all), Some(probs)) = (attentions.as_mut(), probs) {
                all.push(probs);
            }
        }
        let last_hidden_state = unflatten(&x);
        let pooler_output = self.pooler.as_ref().map(|dense| {
            let first = last_hidden_state
                .clone()
                .narrow(1, 0, 1)
                .reshape([batch, hidden]);
            activation::tanh(dense.forward(first))
        });
        BertOutput {
            last_hidden_state,
            pooler_output,
            hidden_states,
            attentions,
        }
    }
}

/// `[batch, seq]` 1/0 mask to the additive `[batch, 1, 1, seq]` bias: 0 where attended, the
/// most negative finite f32 where masked (so a fully masked row gives no NaN).
fn mask_bias(mask: Tensor<2, Int>) -> Tensor<4> {
    let [batch, seq] = mask.dims();
    let masked: Tensor<2, Bool> = mask.equal_elem(0);
    let zeros = Tensor::<2>::zeros([batch, seq], &masked.device());
    zeros
        .mask_fill(masked, f32::MIN)
        .reshape([batch, 1, 1, seq])
}

impl BertModel {
    /// Every parameter under its HF name, with `prefix` (`"bert."` inside a head model).
    pub fn hf_tensors(&self, prefix: &str, out: &mut HfTensors) {
        let e = &self.embeddings;
        put_embedding(
            out,
            &format!("{prefix}embeddings.word_embeddings"),
            &e.word_embeddings,
        );
        put_embedding(
            out,
            &format!("{prefix}embeddings.position_embeddings"),
            &e.position_embeddings,
        );
        put_embedding(
            out,
            &format!("{prefix}embeddings.token_type_embeddings"),
            &e.token_type_embeddings,
        );
        put_layer_norm(out, &format!("{prefix}embeddings.LayerNorm"), &e.layer_norm);
        for (i, layer) in self.layers.iter().enumerate() {
            let p = format!("{prefix}encoder.layer.{i}.");
            put_linear(
                out,
                &format!("{p}attention.self.query"),
                &layer.attention.query,
            );
            put_linear(out, &format!("{p}attention.self.key"), &layer.attention.key);
            put_linear(
                out,
                &format!("{p}attention.self.value"),
                &layer.attention.value,
            );
            put_linear(
                out,
                &format!("{p}attention.output.dense"),
                &layer.attention_output,
            );
            put_layer_norm(
                out,
                &format!("{p}attention.output.LayerNorm"),
                &layer.attention_layer_norm,
            );
            put_linear(out, &format!("{p}intermediate.dense"), &layer.intermediate);
            put_linear(out, &format!("{p}output.dense"), &layer.output);
            put_layer_norm(
                out,
                &format!("{p}output.LayerNorm"),
                &layer.output_layer_norm,
            );
        }
        if let Some(pooler) = &self.pooler {
            put_linear(out, &format!("{prefix}pooler.dense"), pooler);
        }
    }
}
