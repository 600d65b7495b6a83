//! Prepared corpora on disk: Arrow shards in a folder of the cache named by a SHA-256 of the
//! text's bytes and of everything that shapes the rows (the layout and its options, the document
//! limit, the tokenizer's vocabulary and options, the layout version). A folder is complete
//! when it has its `corpus.json`: it is written under a temporary name and renamed into place,
//! so a run that is killed while preparing leaves nothing that a later run would read.

use std::path::{Path, PathBuf};
use std::time::Instant;

use bert_data::shards::{ShardWriter, Shards};
use bert_data::BertTokenizer;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::progress::Progress;
use super::{read_rows, Layout, Source};
use crate::TrainError;

/// The version of the shard layout and of the way rows are made: part of every key, so that
/// a change here never reads rows made the old way.
const LAYOUT: u32 = 2;

/// Rows per shard file (about 200 MB at 128 tokens a row).
const ROWS_PER_SHARD: usize = 1 << 18;

/// The file that marks a prepared folder complete, and describes it.
pub const MANIFEST: &str = "corpus.json";

/// What a prepared folder says of itself (`corpus.json`).
#[derive(Debug, Serialize)]
struct Manifest<'a> {
    source: &'a Path,
    bytes: u64,
    documents: usize,
    rows: usize,
    tokens: u64,
    options: Layout,
    limit: Option<usize>,
    seconds: f64,
    layout: u32,
}

/// The cache folder when `[data] cache_dir` is unset: `$XDG_CACHE_HOME/bert-rs/corpora`, or
/// `~/.cache/bert-rs/corpora`.
pub fn default_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("bert-rs").join("corpora")
}

/// The folder of `source` inside `dir`: `NAME-HASH` (the text file's name and 32 hex digits of
/// the key).
pub fn folder(
    source: &Source,
    dir: &Path,
    tokenizer: &BertTokenizer,
) -> Result<PathBuf, TrainError> {
    let mut hash = Sha256::new();
    let settings = serde_json::json!({
        "layout": LAYOUT,
        "options": source.layout,
        "limit": source.limit,
        "tokenizer": format!("{:?}", tokenizer.options()),
    });
    hash.update(settings.to_string().as_bytes());
    for token in tokenizer.vocab() {
        hash.update(token.as_bytes());
        hash.update(b"\n");
    }
    let mut file = std::fs::File::open(source.path).map_err(TrainError::io(source.path))?;
    std::io::copy(&mut file, &mut hash).map_err(TrainError::io(source.path))?;
    let digest = hash.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    let name = source
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "corpus".into());
    Ok(dir.join(format!("{name}-{hex}")))
}

/// The shards of `source` in the cache folder `dir`, prepared first if they are not there.
pub fn prepared(
    source: &Source,
    dir: &Path,
    tokenizer: &BertTokenizer,
    progress: &mut dyn Progress,
) -> Result<Shards, TrainError> {
    let folder = folder(source, dir, tokenizer)?;
    if !folder.join(MANIFEST).is_file() {
        prepare(source, &folder, tokenizer, progress)?;
    }
    Ok(Shards::open(&folder)?)
}

/// Writes the shards of `source` into a temporary folder beside `folder`, then renames it into
/// place (another process that got there first wins; its folder is the same). Temporary folders
/// of killed preparations of the same corpus on this machine are removed first.
fn prepare(
    source: &Source,
    folder: &Path,
    tokenizer: &BertTokenizer,
    progress: &mut dyn Progress,
) -> Result<(), TrainError> {
    let name = folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let host = host_name();
    remove_abandoned(folder, &format!(".{name}.{host}-"));
    let temporary = folder.with_file_name(format!(".{name}.{host}-{}.tmp", std::process::id()));
    let _ = std::fs::remove_dir_all(&temporary);
    let result =
        write_shards(source, &temporary, tokenizer, progress).and_then(|()| match std::fs::rename(
            &temporary, folder,
        ) {
            Ok(()) => Ok(()),
            Err(_) if folder.join(MANIFEST).is_file() => Ok(()),
            Err(error) => Err(TrainError::io(folder)(error)),
        });
    let _ = std::fs::remove_dir_all(&temporary);
    result.map_err(|e| with_cache_hint(e, folder))
}

/// A failure to write the cache (not a problem of the text) says what to change.
fn with_cache_hint(error: TrainError, folder: &Path) -> TrainError {
    if !matches!(error, TrainError::Shards(_) | TrainError::Io { .. }) {
        return error;
    }
    let dir = folder.parent().unwrap_or(folder);
    TrainError::Run(format!(
        "cannot prepare the corpus in the cache {}: {}; set `data.cache_dir` to a writable \
         folder, or `data.in_memory = true`",
        dir.display(),
        crate::error_chain(&error)
    ))
}

/// This machine's name (Linux), so that a cache shared by several machines tells whose
/// temporary folder is whose.
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().replace(['/', '.'], "_"))
        .unwrap_or_default()
}

/// Removes the temporary folders named `PREFIX<pid>.tmp` (this machine's, for one corpus) left
/// by preparations that were killed: those whose process is gone (on Linux, where `/proc`
/// tells; elsewhere they stay).
fn remove_abandoned(folder: &Path, prefix: &str) {
    let (Some(dir), true) = (folder.parent(), Path::new("/proc/self").exists()) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let pid = file_name
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .and_then(|pid| pid.parse::<u32>().ok());
        if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn write_shards(
    source: &Source,
    temporary: &Path,
    tokenizer: &BertTokenizer,
    progress: &mut dyn Progress,
) -> Result<(), TrainError> {
    let start = Instant::now();
    let mut writer = match source.layout.label_column() {
        Some(name) => ShardWriter::create_labelled(temporary, ROWS_PER_SHARD, name)?,
        None => ShardWriter::create(temporary, ROWS_PER_SHARD)?,
    };
    let (mut rows, mut tokens) = (0usize, 0u64);
    let scratch = temporary.join("sentences");
    let read = read_rows(
        source,
        tokenizer,
        progress,
        Some(&scratch),
        &mut |row, label| {
            rows += 1;
            tokens += row.ids.len() as u64;
            match label {
                Some(label) => writer.push_labelled(row, label)?,
                None => writer.push(row)?,
            }
            Ok(())
        },
    )?;
    writer.finish()?;
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).map_err(TrainError::io(&scratch))?;
    }
    let manifest = Manifest {
        source: source.path,
        bytes: read.bytes,
        documents: read.documents,
        rows,
        tokens,
        options: source.layout,
        limit: source.limit,
        seconds: start.elapsed().as_secs_f64(),
        layout: LAYOUT,
    };
    let text = serde_json::to_string_pretty(&manifest).expect("a manifest serialises");
    let path = temporary.join(MANIFEST);
    bert_model::atomic::write_atomically(&path, text.as_bytes()).map_err(TrainError::io(&path))
}
