//! Training across processes on MPI (`--features mpi`; `mpirun` from Open MPI on the PATH).
//!
//! Two ranks at batch 8 train exactly what one process trains at batch 16: with dropout off,
//! the weights and the validation loss agree within 1e-5 after 10 steps, for sequence
//! classification and for masked LM (whose shards hold different numbers of masked tokens), and
//! the ranks' weights are bit-identical. With dropout on, the same passes give the same run
//! whichever rank runs them (one process x 4 passes = 2 ranks x 2 passes). A rank killed with kill -9, or one that fails alone
//! (a full disk), ends the job with an error and leaves the checkpoints whole; SIGTERM stops
//! every rank after the same step with a checkpoint; `--resume` continues on 2 ranks, or on one
//! process with the same global batch.

#![cfg(feature = "mpi")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use bert_model::Checkpoint;
use common::*;

/// `bert-train ARGS` on `np` ranks under mpirun.
fn mpirun(dir: &Path, np: usize, args: &[&str]) -> Command {
    // Each test's jobs keep their session files apart: a job that ends removes the shared
    // /tmp/ompi.HOST.UID when it looks empty, which another test's job starting then misses.
    let session = dir.join("ompi-session");
    std::fs::create_dir_all(&session).unwrap();
    let mut command = Command::new("mpirun");
    command
        .args([
            "--allow-run-as-root",
            "--oversubscribe",
            "--bind-to",
            "none",
        ])
        .args(["-np", &np.to_string()])
        .arg(env!("CARGO_BIN_EXE_bert-train"))
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .env("RAYON_NUM_THREADS", "1")
        // Containers often forbid the cross-memory attach Open MPI's shared memory prefers.
        .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
        .env("OMPI_MCA_orte_tmpdir_base", &session)
        .current_dir(dir);
    command
}

fn run_mpi(dir: &Path, np: usize, args: &[&str]) -> Output {
    mpirun(dir, np, args).output().unwrap()
}

/// The tiny sequence-classification run of the other tests with dropout off: 160 rows, global
/// batch 16, 10 steps, validation at steps 5 and 10.
fn classification(d: &Path, out: &str, batch: usize) -> PathBuf {
    classification_for(d, out, batch, 1)
}

/// The same over `epochs` epochs of 10 steps.
fn classification_for(d: &Path, out: &str, batch: usize, epochs: usize) -> PathBuf {
    let config = tiny_run_config(
        d,
        out,
        &format!(
            "epochs = {epochs}\nbatch_size = {batch}\ngradient_accumulation_steps = 1\n\
             checkpoint_every_steps = 4\nkeep_checkpoints = 3"
        ),
    );
    without_dropout(&config);
    config
}

/// A 2-rank run of 80 steps, interrupted by `interrupt` (given mpirun's PID) once its first
/// checkpoint is on disk; the job's exit status and its stderr.
fn interrupted(
    d: &Path,
    out: &str,
    interrupt: impl FnOnce(u32),
) -> (std::process::ExitStatus, String) {
    let config = classification_for(d, out, 8, 8);
    let mut job = mpirun(d, 2, &["fine-tune", "--config", path(&config)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let begun = Instant::now();
    while checkpoint_steps(&d.join(out)).is_empty() {
        assert!(begun.elapsed() < Duration::from_secs(120), "no checkpoint");
        std::thread::sleep(Duration::from_millis(10));
    }
    interrupt(job.id());
    let ended = Instant::now();
    let status = job.wait().unwrap();
    let mut log = String::new();
    std::io::Read::read_to_string(job.stderr.as_mut().unwrap(), &mut log).unwrap();
    let waited = ended.elapsed();
    assert!(
        waited < Duration::from_secs(60),
        "the job took {waited:?} to end"
    );
    (status, log)
}

fn signal(name: &str, pids: &[u32]) {
    let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .args(&pids)
        .status();
    assert!(status.unwrap().success());
}

/// Masked LM on the tiny model over 40 news lines, global batch 16, 10 steps, dropout off.
fn masked_lm(d: &Path, out: &str, batch: usize) -> PathBuf {
    let path = masked_lm_passes(d, out, batch, 1);
    without_dropout(&path);
    path
}

/// The same with dropout on, in passes of `batch` rows, `accumulation` passes per rank.
fn masked_lm_passes(d: &Path, out: &str, batch: usize, accumulation: usize) -> PathBuf {
    let text = format!(
        "task = \"masked-lm\"\noutput_dir = {out:?}\n{}[data]\ntrain = {:?}\nvalidation = {:?}\n\
         format = \"text\"\nline_by_line = true\nmax_seq_length = 48\nmax_train_rows = 40\n\
         max_eval_rows = 20\ncache_dir = {:?}\n[training]\nmax_steps = 10\nbatch_size = {batch}\n\
         gradient_accumulation_steps = {accumulation}\nlearning_rate = 1e-3\nwarmup_steps = 2\n\
         log_every_steps = 1\neval_every_steps = 5\n",
        tiny_model_table(&minilm().join("vocab.txt")),
        data("lee/train.txt").display().to_string(),
        data("lee/dev.txt").display().to_string(),
        d.join("cache").display().to_string(),
    );
    let path = d.join(format!("{out}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn without_dropout(config: &Path) {
    let text = std::fs::read_to_string(config).unwrap().replace(
        "[model.config]\n",
        "[model.config]\nhidden_dropout_prob = 0.0\nattention_probs_dropout_prob = 0.0\n",
    );
    std::fs::write(config, text).unwrap();
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The largest difference between two models' tensors (the same names in both).
fn weight_gap(a: &Path, b: &Path) -> f32 {
    let (a, b) = (
        Checkpoint::open_dir(a).unwrap(),
        Checkpoint::open_dir(b).unwrap(),
    );
    assert_eq!(
        a.tensors.keys().collect::<Vec<_>>(),
        b.tensors.keys().collect::<Vec<_>>()
    );
    let mut gap = 0f32;
    for (name, tensor) in &a.tensors {
        let x = tensor.to_f32(name).unwrap();
        let y = b.tensors[name].to_f32(name).unwrap();
        for (x, y) in x.iter().zip(&y) {
            gap = gap.max((x - y).abs());
        }
    }
    gap
}

fn validation_loss(out: &Path) -> f64 {
    read_json(&out.join("eval_results.json"))["loss"]
        .as_f64()
        .unwrap()
}

/// The SHA-256 of each rank's final weights, from train_results.json.
fn rank_digests(out: &Path) -> Vec<String> {
    let results = read_json(&out.join("train_results.json"));
    results["weights_sha256"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect()
}

/// Two output folders whose final weights agree within 1e-5, and validation losses too.
fn same_run(a: &Path, b: &Path) {
    let gap = weight_gap(&a.join("model"), &b.join("model"));
    assert!(gap < 1e-5, "weights differ by {gap}");
    let (x, y) = (validation_loss(a), validation_loss(b));
    assert!((x - y).abs() < 1e-5, "validation loss {x} against {y}");
}

/// Two ranks at batch 8 against one process at batch 16.
fn two_ranks_equal_one_process(make: fn(&Path, &str, usize) -> PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let one = make(d, "one", 16);
    ok(bert_train(d, &["fine-tune", "--config", path(&one)]));
    let two = make(d, "two", 8);
    let t = ok(run_mpi(d, 2, &["fine-tune", "--config", path(&two)]));
    assert!(t.contains("2 ranks, global batch 16"), "{t}");
    // Rank 0 alone reports: one summary line.
    assert_eq!(t.matches("done: 10 steps").count(), 1, "{t}");
    same_run(&d.join("one"), &d.join("two"));
    let digests = rank_digests(&d.join("two"));
    assert_eq!(digests.len(), 2);
    assert_eq!(digests[0], digests[1]);
    assert!(rank_digests(&d.join("one")).is_empty());
}

#[test]
fn two_ranks_train_sequence_classification_as_one_process_does() {
    two_ranks_equal_one_process(classification);
}

#[test]
fn two_ranks_train_masked_lm_as_one_process_does() {
    two_ranks_equal_one_process(masked_lm);
}

/// With dropout on, a pass draws its masks from its place in the global step, whichever rank
/// runs it: one process in 4 passes of 4 rows and 2 ranks in 2 passes each train the same
/// masked-LM run (rank 1's passes are the step's third and fourth).
#[test]
fn with_dropout_a_pass_draws_the_same_wherever_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let one = masked_lm_passes(d, "one", 4, 4);
    ok(bert_train(d, &["fine-tune", "--config", path(&one)]));
    let two = masked_lm_passes(d, "two", 4, 2);
    ok(run_mpi(d, 2, &["fine-tune", "--config", path(&two)]));
    same_run(&d.join("one"), &d.join("two"));
    // And dropout was on: without it the run ends elsewhere.
    let off = masked_lm_passes(d, "off", 4, 4);
    without_dropout(&off);
    ok(bert_train(d, &["fine-tune", "--config", path(&off)]));
    assert!(weight_gap(&d.join("one/model"), &d.join("off/model")) > 1e-4);
}

/// Steps of the complete checkpoints of a run.
fn checkpoint_steps(out: &Path) -> Vec<usize> {
    let mut steps: Vec<usize> = std::fs::read_dir(out.join("checkpoints"))
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str()?.strip_prefix("step-")?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    steps.sort();
    steps
}

/// The PIDs of `bert-train` processes whose parent is `parent` (mpirun's children).
fn children(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let ppid = rest.split(' ').nth(1).and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) && head.contains("(bert-train") {
            found.push(head.split(' ').next().unwrap().parse().unwrap());
        }
    }
    found.sort();
    found
}

#[test]
fn a_killed_rank_ends_the_job_and_the_run_resumes_on_two_ranks_or_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let whole = classification_for(d, "whole", 8, 8);
    ok(run_mpi(d, 2, &["fine-tune", "--config", path(&whole)]));
    let final_loss = validation_loss(&d.join("whole"));
    // Kill the second rank (not the one that writes).
    let (status, log) = interrupted(d, "cut", |job| {
        let ranks = children(job);
        assert_eq!(ranks.len(), 2, "{ranks:?}");
        signal("9", &ranks[1..]);
    });
    assert!(!status.success(), "{log}");
    assert!(log.contains("rank 1") || log.contains("signal 9"), "{log}");
    let steps = checkpoint_steps(&d.join("cut"));
    assert!(
        !steps.is_empty() && !d.join("cut/model").exists(),
        "{steps:?}"
    );

    // Resume on two ranks: the uninterrupted run's final loss; in one process at batch 16
    // (the same global batch) too. Another global batch is refused, naming it.
    for (name, np, batch, within) in [("two", 2, 8, 1e-6), ("one", 1, 16, 1e-5)] {
        let t = ok(resume_copy(d, name, np, batch));
        assert!(t.contains("resumed from step"), "{t}");
        let loss = validation_loss(&d.join(name));
        assert!(
            (loss - final_loss).abs() < within,
            "{name}: {loss} against {final_loss}"
        );
    }
    let t = failed(resume_copy(d, "other", 1, 8));
    assert!(
        t.contains("global batch") && t.contains("was 16, is now 8"),
        "{t}"
    );
}

/// SIGTERM to every rank, as Slurm stops a job: all ranks stop after the same step, rank 0
/// writes its checkpoint and says so once, the job exits with 143, and `--resume` ends where
/// the uninterrupted run ends.
#[test]
fn sigterm_stops_every_rank_after_the_same_step_and_resume_continues() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let whole = classification_for(d, "whole", 8, 8);
    ok(run_mpi(d, 2, &["fine-tune", "--config", path(&whole)]));
    let final_loss = validation_loss(&d.join("whole"));
    let (status, log) = interrupted(d, "cut", |job| signal("TERM", &children(job)));
    assert_eq!(status.code(), Some(143), "{log}");
    assert_eq!(log.matches("stopped at step").count(), 1, "{log}");
    assert_eq!(log.matches("SIGTERM: finishing").count(), 1, "{log}");
    let stopped: usize = log
        .split("stopped at step ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .unwrap();
    assert_eq!(
        checkpoint_steps(&d.join("cut")).last(),
        Some(&stopped),
        "{log}"
    );
    let t = ok(resume_copy(d, "two", 2, 8));
    assert!(t.contains(&format!("resumed from step {stopped}")), "{t}");
    let loss = validation_loss(&d.join("two"));
    assert!(
        (loss - final_loss).abs() < 1e-6,
        "{loss} against {final_loss}"
    );
}

/// `--resume` on `np` processes at `batch` in a copy of the interrupted run's folder.
fn resume_copy(d: &Path, name: &str, np: usize, batch: usize) -> Output {
    copy_dir(&d.join("cut"), &d.join(name));
    let config = classification_for(d, name, batch, 8);
    let args = ["fine-tune", "--config", path(&config), "--resume"];
    match np {
        1 => bert_train(d, &args),
        _ => run_mpi(d, np, &args),
    }
}

/// Rank 0 cannot write its first checkpoint (its output folder on a 6 MB tmpfs; mounting one
/// needs root): it says why, and the whole job ends with an error instead of leaving rank 1
/// waiting for it in the next exchange.
#[test]
fn a_rank_that_fails_alone_ends_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(disk) = SmallDisk::mount(&d.join("small")) else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let config = classification(d, "small/run", 8);
    let mut child = mpirun(d, 2, &["fine-tune", "--config", path(&config)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let begun = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if begun.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("the job did not end in 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(disk);
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(!status.success(), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        log.contains("error: rank 0")
            && log.contains("cannot write")
            && log.contains("No space left on device"),
        "{log}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .args(["-a", path(from), path(to)])
        .status()
        .unwrap();
    assert!(status.success());
    // The copied config.toml names the old output_dir only as a record; the lock is free.
}
