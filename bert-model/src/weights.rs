//! Reading checkpoint files: safetensors (single or sharded) and torch `pytorch_model.bin`
//! (the zip format of torch >= 1.6 and the older pickle stream), in f32, f16, bf16 or f64.
//!
//! A [`Checkpoint`] maps each tensor name, as the file spells it, to a [`StoredTensor`] whose
//! bytes are read (from a memory map for safetensors) only when asked for, so that opening a
//! BERT-large checkpoint costs nothing until the model takes its tensors one by one.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use safetensors::tensor::{Dtype as SafeDtype, SafeTensors};

/// What can go wrong while reading a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// A file could not be opened or read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A file could not be written (a full disk, no permission).
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A file is not a valid checkpoint of the format its name says.
    #[error("{path} is not a valid {format} file: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// `safetensors`, `pytorch`, or `safetensors index`.
        format: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A directory holds no weights file we know.
    #[error(
        "no weights in {dir}: looked for model.safetensors, model.safetensors.index.json, \
         pytorch_model.bin and pytorch_model.bin.index.json"
    )]
    NoWeights {
        /// The directory.
        dir: PathBuf,
    },
    /// A tensor has an element type a float parameter cannot take.
    #[error("tensor `{name}` in {path} has element type {dtype}, expected a float type (f32, f16, bf16, f64)")]
    DType {
        /// The tensor as the file names it.
        name: String,
        /// The file.
        path: PathBuf,
        /// Its element type.
        dtype: String,
    },
}

/// Element types a stored tensor may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredDType {
    /// 32-bit float.
    F32,
    /// IEEE half precision.
    F16,
    /// bfloat16.
    BF16,
    /// 64-bit float.
    F64,
    /// 64-bit integer (buffers such as `position_ids`).
    I64,
    /// Any other type, by name.
    Other(&'static str),
}

impl std::fmt::Display for StoredDType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            StoredDType::F32 => "f32",
            StoredDType::F16 => "f16",
            StoredDType::BF16 => "bf16",
            StoredDType::F64 => "f64",
            StoredDType::I64 => "i64",
            StoredDType::Other(name) => name,
        };
        f.write_str(name)
    }
}

type ReadFn = dyn Fn() -> io::Result<StoredBytes> + Send + Sync;

/// The bytes of one stored tensor: a range of a file's memory map (no copy), or owned.
enum StoredBytes {
    Mapped(Arc<memmap2::Mmap>, std::ops::Range<usize>),
    Owned(Vec<u8>),
}

impl std::ops::Deref for StoredBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            StoredBytes::Mapped(map, range) => &map[range.clone()],
            StoredBytes::Owned(bytes) => bytes,
        }
    }
}

/// One tensor of a checkpoint file, read on demand.
#[derive(Clone)]
pub struct StoredTensor {
    /// Extents, outermost first.
    pub shape: Vec<usize>,
    /// Element type in the file.
    pub dtype: StoredDType,
    /// The file holding it.
    pub path: PathBuf,
    read: Arc<ReadFn>,
}

impl std::fmt::Debug for StoredTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredTensor")
            .field("shape", &self.shape)
            .field("dtype", &self.dtype)
            .field("path", &self.path)
            .finish()
    }
}

impl StoredTensor {
    /// Reads the values, converted to f32 (f16, bf16 and f64 exactly as torch's `.float()`).
    pub fn to_f32(&self, name: &str) -> Result<Vec<f32>, WeightsError> {
        let bytes = (self.read)().map_err(|source| WeightsError::Io {
            path: self.path.clone(),
            source,
        })?;
        let values = match self.dtype {
            StoredDType::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            StoredDType::F16 => bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            StoredDType::BF16 => bytes
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            StoredDType::F64 => bytes
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
                .collect(),
            other => {
                return Err(WeightsError::DType {
                    name: name.to_string(),
                    path: self.path.clone(),
                    dtype: other.to_string(),
                })
            }
        };
        Ok(values)
    }

    /// Reads integer values (i64 buffers such as token ids or `position_ids`).
    pub fn to_i64(&self, name: &str) -> Result<Vec<i64>, WeightsError> {
        if self.dtype != StoredDType::I64 {
            return Err(WeightsError::DType {
                name: name.to_string(),
                path: self.path.clone(),
                dtype: format!("{} (expected i64)", self.dtype),
            });
        }
        let bytes = (self.read)().map_err(|source| WeightsError::Io {
            path: self.path.clone(),
            source,
        })?;
        Ok(bytes
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect())
    }

    /// A tensor held in memory (used by tests and by conversions).
    pub fn from_f32(shape: Vec<usize>, values: Vec<f32>, path: PathBuf) -> Self {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        StoredTensor {
            shape,
            dtype: StoredDType::F32,
            path,
            read: Arc::new(move || Ok(StoredBytes::Owned(bytes.clone()))),
        }
    }
}

/// Every tensor of a checkpoint (all its shards), by the name the file gives it.
#[derive(Debug, Default, Clone)]
pub struct Checkpoint {
    /// Tensors by name.
    pub tensors: BTreeMap<String, StoredTensor>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
}

impl Checkpoint {
    /// Opens the weights of an HF model directory, trying in order `model.safetensors`,
    /// `model.safetensors.index.json` (sharded), `pytorch_model.bin` and
    /// `pytorch_model.bin.index.json`, as transformers does.
    pub fn open_dir(dir: &Path) -> Result<Self, WeightsError> {
        let single = dir.join("model.safetensors");
        if single.is_file() {
            return Self::open_safetensors(&single);
        }
        let index = dir.join("model.safetensors.index.json");
        if index.is_file() {
            return Self::open_index(&index, Self::open_safetensors);
        }
        let bin = dir.join("pytorch_model.bin");
        if bin.is_file() {
            return Self::open_pytorch(&bin);
        }
        let index = dir.join("pytorch_model.bin.index.json");
        if index.is_file() {
            return Self::open_index(&index, Self::open_pytorch);
        }
        Err(WeightsError::NoWeights {
            dir: dir.to_path_buf(),
        })
    }

    /// Opens one file, by its extension: `.safetensors`, else a torch file.
    pub fn open_file(path: &Path) -> Result<Self, WeightsError> {
        if path.extension().is_some_and(|e| e == "safetensors") {
            Self::open_safetensors(path)
        } else if path.extension().is_some_and(|e| e == "json") {
            if path.to_string_lossy().contains(".safetensors.") {
                Self::open_index(path, Self::open_safetensors)
            } else {
                Self::open_index(path, Self::open_pytorch)
            }
        } else {
            Self::open_pytorch(path)
        }
    }

    /// Opens a safetensors file through a memory map.
    pub fn open_safetensors(path: &Path) -> Result<Self, WeightsError> {
        let io_error = |source| WeightsError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io_error)?;
        // SAFETY: the map is read-only; a checkpoint changed on disk while we read it gives
        // wrong values, the same as with any reader, but no unsoundness in our code.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_error)?;
        let map = Arc::new(map);
        let format_error = |message: String| WeightsError::Format {
            path: path.to_path_buf(),
            format: "safetensors",
            message,
        };
        let (header_len, metadata) =
            SafeTensors::read_metadata(&map[..]).map_err(|e| format_error(e.to_string()))?;
        // Validates offsets and sizes against the file length.
        SafeTensors::deserialize(&map[..]).map_err(|e| format_error(e.to_string()))?;
        let data_start = 8 + header_len;
        let mut tensors = BTreeMap::new();
        for (name, info) in metadata.tensors() {
            let dtype = match info.dtype {
                SafeDtype::F32 => StoredDType::F32,
                SafeDtype::F16 => StoredDType::F16,
                SafeDtype::BF16 => StoredDType::BF16,
                SafeDtype::F64 => StoredDType::F64,
                SafeDtype::I64 => StoredDType::I64,
                other => StoredDType::Other(safetensors_dtype_name(other)),
            };
            let (begin, end) = info.data_offsets;
            let map = Arc::clone(&map);
            let range = data_start + begin..data_start + end;
            let read = move || Ok(StoredBytes::Mapped(Arc::clone(&map), range.clone()));
            tensors.insert(
                name,
                StoredTensor {
                    shape: info.shape.clone(),
                    dtype,
                    path: path.to_path_buf(),
                    read: Arc::new(read),
                },
            );
        }
        Ok(Checkpoint {
            tensors,
            files: vec![path.to_path_buf()],
        })
    }

    /// Opens a torch checkpoint (`torch.save` of a state dict, zip or legacy pickle format).
    pub fn open_pytorch(path: &Path) -> Result<Self, WeightsError> {
        let reader =
            pytorch_reader::PytorchReader::new(path).map_err(|e| WeightsError::Format {
                path: path.to_path_buf(),
                format: "pytorch",
                message: e.to_string(),
            })?;
        let mut tensors = BTreeMap::new();
        for (name, tensor) in reader.into_tensors() {
            use pytorch_reader::DType as T;
            let dtype = match tensor.dtype() {
                T::F32 => StoredDType::F32,
                T::F16 => StoredDType::F16,
                T::BF16 => StoredDType::BF16,
                T::F64 => StoredDType::F64,
                T::I64 => StoredDType::I64,
                T::I32 => StoredDType::Other("i32"),
                T::I16 => StoredDType::Other("i16"),
                T::I8 => StoredDType::Other("i8"),
                T::U64 => StoredDType::Other("u64"),
                T::U32 => StoredDType::Other("u32"),
                T::U16 => StoredDType::Other("u16"),
                T::U8 => StoredDType::Other("u8"),
                T::Bool => StoredDType::Other("bool"),
            };
            let shape = tensor.shape().to_vec();
            // torch stores native-endian bytes; only little-endian files are accepted by the
            // reader, and `to_f32` decodes little-endian.
            let read = move || tensor.read().map(StoredBytes::Owned);
            tensors.insert(
                name,
                StoredTensor {
                    shape,
                    dtype,
                    path: path.to_path_buf(),
                    read: Arc::new(read),
                },
            );
        }
        Ok(Checkpoint {
            tensors,
            files: vec![path.to_path_buf()],
        })
    }

    /// Opens a sharded checkpoint from its index (`{"weight_map": {name: shard file}}`).
    fn open_index(
        index: &Path,
        open_shard: fn(&Path) -> Result<Self, WeightsError>,
    ) -> Result<Self, WeightsError> {
        let text = std::fs::read_to_string(index).map_err(|source| WeightsError::Io {
            path: index.to_path_buf(),
            source,
        })?;
        let format_error = |message: String| WeightsError::Format {
            path: index.to_path_buf(),
            format: "checkpoint index",
            message,
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format_error(e.to_string()))?;
        let map = value
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| format_error("no `weight_map` object".into()))?;
        let mut shards: Vec<String> = Vec::new();
        for (name, file) in map {
            let file = file
                .as_str()
                .ok_or_else(|| format_error(format!("`weight_map.{name}` is not a file name")))?;
            if !shards.iter().any(|s| s == file) {
                shards.push(file.to_string());
            }
        }
        let dir = index.parent().unwrap_or(Path::new("."));
        let mut all = Checkpoint::default();
        for shard in shards {
            let part = open_shard(&dir.join(&shard))?;
            all.files.extend(part.files);
            all.tensors.extend(part.tensors);
        }
        for name in map.keys() {
            if !all.tensors.contains_key(name) {
                return Err(format_error(format!(
                    "`{name}` is listed in weight_map but absent from its shard"
                )));
            }
        }
        Ok(all)
    }
}

fn safetensors_dtype_name(dtype: SafeDtype) -> &'static str {
    match dtype {
        SafeDtype::BOOL => "bool",
        SafeDtype::U8 => "u8",
        SafeDtype::I8 => "i8",
        SafeDtype::I16 => "i16",
        SafeDtype::U16 => "u16",
        SafeDtype::I32 => "i32",
        SafeDtype::U32 => "u32",
        SafeDtype::U64 => "u64",
        _ => "an unsupported type",
    }
}

/// Writes f32 tensors as one safetensors file, atomically (a temporary file beside the
/// target, renamed into place once complete).
pub fn write_safetensors(
    path: &Path,
    tensors: &BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    metadata: Option<std::collections::HashMap<String, String>>,
) -> Result<(), WeightsError> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, (shape, values))| {
            let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name.clone(), shape.clone(), data)
        })
        .collect();
    let mut views = Vec::with_capacity(bytes.len());
    for (name, shape, data) in &bytes {
        let view = safetensors::tensor::TensorView::new(SafeDtype::F32, shape.clone(), data)
            .map_err(|e| WeightsError::Format {
                path: path.to_path_buf(),
                format: "safetensors",
                message: format!("tensor `{name}`: {e}"),
            })?;
        views.push((name.as_str(), view));
    }
    let serialized =
        safetensors::tensor::serialize(views, metadata).map_err(|e| WeightsError::Format {
            path: path.to_path_buf(),
            format: "safetensors",
            message: e.to_string(),
        })?;
    crate::atomic::write_atomically(path, &serialized).map_err(|source| WeightsError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_directory_contents_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = Checkpoint::open_dir(dir.path()).unwrap_err();
        assert!(matches!(err, WeightsError::NoWeights { .. }));
        assert!(err.to_string().contains("model.safetensors"));
    }

    #[test]
    fn safetensors_round_trip_and_garbage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let mut tensors = BTreeMap::new();
        tensors.insert(
            "a.weight".to_string(),
            (vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.5]),
        );
        write_safetensors(&path, &tensors, None).unwrap();
        let checkpoint = Checkpoint::open_safetensors(&path).unwrap();
        let stored = &checkpoint.tensors["a.weight"];
        assert_eq!(stored.shape, vec![2, 3]);
        assert_eq!(stored.to_f32("a.weight").unwrap()[5], 6.5);

        std::fs::write(&path, b"not a safetensors file").unwrap();
        let err = Checkpoint::open_safetensors(&path).unwrap_err();
        assert!(err.to_string().contains("w.safetensors"), "{err}");
        let bin = dir.path().join("pytorch_model.bin");
        std::fs::write(&bin, b"garbage").unwrap();
        let err = Checkpoint::open_pytorch(&bin).unwrap_err();
        assert!(err.to_string().contains("pytorch_model.bin"), "{err}");
    }
}
