//! Fault injection against the `bert-train` binary: kill -9 at several steps and in the middle
//! of a checkpoint write, SIGTERM and SIGINT, a full disk, damaged checkpoints, two runs into
//! one folder, a folder holding the user's files, and a resume under a changed config. Each
//! case ends with nothing lost beyond the current step, nothing mixed, and a message that says
//! what happened; a resumed run ends exactly as an uninterrupted one.
//!
//! The runs are tiny (a random 2-layer BERT of hidden size 32 on 160 movie sentences; see
//! `common::tiny_run_config`) and need `scripts/fetch-assets.sh` and `scripts/fetch-data.sh`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{bert_train, failed, ok, read_json, tiny_run_config, SmallDisk};

/// What a finished run leaves that must not depend on interruptions.
#[derive(PartialEq)]
struct Outcome {
    eval: Value,
    metrics_csv: String,
    weights: Vec<u8>,
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sum = self
            .weights
            .iter()
            .fold(0u64, |h, b| h.rotate_left(5) ^ *b as u64);
        write!(
            f,
            "eval {}\nmetrics.csv:\n{}weights: {} bytes, hash {sum:x}",
            self.eval,
            self.metrics_csv,
            self.weights.len()
        )
    }
}

fn outcome(out: &Path) -> Outcome {
    Outcome {
        eval: read_json(&out.join("eval_results.json")),
        metrics_csv: std::fs::read_to_string(out.join("metrics.csv")).unwrap(),
        weights: std::fs::read(out.join("model/model.safetensors")).unwrap(),
    }
}

/// The uninterrupted run of `config`, in `d/out`.
fn whole_run(d: &Path, out: &str, extra: &str) -> Outcome {
    let config = tiny_run_config(d, out, extra);
    ok(bert_train(d, &["fine-tune", "--config", path(&config)]));
    outcome(&d.join(out))
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A run in the background whose stdout lines arrive on a channel.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(d: &Path, args: &[&str]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bert-train"))
            .args(args)
            .env("HF_HUB_OFFLINE", "1")
            .current_dir(d)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (send, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        Running { child, lines }
    }

    /// Waits for the line `step N/...` (the run logs every step).
    fn wait_for_step(&mut self, step: usize) {
        let prefix = format!("step {step}/");
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(&prefix) => return,
                Ok(_) => {}
                Err(e) => panic!("no `{prefix}` line: {e}; the run: {:?}", self.child),
            }
        }
    }

    /// Sends a signal; false when the run had already ended.
    fn signal(&self, name: &str) -> bool {
        Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    }

    /// Waits for the end: the status and stderr.
    fn finish(self) -> (ExitStatus, String) {
        let out = self.child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!err.contains("panicked"), "a panic:\n{err}");
        (out.status, err)
    }
}

/// The steps of the complete checkpoints of a run.
fn checkpoint_steps(out: &Path) -> Vec<usize> {
    let mut steps: Vec<usize> = std::fs::read_dir(out.join("checkpoints"))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().to_string();
                    let step = name.strip_prefix("step-")?.parse().ok()?;
                    e.path().join("manifest.json").is_file().then_some(step)
                })
                .collect()
        })
        .unwrap_or_default();
    steps.sort();
    steps
}

/// Scratch folders (`.tmp-*`) left in a run's folder or its checkpoints.
fn scratch_left(out: &Path) -> Vec<String> {
    [out.to_path_buf(), out.join("checkpoints")]
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flat_map(|entries| entries.flatten())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|name| name.starts_with(".tmp-"))
        .collect()
}

fn resume(d: &Path, config: &Path) -> String {
    ok(bert_train(
        d,
        &["fine-tune", "--config", path(config), "--resume"],
    ))
}

fn resumed_step(log: &str) -> usize {
    log.lines()
        .find_map(|l| l.strip_prefix("resumed from step "))
        .unwrap_or_else(|| panic!("no resume line in:\n{log}"))
        .trim()
        .parse()
        .unwrap()
}

const EVERY_STEP: &str = "log_every_steps = 1\n";

/// SIGTERM: the step finishes, a checkpoint of that step is written, the run says so and exits
/// with 143; `--resume` ends exactly as the uninterrupted run. SIGINT twice: the second exits
/// at once with 130, and `--resume` still ends the same.
#[test]
fn signals_stop_at_a_checkpoint_and_resume_ends_like_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let long = "epochs = 4\nlog_every_steps = 1\n";
    let expected = whole_run(d, "whole", long);

    let config = tiny_run_config(d, "term", long);
    let mut run = Running::start(d, &["fine-tune", "--config", path(&config)]);
    run.wait_for_step(4);
    assert!(run.signal("TERM"));
    let (status, err) = run.finish();
    assert_eq!(status.code(), Some(143), "{err}");
    assert!(err.contains("SIGTERM: finishing this step"), "{err}");
    let stopped: usize = err
        .split("stopped at step ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `stopped at step` in:\n{err}"));
    assert!(
        stopped >= 4,
        "stopped at {stopped}, after step 4 was logged"
    );
    let out = d.join("term");
    assert_eq!(checkpoint_steps(&out).last(), Some(&stopped));
    assert_eq!(scratch_left(&out), Vec::<String>::new());
    assert_eq!(resumed_step(&resume(d, &config)), stopped);
    assert_eq!(outcome(&out), expected, "the resumed run ended differently");

    let config = tiny_run_config(d, "int", long);
    let mut run = Running::start(d, &["fine-tune", "--config", path(&config)]);
    run.wait_for_step(2);
    assert!(run.signal("INT"));
    // The second one exits at once (or finds the run already ended after its checkpoint).
    run.signal("INT");
    let (status, err) = run.finish();
    assert_eq!(status.code(), Some(130), "{err}");
    ok(bert_train(
        d,
        &["fine-tune", "--config", path(&config), "--resume"],
    ));
    assert_eq!(outcome(&d.join("int")), expected);
}

/// kill -9 after a few steps, and again while a checkpoint is being written (its scratch
/// folder exists): each resume starts from the newest complete checkpoint, the half-written
/// one is never picked and is cleaned away, and the run ends as the uninterrupted one.
#[test]
fn kill_9_at_steps_and_during_checkpoint_writes_then_resume_ends_like_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Three loader threads here, one in the cut run: the data order must not depend on them.
    let expected = whole_run(d, "whole", "loader_workers = 3\nlog_every_steps = 1\n");

    let config = tiny_run_config(d, "cut", EVERY_STEP);
    let out = d.join("cut");
    let mut run = Running::start(d, &["fine-tune", "--config", path(&config)]);
    run.wait_for_step(7);
    let mut child = run.child;
    child.kill().unwrap();
    child.wait().unwrap();
    let before = checkpoint_steps(&out);
    assert!(before.last().is_some_and(|s| *s >= 6), "{before:?}");
    let refused = failed(bert_train(d, &["fine-tune", "--config", path(&config)]));
    assert!(refused.contains("--resume"), "{refused}");

    // Resume, and kill it the moment the next checkpoint's scratch folder appears.
    let mut child = Command::new(env!("CARGO_BIN_EXE_bert-train"))
        .args(["fine-tune", "--config", path(&config), "--resume"])
        .current_dir(d)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while scratch_left(&out)
        .iter()
        .all(|n| !n.starts_with(".tmp-step-"))
    {
        assert!(Instant::now() < deadline, "no checkpoint write seen");
        assert!(child.try_wait().unwrap().is_none(), "the run ended first");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // A step folder without its state (a kill inside a rename-less copy) is never picked.
    std::fs::create_dir_all(out.join("checkpoints/step-98")).unwrap();
    let log = resume(d, &config);
    assert!(resumed_step(&log) >= *before.last().unwrap(), "{log}");
    assert!(log.contains("took over the lock"), "{log}");
    assert_eq!(outcome(&out), expected, "the resumed run ended differently");
    assert_eq!(scratch_left(&out), Vec::<String>::new());
}

/// A truncated newest checkpoint is set aside with a message naming the file, and the run
/// resumes from the one before; a garbled one (same size) is caught by its checksum; when every
/// checkpoint is damaged, the error lists each.
#[test]
fn damaged_checkpoints_are_set_aside_and_the_newest_whole_one_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let keep = "checkpoint_every_steps = 5\nkeep_checkpoints = 3\n";
    let config = tiny_run_config(d, "run", keep);
    ok(bert_train(d, &["fine-tune", "--config", path(&config)]));
    let out = d.join("run");
    let expected = outcome(&out);
    assert_eq!(checkpoint_steps(&out), vec![5, 10, 15]);

    let weights = out.join("checkpoints/step-15/model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let log = resume(d, &config);
    assert!(
        log.contains("step-15 is damaged (model.safetensors has")
            && log.contains("damaged-step-15"),
        "{log}"
    );
    assert_eq!(resumed_step(&log), 10);
    assert_eq!(outcome(&out), expected, "the resumed run ended differently");

    let optimizer = out.join("checkpoints/step-15/optimizer.bpk");
    let mut bytes = std::fs::read(&optimizer).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&optimizer, &bytes).unwrap();
    let log = resume(d, &config);
    assert!(
        log.contains("optimizer.bpk does not match its checksum"),
        "{log}"
    );
    assert_eq!(resumed_step(&log), 10);

    for step in checkpoint_steps(&out) {
        let state = out.join(format!("checkpoints/step-{step}/trainer_state.json"));
        std::fs::write(state, "{}").unwrap();
    }
    let err = failed(bert_train(
        d,
        &["fine-tune", "--config", path(&config), "--resume"],
    ));
    assert!(
        err.contains("can be resumed") && err.contains("step 15: trainer_state.json has 2 bytes"),
        "{err}"
    );
}

/// A second run into a folder in use is refused, naming the first; the first is unharmed.
/// A folder holding the user's files is refused unless `--overwrite`, and nothing of theirs is
/// touched. A resume under a changed learning rate is refused, naming the key, and leaves
/// config.toml as it was.
#[test]
fn output_folders_are_guarded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Long enough to be running for certain when the second one starts; stopped with SIGTERM.
    let config = tiny_run_config(d, "busy", "epochs = 50\nlog_every_steps = 1\n");
    let mut first = Running::start(d, &["fine-tune", "--config", path(&config)]);
    first.wait_for_step(1);
    let pid = first.child.id();
    let err = failed(bert_train(d, &["fine-tune", "--config", path(&config)]));
    assert!(
        err.contains("is in use by the run PID") && err.contains(&format!("PID {pid} on")),
        "{err}"
    );
    assert!(first.signal("TERM"));
    let (status, err) = first.finish();
    assert_eq!(status.code(), Some(143), "the first run:\n{err}");

    let changed = std::fs::read_to_string(&config)
        .unwrap()
        .replace("learning_rate = 1e-3", "learning_rate = 2e-3");
    let changed_path = d.join("changed.toml");
    std::fs::write(&changed_path, changed).unwrap();
    let before = std::fs::read_to_string(d.join("busy/config.toml")).unwrap();
    let err = failed(bert_train(
        d,
        &["fine-tune", "--config", path(&changed_path), "--resume"],
    ));
    assert!(
        err.contains("with a changed config: `training.learning_rate` was 0.001, is now 0.002"),
        "{err}"
    );
    let after = std::fs::read_to_string(d.join("busy/config.toml")).unwrap();
    assert_eq!(before, after, "config.toml was rewritten");

    let mine = d.join("mine");
    std::fs::create_dir_all(mine.join("model")).unwrap();
    std::fs::write(mine.join("notes.md"), "my notes").unwrap();
    std::fs::write(mine.join("model/weights.bin"), "my weights").unwrap();
    let config = tiny_run_config(d, "mine", "max_steps = 2\n");
    let err = failed(bert_train(d, &["fine-tune", "--config", path(&config)]));
    assert!(
        err.contains("holds files that no run wrote (notes.md)") && err.contains("--overwrite"),
        "{err}"
    );
    assert!(mine.join("model/weights.bin").exists());
    assert!(
        !mine.join("config.toml").exists(),
        "written before the check"
    );
    ok(bert_train(
        d,
        &["fine-tune", "--config", path(&config), "--overwrite"],
    ));
    assert_eq!(
        std::fs::read_to_string(mine.join("notes.md")).unwrap(),
        "my notes"
    );
}

/// A small filesystem (a 6 MB tmpfs where this runs as root, else a 4 MB file-size limit):
/// the first checkpoint cannot be written. The run fails with the OS's reason and the file it
/// could not write, and leaves no scratch folder.
#[test]
fn a_full_disk_fails_the_run_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let small = d.join("small");
    let disk = SmallDisk::mount(&small);
    let mounted = disk.is_some();
    let config = tiny_run_config(d, "small/run", "checkpoint_every_steps = 2\n");
    let shell = format!(
        "trap '' XFSZ; {}exec {:?} fine-tune --config {:?}",
        if mounted { "" } else { "ulimit -f 4096; " },
        env!("CARGO_BIN_EXE_bert-train"),
        path(&config)
    );
    let out = Command::new("bash")
        .args(["-c", &shell])
        .current_dir(d)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let out_dir = small.join("run");
    let left = scratch_left(&out_dir);
    let steps = checkpoint_steps(&out_dir);
    drop(disk);
    assert!(!out.status.success(), "the run did not fail");
    assert!(!err.contains("panicked"), "a panic:\n{err}");
    let reason = if mounted {
        "No space left on device"
    } else {
        "File too large"
    };
    assert!(
        err.contains("cannot write") && err.contains(reason),
        "mounted: {mounted}\n{err}"
    );
    assert_eq!(left, Vec::<String>::new(), "{err}");
    assert_eq!(steps, Vec::<usize>::new());
}

/// `evaluate` with another task's config names both heads instead of failing on a label.
#[test]
fn evaluate_refuses_another_tasks_head() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = tiny_run_config(d, "run", "max_steps = 1\n");
    ok(bert_train(d, &["fine-tune", "--config", path(&config)]));
    let ner = std::fs::read_to_string(&config)
        .unwrap()
        .replace("sequence-classification", "token-classification")
        .replace("text_column = \"sentence\"\n", "");
    let ner = ner.replace(
        &common::data("sentiment/dev.csv").display().to_string(),
        &common::data("ner/dev.conll").display().to_string(),
    );
    let ner = ner.replace(
        &common::data("sentiment/train.csv").display().to_string(),
        &common::data("ner/train.conll").display().to_string(),
    );
    let ner_path: PathBuf = d.join("ner.toml");
    std::fs::write(&ner_path, ner).unwrap();
    let err = failed(bert_train(
        d,
        &[
            "evaluate",
            "--model",
            "run/model",
            "--config",
            path(&ner_path),
        ],
    ));
    assert!(
        err.contains("the model is a BertForSequenceClassification")
            && err.contains("`token-classification` evaluates a BertForTokenClassification"),
        "{err}"
    );
}
