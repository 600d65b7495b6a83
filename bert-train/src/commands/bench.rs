//! `bert-train bench`: time BertModel inference and one sequence-classification training step
//! (AdamW, gradient clipping by global norm 1.0) on each device, in the JSON layout of
//! `scripts/bench_torch.py` so the two sides sit in one table.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use bert_model::burn::prelude::{Device, Int, Tensor, TensorData};
use bert_model::{
    parse_device, BertConfig, BertForSequenceClassification, BertInput, BertModel, HfModel,
    OutputOptions, ParamSource, SequenceLabels,
};
use burn::optim::{GradientsParams, ModuleOptimizer};
use clap::Args;
use serde_json::{json, Value};

use super::io::write_atomically;
use bert_train::optim::{clip_grad_norm, AdamW};

/// Arguments of `bert-train bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// `base` (BERT-base), `minilm` (all-MiniLM-L6-v2's shape) or a config.json.
    #[arg(long, default_value = "base")]
    pub config: String,
    /// Sequences per batch.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Tokens per sequence.
    #[arg(long, default_value_t = 128)]
    pub seq: usize,
    /// Devices to measure, comma-separated (see `predict --device`).
    #[arg(long, default_value = "cpu", value_delimiter = ',')]
    pub devices: Vec<String>,
    /// Untimed iterations before timing.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Timed iterations.
    #[arg(long, default_value_t = 5)]
    pub iters: usize,
    /// Skip the training step.
    #[arg(long, conflicts_with = "train_only")]
    pub forward_only: bool,
    /// Skip the forward (for profiling the training step alone).
    #[arg(long)]
    pub train_only: bool,
    /// Also time the dense layers' matmuls alone (`[batch * seq, in] x [in, out]`, GFLOP/s).
    #[arg(long)]
    pub matmul: bool,
    /// Write the results (JSON) here as well as to stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

fn bench_config(name: &str) -> Result<BertConfig> {
    let mut config = BertConfig::default();
    match name {
        "base" => {}
        "minilm" => {
            config.hidden_size = 384;
            config.num_hidden_layers = 6;
            config.intermediate_size = 1536;
        }
        path => config = BertConfig::from_file(path)?,
    }
    config.num_labels = Some(2);
    Ok(config)
}

/// Seconds per iteration of `step`, after `warmup` untimed runs.
fn time(warmup: usize, iters: usize, mut step: impl FnMut()) -> Vec<f64> {
    for _ in 0..warmup {
        step();
    }
    (0..iters)
        .map(|_| {
            let start = Instant::now();
            step();
            start.elapsed().as_secs_f64()
        })
        .collect()
}

fn summary(name: &str, times: &[f64], batch: usize) -> Value {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
    };
    json!({
        "name": name,
        "median_s": median,
        "min_s": sorted[0],
        "mean_s": times.iter().sum::<f64>() / times.len() as f64,
        "seq_per_s": batch as f64 / median,
        "iters": times.len(),
    })
}

/// Peak resident memory of this process so far, in MiB (Linux `VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn random_input(config: &BertConfig, batch: usize, seq: usize, device: &Device) -> BertInput {
    // A fixed linear congruential sequence: the same ids on every device and run.
    let mut state = 42u64;
    let low = 1000.min(config.vocab_size as u64 - 1);
    let ids: Vec<i64> = (0..batch * seq)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (low + (state >> 33) % (config.vocab_size as u64 - low)) as i64
        })
        .collect();
    let make = |v: Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(v, [batch, seq]), device);
    BertInput {
        input_ids: make(ids),
        attention_mask: Some(make(vec![1; batch * seq])),
        token_type_ids: Some(make(vec![0; batch * seq])),
    }
}

fn bench_device(args: &BenchArgs, config: &BertConfig, name: &str) -> Result<Value> {
    let device = parse_device(name)?;
    let mut results = Vec::new();
    if args.matmul {
        results.extend(bench_matmuls(args, config, &device));
    }
    if !args.train_only {
        results.push(bench_forward(args, config, &device));
    }
    let rss_inference = peak_rss_mib();
    let mut losses = Vec::new();
    if !args.forward_only {
        results.push(bench_train_step(args, config, &device, &mut losses)?);
    }
    Ok(json!({
        "device": name,
        "results": results,
        "train_losses": losses,
        "max_rss_after_inference_mib": rss_inference,
        "max_rss_mib": peak_rss_mib(),
    }))
}

/// The f32 matmuls of the dense layers, alone: query/key/value/output, intermediate, output,
/// each as the forward makes it (`x w`) and as the backward does (`g w^T` for the input's
/// gradient, `x^T g` for the weight's, both on transposed views as autodiff passes them).
fn bench_matmuls(args: &BenchArgs, config: &BertConfig, device: &Device) -> Vec<Value> {
    let (h, i, rows) = (
        config.hidden_size,
        config.intermediate_size,
        args.batch * args.seq,
    );
    let make = |r: usize, c: usize| {
        let v: Vec<f32> = (0..r * c).map(|j| (j % 1000) as f32 / 1000.0).collect();
        Tensor::<2>::from_data(TensorData::new(v, [r, c]), device)
    };
    let mut results = Vec::new();
    for (inner, out) in [(h, h), (h, i), (i, h)] {
        let (x, w, g) = (make(rows, inner), make(inner, out), make(rows, out));
        let products: [(String, Tensor<2>, Tensor<2>); 3] = [
            (format!("matmul-{rows}x{inner}x{out}"), x.clone(), w.clone()),
            (
                format!("matmul-dx-{rows}x{out}x{inner}"),
                g.clone(),
                w.transpose(),
            ),
            (format!("matmul-dw-{inner}x{rows}x{out}"), x.transpose(), g),
        ];
        for (name, a, b) in products {
            let times = time(args.warmup, args.iters.max(10), || {
                let _ = a.clone().matmul(b.clone()).into_data();
            });
            let mut result = summary(&name, &times, 1);
            let flops = 2.0 * (rows * inner * out) as f64;
            result["gflop_per_s"] = json!(flops / result["median_s"].as_f64().unwrap_or(1.0) / 1e9);
            results.push(result);
        }
    }
    results
}

/// `BertModel` forward without gradients.
fn bench_forward(args: &BenchArgs, config: &BertConfig, device: &Device) -> Value {
    let input = random_input(config, args.batch, args.seq, device);
    let model = BertModel::new(config, device, 0);
    let times = time(args.warmup, args.iters, || {
        let out = model.forward(&input, OutputOptions::default());
        // Reading the result back waits for the device.
        let _ = out.last_hidden_state.into_data();
    });
    summary("forward", &times, args.batch)
}

/// One `BertForSequenceClassification` training step: forward with labels, backward, clipping,
/// AdamW. Pushes each step's loss to `losses`.
fn bench_train_step(
    args: &BenchArgs,
    config: &BertConfig,
    device: &Device,
    losses: &mut Vec<f32>,
) -> Result<Value> {
    let train_device = device.clone().autodiff();
    let mut source = ParamSource::random(&train_device, config.initializer_range, 0);
    let mut model = Some(BertForSequenceClassification::build(config, &mut source)?);
    let input = random_input(config, args.batch, args.seq, &train_device);
    let labels: Vec<i64> = (0..args.batch as i64).map(|i| i % 2).collect();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [args.batch]), &train_device);
    // The AdamW of `fine-tune` (torch's defaults, weight decay 0.01).
    let mut optimizer = ModuleOptimizer::from(AdamW {
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
        weight_decay: 0.01,
    });
    // Seconds of each phase per step: forward (with the loss read back), backward, clipping,
    // optimizer. On an asynchronous device a phase may include earlier phases' queued work.
    let mut phases: Vec<[f64; 4]> = Vec::new();
    let times = time(args.warmup, args.iters, || {
        let current = model.take().expect("model present");
        let mut clock = PhaseClock::start();
        let out = current.forward(
            &input,
            Some(SequenceLabels::Classes(labels.clone())),
            OutputOptions::default(),
        );
        let loss = out.loss.expect("labels given");
        losses.push(loss.clone().into_scalar::<f32>());
        let forward = clock.lap();
        let mut grads = GradientsParams::from_grads(loss.backward(), &current);
        let backward = clock.lap();
        clip_grad_norm(&current, &mut grads, 1.0);
        let clip = clock.lap();
        model = Some(optimizer.step(2e-5, current, grads));
        phases.push([forward, backward, clip, clock.lap()]);
    });
    let mut result = summary("train-step", &times, args.batch);
    let timed = &phases[phases.len() - times.len()..];
    for (i, name) in ["forward", "backward", "clip", "optimizer"]
        .iter()
        .enumerate()
    {
        let phase: Vec<f64> = timed.iter().map(|p| p[i]).collect();
        result[format!("{name}_median_s")] = summary(name, &phase, 1)["median_s"].clone();
    }
    Ok(result)
}

/// Seconds between successive laps.
struct PhaseClock(Instant);

impl PhaseClock {
    fn start() -> Self {
        PhaseClock(Instant::now())
    }

    fn lap(&mut self) -> f64 {
        let now = Instant::now();
        let seconds = (now - self.0).as_secs_f64();
        self.0 = now;
        seconds
    }
}

/// Runs `bert-train bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    if args.iters == 0 || args.batch == 0 || args.seq == 0 {
        bail!("--iters, --batch and --seq must be at least 1");
    }
    let config = bench_config(&args.config)?;
    if args.seq > config.max_position_embeddings {
        bail!(
            "--seq {} exceeds max_position_embeddings {}",
            args.seq,
            config.max_position_embeddings
        );
    }
    let mut devices = Vec::new();
    for name in &args.devices {
        eprintln!("bench: {name} ...");
        devices.push(bench_device(args, &config, name).with_context(|| format!("device {name}"))?);
    }
    let report = json!({
        "framework": "bert-rs (burn 0.22.1)",
        "config": args.config,
        "batch": args.batch,
        "seq": args.seq,
        "warmup": args.warmup,
        "iters": args.iters,
        "architecture": BertForSequenceClassification::ARCHITECTURE,
        "devices": devices,
    });
    let text = serde_json::to_string_pretty(&report)?;
    println!("{text}");
    if let Some(path) = &args.out {
        write_atomically(path, |out| {
            std::io::Write::write_all(out, text.as_bytes())?;
            Ok(())
        })?;
    }
    Ok(())
}
