//! Building modules from a checkpoint, tensor by tensor, under transformers' names.
//!
//! Every module of this crate is constructed through a [`ParamSource`]: it asks for each
//! parameter by its HF name (`bert.encoder.layer.0.attention.self.query.weight`) and shape, and
//! gets the checkpoint's values, or HF's initialisation when the checkpoint lacks the tensor
//! (or when there is no checkpoint at all). The source records what it loaded, what it
//! initialised and what the checkpoint held that nothing asked for.
//!
//! Name matching follows transformers: 2019 `LayerNorm.gamma` / `LayerNorm.beta` read as
//! `weight` / `bias`; a checkpoint of a bare encoder (no `bert.` prefix) loads into a head
//! model and a head checkpoint loads into a bare encoder; the tied MLM decoder weight and the
//! `position_ids` buffer are accepted and ignored.

use std::collections::{BTreeMap, BTreeSet};

use burn::module::Param;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::{Device, Tensor, TensorData};

use crate::torch_rng::TorchGenerator;
use crate::weights::{Checkpoint, WeightsError};

/// What can go wrong while building a model from a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The checkpoint's MLM decoder is not the word-embedding matrix (an untied decoder).
    #[error(
        "`{name}` in {path} differs from the word embeddings (largest difference {difference}): \
         untied masked-LM decoders are not supported"
    )]
    Untied {
        /// The decoder tensor's name.
        name: String,
        /// The file.
        path: String,
        /// The largest absolute difference.
        difference: f32,
    },
    /// A checkpoint tensor has the wrong shape for the configuration.
    #[error(
        "tensor `{name}` has shape {found:?} in {path}, but the configuration needs {expected:?}"
    )]
    Shape {
        /// The HF name.
        name: String,
        /// The file.
        path: String,
        /// The shape the model needs.
        expected: Vec<usize>,
        /// The shape the file holds.
        found: Vec<usize>,
    },
    /// Reading the checkpoint failed.
    #[error(transparent)]
    Weights(#[from] WeightsError),
}

/// What loading a checkpoint did, tensor by tensor (HF names).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LoadReport {
    /// Tensors read from the checkpoint.
    pub loaded: Vec<String>,
    /// Checkpoint tensors accepted without being loaded: the tied MLM decoder (checked equal to
    /// the word embeddings) and buffers transformers recomputes (`position_ids`).
    pub tied_or_buffers: Vec<String>,
    /// Tensors the checkpoint lacked, initialised as transformers does (a new head).
    pub initialized: Vec<String>,
    /// Checkpoint tensors nothing used (for example the MLM head of a checkpoint loaded into a
    /// classifier), under the names the file gives them.
    pub unused: Vec<String>,
}

impl LoadReport {
    /// A one-paragraph summary for logs.
    pub fn summary(&self) -> String {
        let mut text = format!("loaded {} tensors", self.loaded.len());
        if !self.initialized.is_empty() {
            text.push_str(&format!(
                "; newly initialised (not in the checkpoint): {}",
                self.initialized.join(", ")
            ));
        }
        if !self.unused.is_empty() {
            text.push_str(&format!(
                "; unused checkpoint tensors: {}",
                self.unused.join(", ")
            ));
        }
        text
    }
}

/// How a missing parameter is initialised (transformers' `_init_weights` for BERT).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Init {
    /// Normal(0, initializer_range).
    Normal,
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
}

/// Where parameters come from: a checkpoint, HF initialisation, or both.
pub struct ParamSource<'a> {
    device: Device,
    checkpoint: Option<&'a Checkpoint>,
    /// Checkpoint keys after renaming (gamma/beta, prefix) -> the key in the file.
    names: BTreeMap<String, String>,
    used: BTreeSet<String>,
    init_std: f64,
    rng: TorchGenerator,
    report: LoadReport,
}

impl<'a> ParamSource<'a> {
    /// Random initialisation only: every parameter as transformers initialises a new model,
    /// drawn tensor by tensor in construction order from PyTorch's generator seeded with `seed`
    /// (the same values on every device; the distributions of transformers' `from_config`, not
    /// its values, which depend on the order torch builds modules in).
    pub fn random(device: &Device, initializer_range: f64, seed: u64) -> Self {
        ParamSource {
            device: device.clone(),
            checkpoint: None,
            names: BTreeMap::new(),
            used: BTreeSet::new(),
            init_std: initializer_range,
            rng: TorchGenerator::new(seed),
            report: LoadReport::default(),
        }
    }

    /// Parameters from `checkpoint`, for a model whose own names start with `base_prefix`
    /// (`"bert."` for a head model, `""` for a bare encoder). Tensors the checkpoint lacks are
    /// initialised from PyTorch's generator seeded with `seed`, in construction order: a new
    /// head gets the values transformers gives it after `set_seed(seed)` and `from_pretrained`.
    pub fn checkpoint(
        device: &Device,
        checkpoint: &'a Checkpoint,
        base_prefix: &str,
        initializer_range: f64,
        seed: u64,
    ) -> Self {
        let has_prefix = checkpoint.tensors.keys().any(|k| k.starts_with("bert."));
        let mut names = BTreeMap::new();
        for key in checkpoint.tensors.keys() {
            let mut name = key.clone();
            for (old, new) in [
                ("LayerNorm.gamma", "LayerNorm.weight"),
                ("LayerNorm.beta", "LayerNorm.bias"),
            ] {
                if let Some(stem) = name.strip_suffix(old) {
                    name = format!("{stem}{new}");
                }
            }
            // A head checkpoint read as a bare encoder drops `bert.` (and its heads go unused);
            // a bare encoder read into a head model gains it.
            if base_prefix.is_empty() && has_prefix {
                match name.strip_prefix("bert.") {
                    Some(rest) => name = rest.to_string(),
                    None => name = format!("\u{0}{name}"),
                }
            } else if !base_prefix.is_empty() && !has_prefix && is_encoder_name(&name) {
                name = format!("{base_prefix}{name}");
            }
            names.insert(name, key.clone());
        }
        ParamSource {
            device: device.clone(),
            checkpoint: Some(checkpoint),
            names,
            used: BTreeSet::new(),
            init_std: initializer_range,
            rng: TorchGenerator::new(seed),
            report: LoadReport::default(),
        }
    }

    /// The device the parameters are created on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Ends loading: what was loaded, initialised, and left unused.
    pub fn finish(mut self) -> LoadReport {
        if let Some(checkpoint) = self.checkpoint {
            for key in checkpoint.tensors.keys() {
                if self.used.contains(key) {
                    continue;
                }
                if is_ignored(key) {
                    self.report.tied_or_buffers.push(key.clone());
                    continue;
                }
                self.report.unused.push(key.clone());
            }
        }
        self.report
    }

    /// The values of `name` in row-major order with shape `shape`, from the checkpoint or
    /// initialised.
    pub(crate) fn values(
        &mut self,
        name: &str,
        shape: &[usize],
        init: Init,
    ) -> Result<Vec<f32>, LoadError> {
        if let Some(values) = self.stored(name, shape)? {
            return Ok(values);
        }
        // The MLM output bias also exists as the (tied) decoder bias in some files.
        if name.ends_with("cls.predictions.bias") {
            let alias = name.replace("cls.predictions.bias", "cls.predictions.decoder.bias");
            if let Some(values) = self.stored(&alias, shape)? {
                return Ok(values);
            }
        }
        self.report.initialized.push(name.to_string());
        let count: usize = shape.iter().product();
        Ok(match init {
            Init::Zeros => vec![0.0; count],
            Init::Ones => vec![1.0; count],
            Init::Normal => self.rng.normal_tensor(count, 0.0, self.init_std),
        })
    }

    fn stored(&mut self, name: &str, shape: &[usize]) -> Result<Option<Vec<f32>>, LoadError> {
        let (Some(checkpoint), Some(key)) = (self.checkpoint, self.names.get(name)) else {
            return Ok(None);
        };
        let tensor = &checkpoint.tensors[key];
        if tensor.shape != shape {
            return Err(LoadError::Shape {
                name: key.clone(),
                path: tensor.path.display().to_string(),
                expected: shape.to_vec(),
                found: tensor.shape.clone(),
            });
        }
        let values = tensor.to_f32(key)?;
        self.used.insert(key.clone());
        self.report.loaded.push(name.to_string());
        Ok(Some(values))
    }

    /// A tensor of `shape` on the device.
    pub(crate) fn tensor<const D: usize>(
        &mut self,
        name: &str,
        shape: [usize; D],
        init: Init,
    ) -> Result<Tensor<D>, LoadError> {
        let values = self.values(name, &shape, init)?;
        Ok(Tensor::from_data(
            TensorData::new(values, shape),
            &self.device,
        ))
    }

    /// A `torch.nn.Linear(d_input, d_output)` stored as `{name}.weight` `[d_output, d_input]`
    /// and `{name}.bias`.
    pub(crate) fn linear(
        &mut self,
        name: &str,
        d_input: usize,
        d_output: usize,
    ) -> Result<Linear, LoadError> {
        let weight = self.values(
            &format!("{name}.weight"),
            &[d_output, d_input],
            Init::Normal,
        )?;
        // Burn's row layout holds [d_input, d_output]: transpose once here.
        let transposed = transpose(&weight, d_output, d_input);
        let bias = self.tensor(&format!("{name}.bias"), [d_output], Init::Zeros)?;
        let mut linear = LinearConfig::new(d_input, d_output).init(&self.device);
        linear.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(transposed, [d_input, d_output]),
            &self.device,
        ));
        linear.bias = Some(Param::from_tensor(bias));
        Ok(linear)
    }

    /// A `torch.nn.LayerNorm(d_model, eps)` stored as `{name}.weight` and `{name}.bias`.
    pub(crate) fn layer_norm(
        &mut self,
        name: &str,
        d_model: usize,
        epsilon: f64,
    ) -> Result<LayerNorm, LoadError> {
        let gamma = self.tensor(&format!("{name}.weight"), [d_model], Init::Ones)?;
        let beta = self.tensor(&format!("{name}.bias"), [d_model], Init::Zeros)?;
        let mut norm = LayerNormConfig::new(d_model)
            .with_epsilon(epsilon)
            .init(&self.device);
        norm.gamma = Param::from_tensor(gamma);
        norm.beta = Some(Param::from_tensor(beta));
        Ok(norm)
    }

    /// A `torch.nn.Embedding(count, d_model)` stored as `{name}.weight`; a new one has its
    /// `padding_idx` row zeroed, as transformers does.
    pub(crate) fn embedding(
        &mut self,
        name: &str,
        count: usize,
        d_model: usize,
        padding_idx: Option<usize>,
    ) -> Result<Embedding, LoadError> {
        let key = format!("{name}.weight");
        let fresh = !self.has(&key);
        let mut values = self.values(&key, &[count, d_model], Init::Normal)?;
        if let (true, Some(pad)) = (fresh, padding_idx) {
            if pad < count {
                values[pad * d_model..(pad + 1) * d_model].fill(0.0);
            }
        }
        let mut embedding = EmbeddingConfig::new(count, d_model).init(&self.device);
        embedding.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(values, [count, d_model]),
            &self.device,
        ));
        Ok(embedding)
    }

    /// Checks that a stored tied copy (`cls.predictions.decoder.weight`) equals `tied_to`, the
    /// tensor it is tied to; a missing copy is fine (and costs nothing), a different one an error.
    pub(crate) fn check_tied(&mut self, name: &str, tied_to: &Tensor<2>) -> Result<(), LoadError> {
        let (Some(checkpoint), Some(key)) = (self.checkpoint, self.names.get(name)) else {
            return Ok(());
        };
        let tensor = &checkpoint.tensors[key];
        let stored = tensor.to_f32(key)?;
        let values = host_values(tied_to.clone());
        let difference = if stored.len() == values.len() {
            stored
                .iter()
                .zip(&values)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max)
        } else {
            f32::INFINITY
        };
        if difference > 0.0 {
            return Err(LoadError::Untied {
                name: key.clone(),
                path: tensor.path.display().to_string(),
                difference,
            });
        }
        Ok(())
    }

    fn has(&self, name: &str) -> bool {
        self.checkpoint.is_some() && self.names.contains_key(name)
    }
}

/// Names that belong to the encoder (and so take the `bert.` prefix in a head model).
fn is_encoder_name(name: &str) -> bool {
    ["embeddings.", "encoder.", "pooler."]
        .iter()
        .any(|p| name.starts_with(p))
}

/// Checkpoint tensors that are never reported as unused: buffers transformers recomputes and
/// the MLM decoder, which is tied to the word embeddings.
fn is_ignored(key: &str) -> bool {
    key.ends_with("position_ids")
        || key.ends_with("cls.predictions.decoder.weight")
        || key.ends_with("cls.predictions.decoder.bias")
}

/// Tensors under their HF names, row-major f32 with their shapes: what `save_pretrained` writes.
pub type HfTensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// A tensor's values on the host, row-major f32 (reads the device back).
pub fn host_values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("converted to f32")
}

fn host<const D: usize>(tensor: Tensor<D>) -> (Vec<usize>, Vec<f32>) {
    let shape = tensor.dims().to_vec();
    (shape, host_values(tensor))
}

/// Adds a tensor.
pub(crate) fn put_tensor<const D: usize>(out: &mut HfTensors, name: &str, tensor: Tensor<D>) {
    out.insert(name.to_string(), host(tensor));
}

/// Adds a linear layer as `{name}.weight` `[d_output, d_input]` and `{name}.bias`.
pub(crate) fn put_linear(out: &mut HfTensors, name: &str, linear: &Linear) {
    let (shape, values) = host(linear.weight.val());
    let (d_input, d_output) = (shape[0], shape[1]);
    let mut weight = vec![0.0f32; values.len()];
    for i in 0..d_input {
        for o in 0..d_output {
            weight[o * d_input + i] = values[i * d_output + o];
        }
    }
    out.insert(format!("{name}.weight"), (vec![d_output, d_input], weight));
    if let Some(bias) = &linear.bias {
        put_tensor(out, &format!("{name}.bias"), bias.val());
    }
}

/// Adds a LayerNorm as `{name}.weight` and `{name}.bias`.
pub(crate) fn put_layer_norm(out: &mut HfTensors, name: &str, norm: &LayerNorm) {
    put_tensor(out, &format!("{name}.weight"), norm.gamma.val());
    if let Some(beta) = &norm.beta {
        put_tensor(out, &format!("{name}.bias"), beta.val());
    }
}

/// Adds an embedding table as `{name}.weight`.
pub(crate) fn put_embedding(out: &mut HfTensors, name: &str, embedding: &Embedding) {
    put_tensor(out, &format!("{name}.weight"), embedding.weight.val());
}

/// `values`, a row-major `[rows, cols]` matrix, as `[cols, rows]`; in square tiles, so that
/// reads and writes both stay within a few cache lines.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const TILE: usize = 32;
    let mut out = vec![0.0f32; values.len()];
    for row_start in (0..rows).step_by(TILE) {
        for col_start in (0..cols).step_by(TILE) {
            for r in row_start..(row_start + TILE).min(rows) {
                for c in col_start..(col_start + TILE).min(cols) {
                    out[c * rows + r] = values[r * cols + c];
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::transpose;

    #[test]
    fn transpose_swaps_rows_and_columns_across_tile_edges() {
        for (rows, cols) in [(1, 1), (3, 70), (65, 33), (64, 64)] {
            let values: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let out = transpose(&values, rows, cols);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(
                        out[c * rows + r],
                        values[r * cols + c],
                        "{rows}x{cols} at {r},{c}"
                    );
                }
            }
        }
    }
}
