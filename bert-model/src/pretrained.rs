//! `from_pretrained` and `save_pretrained`: HF model directories and hub ids.

use std::path::{Path, PathBuf};

use burn::prelude::Device;

use crate::config::{BertConfig, ConfigError};
use crate::heads::HfModel;
use crate::params::{LoadError, LoadReport, ParamSource};
use crate::weights::{write_safetensors, Checkpoint, WeightsError};

/// What can go wrong loading or saving a pretrained model.
#[derive(Debug, thiserror::Error)]
pub enum PretrainedError {
    /// `config.json` is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The weights could not be read.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// The weights do not fit the configuration.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Neither a directory nor a model in the local HF cache, and not downloadable.
    #[error(
        "model `{name}` not found: it is not a directory, and the Hugging Face cache has no \
         snapshot of it (looked in {looked}); {download}",
        looked = looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotFound {
        /// The name as given.
        name: String,
        /// Every place searched.
        looked: Vec<PathBuf>,
        /// Why it was not downloaded.
        download: String,
    },
    /// Writing a file failed.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The hub cache directories to search, in transformers' order of precedence:
/// `$HF_HUB_CACHE`, `$HF_HOME/hub`, `$XDG_CACHE_HOME/huggingface/hub`,
/// `~/.cache/huggingface/hub`.
pub fn hub_cache_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("HF_HUB_CACHE") {
        dirs.push(PathBuf::from(dir));
    }
    if let Some(home) = std::env::var_os("HF_HOME") {
        dirs.push(PathBuf::from(home).join("hub"));
    }
    if let Some(xdg) = std::env::var_os("XDG_CACHE_HOME") {
        dirs.push(PathBuf::from(xdg).join("huggingface").join("hub"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(
            PathBuf::from(home)
                .join(".cache")
                .join("huggingface")
                .join("hub"),
        );
    }
    dirs.dedup();
    dirs
}

/// Resolves a directory path or a hub model id (`bert-base-uncased`, `org/name`, optionally
/// `@revision`) to a local directory. Hub ids are looked up in the HF cache layout
/// (`models--org--name/snapshots/<commit>/`, the commit read from `refs/<revision>`, `main`
/// by default); a model not in the cache is downloaded into it when the `download` feature is
/// on and `HF_HUB_OFFLINE` is not set.
pub fn resolve_model_dir(name_or_path: &str) -> Result<PathBuf, PretrainedError> {
    let (looked, id, revision) = match find_cached(name_or_path) {
        Ok(dir) => return Ok(dir),
        Err(looked) => {
            let (id, revision) = name_or_path
                .split_once('@')
                .unwrap_or((name_or_path, "main"));
            (looked, id.to_string(), revision.to_string())
        }
    };
    let download = match download(&id, &revision) {
        Ok(dir) => return Ok(dir),
        Err(why) => why,
    };
    Err(PretrainedError::NotFound {
        name: name_or_path.to_string(),
        looked,
        download,
    })
}

/// Downloads a model's files into the HF cache and returns its snapshot directory.
#[cfg(feature = "download")]
fn download(id: &str, revision: &str) -> Result<PathBuf, String> {
    let offline = std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| !v.is_empty() && v != "0");
    if offline || id.starts_with('.') || id.starts_with('/') || id.split('/').count() > 2 {
        return Err("not downloaded: HF_HUB_OFFLINE is set or the name is not a hub id".into());
    }
    use hf_hub::api::sync::ApiBuilder;
    use hf_hub::{Repo, RepoType};
    let api = ApiBuilder::from_env()
        .with_progress(false)
        .build()
        .map_err(|e| format!("cannot start the hub client: {e}"))?;
    let repo = api.repo(Repo::with_revision(
        id.to_string(),
        RepoType::Model,
        revision.to_string(),
    ));
    let config = repo
        .get("config.json")
        .map_err(|e| format!("downloading {id} from the hub failed: {e}"))?;
    // The weights in the first layout the repository has, then the tokenizer files it has.
    let mut weights = repo.get("model.safetensors").map(|_| ());
    if weights.is_err() {
        weights = repo.get("model.safetensors.index.json").and_then(|index| {
            for shard in shard_names(&index) {
                repo.get(&shard)?;
            }
            Ok(())
        });
    }
    if weights.is_err() {
        weights = repo.get("pytorch_model.bin").map(|_| ());
    }
    weights.map_err(|e| format!("{id} has no weights we can read on the hub: {e}"))?;
    for optional in [
        "vocab.txt",
        "tokenizer_config.json",
        "tokenizer.json",
        "special_tokens_map.json",
    ] {
        let _ = repo.get(optional);
    }
    Ok(config.parent().map(Path::to_path_buf).unwrap_or_default())
}

#[cfg(feature = "download")]
fn shard_names(index: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(index).unwrap_or_default();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let mut names: Vec<String> = value["weight_map"]
        .as_object()
        .map(|m| {
            m.values()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.dedup();
    names
}

#[cfg(not(feature = "download"))]
fn download(_id: &str, _revision: &str) -> Result<PathBuf, String> {
    Err(
        "this build cannot download (built without the `download` feature); fetch it with \
         transformers or huggingface-cli, or give a directory"
            .into(),
    )
}

/// The snapshot directory of a cached model, or every place looked in.
fn find_cached(name_or_path: &str) -> Result<PathBuf, Vec<PathBuf>> {
    let path = Path::new(name_or_path);
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let (id, revision) = match name_or_path.split_once('@') {
        Some((id, rev)) => (id, rev),
        None => (name_or_path, "main"),
    };
    let folder = format!("models--{}", id.replace('/', "--"));
    let mut looked = vec![path.to_path_buf()];
    for cache in hub_cache_dirs() {
        let repo = cache.join(&folder);
        looked.push(repo.clone());
        let snapshots = repo.join("snapshots");
        // A revision is a ref name (refs/main holds the commit) or a commit itself.
        let commit = std::fs::read_to_string(repo.join("refs").join(revision))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| revision.to_string());
        let snapshot = snapshots.join(&commit);
        if snapshot.join("config.json").is_file() {
            return Ok(snapshot);
        }
    }
    Err(looked)
}

/// A model loaded from a pretrained directory, with its configuration and what loading did.
#[derive(Debug)]
pub struct Pretrained<M> {
    /// The model.
    pub model: M,
    /// Its configuration (config.json).
    pub config: BertConfig,
    /// The directory it came from.
    pub dir: PathBuf,
    /// Loaded, newly initialised and unused tensors.
    pub report: LoadReport,
}

/// Loads model `M` from a directory or hub id: config.json plus the weights in any layout
/// [`Checkpoint::open_dir`] reads. Tensors the checkpoint lacks (a new head) are initialised
/// from PyTorch's generator seeded with `seed` (the values transformers draws after
/// `set_seed(seed)`) and listed in the report; unused tensors are listed, not fatal; a tensor of the
/// wrong shape is an error naming it and both shapes.
pub fn from_pretrained<M: HfModel>(
    name_or_path: &str,
    device: &Device,
    seed: u64,
) -> Result<Pretrained<M>, PretrainedError> {
    let dir = resolve_model_dir(name_or_path)?;
    let config = BertConfig::from_file(dir.join("config.json"))?;
    let checkpoint = Checkpoint::open_dir(&dir)?;
    let model = from_checkpoint::<M>(&config, &checkpoint, device, seed)?;
    Ok(Pretrained {
        model: model.0,
        config,
        dir,
        report: model.1,
    })
}

/// Builds model `M` from an opened checkpoint; a new head is drawn as [`from_pretrained`] draws
/// it.
pub fn from_checkpoint<M: HfModel>(
    config: &BertConfig,
    checkpoint: &Checkpoint,
    device: &Device,
    seed: u64,
) -> Result<(M, LoadReport), LoadError> {
    let mut source = ParamSource::checkpoint(
        device,
        checkpoint,
        M::BASE_PREFIX,
        config.initializer_range,
        seed,
    );
    let model = M::build(config, &mut source)?;
    Ok((model, source.finish()))
}

/// Writes `model` as an HF directory: `config.json` (with `architectures` set to the model's
/// class) and `model.safetensors` under transformers' names, each file written atomically.
pub fn save_pretrained<M: HfModel>(
    model: &M,
    config: &BertConfig,
    dir: &Path,
) -> Result<(), PretrainedError> {
    std::fs::create_dir_all(dir).map_err(|source| PretrainedError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut config = config.clone();
    config.architectures = Some(vec![M::ARCHITECTURE.to_string()]);
    let metadata = [("format".to_string(), "pt".to_string())]
        .into_iter()
        .collect();
    write_safetensors(
        &dir.join("model.safetensors"),
        &model.hf_tensors(),
        Some(metadata),
    )?;
    write_text_atomically(&dir.join("config.json"), &config.to_json())?;
    Ok(())
}

/// Writes a text file through a temporary file renamed into place.
pub fn write_text_atomically(path: &Path, text: &str) -> Result<(), PretrainedError> {
    let error = |source| PretrainedError::Write {
        path: path.to_path_buf(),
        source,
    };
    crate::atomic::write_atomically(path, text.as_bytes()).map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_ids_resolve_through_the_cache_layout() {
        let cache = tempfile::tempdir().unwrap();
        let repo = cache.path().join("models--google--bert-tiny");
        let snap = repo.join("snapshots").join("abc123");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs").join("main"), "abc123\n").unwrap();
        std::fs::write(snap.join("config.json"), "{}").unwrap();
        // SAFETY: tests in this module are the only readers of HF_HUB_CACHE.
        unsafe {
            std::env::set_var("HF_HUB_CACHE", cache.path());
            std::env::set_var("HF_HUB_OFFLINE", "1");
        }
        assert_eq!(resolve_model_dir("google/bert-tiny").unwrap(), snap);
        assert_eq!(resolve_model_dir("google/bert-tiny@abc123").unwrap(), snap);
        let err = resolve_model_dir("bert-base-uncased").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("models--bert-base-uncased"), "{text}");
        assert!(text.contains(&cache.path().display().to_string()), "{text}");
    }
}
