//! Gradients and weights between ranks: one flat f32 buffer per exchange, in the module's
//! parameter order (the same on every rank, since every rank builds the same model).

use bert_model::burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use bert_model::burn::prelude::{Device, Tensor, TensorData};
use burn::optim::GradientsParams;
use sha2::{Digest, Sha256};

use super::{DistributedError, Ranks};

/// One parameter's place in the flat buffer.
struct Slot {
    /// Elements.
    len: usize,
    shape: Vec<usize>,
    device: Device,
}

/// The parameters' gradients of one rank laid end to end, then one presence flag per
/// parameter (1 where this rank has a gradient).
struct Flat {
    slots: Vec<Slot>,
    values: Vec<f32>,
}

impl Flat {
    /// Takes the gradients out of `grads`, in `module`'s parameter order (zeros where this
    /// rank has none: a rank whose share of a step was empty has none at all).
    fn take<M: Module>(module: &M, grads: &mut GradientsParams) -> Flat {
        struct Take<'a> {
            grads: &'a mut GradientsParams,
            flags: Vec<f32>,
            slots: Vec<Slot>,
            values: Vec<f32>,
        }
        impl ModuleVisitor for Take<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let shape = param.val().dims().to_vec();
                let len = shape.iter().product();
                let device = match self.grads.remove::<D>(param.id) {
                    Some(g) => {
                        let device = g.device();
                        let data = g.into_data().convert::<f32>();
                        let values = data.as_slice::<f32>().expect("f32 gradients");
                        self.values.extend_from_slice(values);
                        self.flags.push(1.0);
                        device
                    }
                    None => {
                        self.values.resize(self.values.len() + len, 0.0);
                        self.flags.push(0.0);
                        param.val().device().without_autodiff()
                    }
                };
                self.slots.push(Slot { len, shape, device });
            }
        }
        let total = module.num_params();
        let mut take = Take {
            grads,
            flags: Vec::new(),
            slots: Vec::new(),
            values: Vec::with_capacity(total + 1024),
        };
        module.visit(&mut take);
        take.values.extend_from_slice(&take.flags);
        Flat {
            slots: take.slots,
            values: take.values,
        }
    }

    /// The gradients of every parameter that some rank had one for.
    fn into_grads<M: Module>(self, module: &M) -> GradientsParams {
        struct Give<'a> {
            flat: &'a Flat,
            flags: usize,
            next: usize,
            offset: usize,
            grads: GradientsParams,
        }
        impl ModuleVisitor for Give<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let (k, slot) = (self.next, &self.flat.slots[self.next]);
                let range = self.offset..self.offset + slot.len;
                self.next += 1;
                self.offset += slot.len;
                if self.flat.values[self.flags + k] > 0.0 {
                    let data =
                        TensorData::new(self.flat.values[range].to_vec(), slot.shape.clone());
                    let grad = Tensor::<D>::from_data(data, &slot.device);
                    self.grads.register::<D>(param.id, grad);
                }
            }
        }
        let mut give = Give {
            flags: self.values.len() - self.slots.len(),
            flat: &self,
            next: 0,
            offset: 0,
            grads: GradientsParams::new(),
        };
        module.visit(&mut give);
        give.grads
    }
}

impl Ranks {
    /// Sums every rank's gradients of `module` (one flat buffer, exchanged in pieces); the
    /// result is the same on every rank. A world of one returns `grads` untouched.
    pub fn all_reduce_gradients<M: Module>(
        &self,
        module: &M,
        mut grads: GradientsParams,
    ) -> GradientsParams {
        if self.world_size() == 1 {
            return grads;
        }
        let mut flat = Flat::take(module, &mut grads);
        self.sum_f32(&mut flat.values);
        flat.into_grads(module)
    }

    /// `module` with rank `root`'s weights on every rank.
    pub fn broadcast_module<M: Module>(&self, module: M, root: usize) -> M {
        if self.world_size() == 1 {
            return module;
        }
        let bytes = self.broadcast_bytes(weight_bytes(&module), root);
        struct Load<'a> {
            bytes: &'a [u8],
            offset: usize,
        }
        impl ModuleMapper for Load<'_> {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let (id, tensor, mapper) = param.consume();
                let shape = tensor.dims().to_vec();
                let len: usize = shape.iter().product();
                let end = self.offset + len * 4;
                let values = self.bytes[self.offset..end]
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect::<Vec<f32>>();
                self.offset = end;
                let device = tensor.device();
                let loaded = Tensor::<D>::from_data(TensorData::new(values, shape), &device);
                let loaded = match tensor.is_require_grad() {
                    true => loaded.require_grad(),
                    false => loaded,
                };
                Param::from_mapped_value(id, loaded, mapper)
            }
        }
        module.map(&mut Load {
            bytes: &bytes,
            offset: 0,
        })
    }

    /// Checks that every rank holds the same weights (SHA-256 of them, gathered); the
    /// digests in rank order.
    pub fn check_same_weights<M: Module>(
        &self,
        module: &M,
    ) -> Result<Vec<String>, DistributedError> {
        let digest = weights_digest(module);
        let all = self.all_gather(&digest);
        let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let digests: Vec<String> = all.iter().map(|d| hex(d)).collect();
        if let Some(rank) = digests.iter().position(|d| *d != digests[0]) {
            return Err(DistributedError::Disagree(format!(
                "the weights of rank {rank} differ from those of rank 0 (SHA-256 {} against {})",
                digests[rank], digests[0]
            )));
        }
        Ok(digests)
    }
}

/// Every float parameter of `module` as little-endian f32 bytes, in visiting order.
fn weight_bytes<M: Module>(module: &M) -> Vec<u8> {
    struct Bytes(Vec<u8>);
    impl ModuleVisitor for Bytes {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let data = param.val().into_data().convert::<f32>();
            let values = data.as_slice::<f32>().expect("f32 weights");
            self.0.reserve(values.len() * 4);
            for v in values {
                self.0.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    let mut bytes = Bytes(Vec::new());
    module.visit(&mut bytes);
    bytes.0
}

/// SHA-256 of every float parameter of `module` (f32, little-endian, in visiting order): equal
/// digests mean bit-identical weights.
pub fn weights_digest<M: Module>(module: &M) -> [u8; 32] {
    Sha256::digest(weight_bytes(module)).into()
}
