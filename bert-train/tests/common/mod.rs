//! What several test files share.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// all-MiniLM-L6-v2's directory: `BERT_MINILM_DIR`, else the cache `scripts/fetch-assets.sh`
/// fills.
pub fn minilm() -> PathBuf {
    let dir = std::env::var("BERT_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/bert-rs/all-MiniLM-L6-v2")
        });
    assert!(
        dir.join("config.json").is_file(),
        "all-MiniLM-L6-v2 not found at {} (run scripts/fetch-assets.sh)",
        dir.display()
    );
    dir
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn data(path: &str) -> PathBuf {
    let p = repo().join("data").join(path);
    assert!(
        p.is_file(),
        "{} missing (run scripts/fetch-data.sh)",
        p.display()
    );
    p
}

pub fn bert_train(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bert-train"))
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .current_dir(dir)
        .output()
        .unwrap()
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn ok(out: Output) -> String {
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    t
}

pub fn failed(out: Output) -> String {
    let t = text(&out);
    assert!(!out.status.success(), "expected a failure:\n{t}");
    assert!(!t.contains("panicked"), "a panic:\n{t}");
    t
}

/// A tiny random BERT (hidden 32, 2 layers) over MiniLM's uncased vocabulary.
pub fn tiny_model_table(tokenizer: &Path) -> String {
    format!(
        "[model]\ntokenizer = {:?}\n[model.config]\nvocab_size = 30522\nhidden_size = 32\n\
         num_hidden_layers = 2\nnum_attention_heads = 2\nintermediate_size = 64\n\
         max_position_embeddings = 128\n",
        tokenizer.display().to_string()
    )
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A tiny sequence-classification run on 160 movie sentences: 2 epochs of 10 steps
/// (batch 8, accumulation 2), evaluations every 5 steps, checkpoints every 3. `training` holds
/// more `[training]` lines; a key it sets replaces the one here.
pub fn tiny_run_config(d: &Path, out: &str, training: &str) -> PathBuf {
    let key = |line: &str| line.split('=').next().unwrap_or("").trim().to_string();
    let replaced: Vec<String> = training.lines().map(key).collect();
    let defaults: String = [
        "epochs = 2",
        "batch_size = 8",
        "gradient_accumulation_steps = 2",
        "learning_rate = 1e-3",
        "warmup_steps = 3",
        "weight_decay = 0.01",
        "log_every_steps = 2",
        "checkpoint_every_steps = 3",
        "keep_checkpoints = 2",
        "eval_every_steps = 5",
    ]
    .iter()
    .filter(|line| !replaced.contains(&key(line)))
    .map(|line| format!("{line}\n"))
    .collect();
    let config = format!(
        "task = \"sequence-classification\"\noutput_dir = {out:?}\n{}[data]\ntrain = {:?}\n\
         validation = {:?}\ntext_column = \"sentence\"\nmax_seq_length = 48\nmax_train_rows = 160\n\
         max_eval_rows = 64\n[training]\n{defaults}{training}",
        tiny_model_table(&minilm().join("vocab.txt")),
        data("sentiment/train.csv").display().to_string(),
        data("sentiment/dev.csv").display().to_string(),
    );
    let path = d.join(format!("{out}.toml"));
    std::fs::write(&path, config).unwrap();
    path
}

/// A 6 MB tmpfs mounted at `dir` (created), unmounted when dropped; `None` where mounting is
/// not allowed (not root).
pub struct SmallDisk(PathBuf);

impl SmallDisk {
    pub fn mount(dir: &Path) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=6m", "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then(|| SmallDisk(dir.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}
