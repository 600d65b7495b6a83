//! A training loop written by hand over a task module, without `bert-train fine-tune`: the
//! task reads and batches the data and owns the head and loss; the loop, the optimizer and the
//! schedule are here.
//!
//!     cargo run --release -p bert-train --example custom_loop -- MODEL_DIR [TRAIN.csv]
//!
//! Built with `--features mpi` and started by `mpirun -np N`, it trains data-parallel: each rank
//! takes its share of every batch of 16 rows, the ranks sum their gradients
//! ([`Ranks::all_reduce_gradients`]) and all apply the same update.
//!
//! MODEL_DIR is a BERT checkpoint in the HF layout (e.g. models/all-MiniLM-L6-v2); TRAIN.csv has
//! `sentence` and `label` columns (default data/sentiment/train.csv: 600 rows to train on, and
//! data/sentiment/dev.csv, 200 rows to evaluate).

use std::path::Path;

use bert_data::batch::BatchPlan;
use bert_data::{BertTokenizer, TokenizerOverrides};
use bert_model::{from_checkpoint, parse_device, BertConfig, Checkpoint};
use bert_train::config::{FineTuneConfig, ModelSource, Schedule};
use bert_train::distributed::Ranks;
use bert_train::optim::{clip_grad_norm, AdamW, LrSchedule};
use bert_train::tasks::sequence_classification::{self, SequenceClassification};
use bert_train::tasks::{batch_rng, evaluate, LoadContext, Task, TaskConfig};
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One process, unless an MPI launcher started this one.
    let ranks = Ranks::from_launcher()?;
    let args: Vec<String> = std::env::args().collect();
    let model_dir = Path::new(
        args.get(1)
            .map_or("models/all-MiniLM-L6-v2", String::as_str),
    );
    let train = args
        .get(2)
        .map_or("data/sentiment/train.csv", String::as_str);

    // 1. Data: the task module reads, tokenizes and labels the files named by a config, here
    // built in code (the same structs a TOML file fills).
    let columns = sequence_classification::Columns {
        text_column: "sentence".into(),
        ..Default::default()
    };
    let task_config = sequence_classification::Config {
        data: columns,
        ..Default::default()
    };
    let task = SequenceClassification::new(&task_config);
    let model = ModelSource::pretrained(model_dir.to_string_lossy());
    let task_config = TaskConfig::SequenceClassification(task_config);
    let mut config = FineTuneConfig::new(task_config, model, "unused");
    config.data.train = train.into();
    config.data.validation = Some("data/sentiment/dev.csv".into());
    config.data.max_seq_length = 64;
    config.data.max_train_rows = Some(600);
    config.data.max_eval_rows = Some(200);
    config.check()?;
    let tokenizer = BertTokenizer::from_dir(model_dir, &TokenizerOverrides::default())?;
    let data = task.load(&LoadContext {
        config: &config,
        tokenizer: &tokenizer,
        trained_labels: None,
        with_train: true,
        progress: false,
    })?;
    let (train, dev) = (
        &data.train.features,
        &data.validation.as_ref().unwrap().features,
    );

    // 2. Model: the pretrained encoder plus a new classifier, on an autodiff device.
    let device = parse_device("cpu")?;
    let train_device = device.clone().autodiff();
    let base = BertConfig::from_file(model_dir.join("config.json"))?;
    let model_config = task.model_config(base, data.labels.as_ref());
    let checkpoint = Checkpoint::open_dir(model_dir)?;
    let (model, _) = from_checkpoint::<<SequenceClassification as Task>::Model>(
        &model_config,
        &checkpoint,
        &train_device,
        42,
    )?;
    // Every rank starts from rank 0's weights.
    let mut model = ranks.broadcast_module(model, 0);

    // 3. The loop: seeded batches, loss, backward, clip, AdamW with a warmup schedule.
    let plan = BatchPlan {
        batch_size: 16,
        shuffle_seed: Some(42),
        group_by_length: false,
    };
    let lengths: Vec<usize> = train.iter().map(SequenceClassification::length).collect();
    let epochs = 3;
    let total = lengths.len().div_ceil(16) * epochs;
    let schedule = LrSchedule {
        peak: 1e-4,
        warmup: total / 10,
        total,
        kind: Schedule::Linear,
    };
    let mut optim = ModuleOptimizer::from(AdamW {
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
        weight_decay: 0.01,
    });
    let pad = tokenizer.special_ids().pad;
    let mut step = 0;
    for epoch in 0..epochs {
        for indices in plan.batches(&lengths, epoch as u64) {
            // This rank's contiguous share of the batch; its mean loss weighted by its share of
            // the rows, so that the ranks' gradients sum to those of the whole batch's mean.
            let part = indices.len().div_ceil(ranks.world_size());
            let mine = indices.chunks(part).nth(ranks.rank()).unwrap_or(&[]);
            let mut value = [0.0];
            let mut grads = GradientsParams::new();
            if !mine.is_empty() {
                let host = task.gather(train, mine, &mut batch_rng(42, step, 0));
                let batch = task.to_device(&host, pad, &train_device);
                let (loss, _) = task.forward(&model, &batch, false);
                let loss = loss.mul_scalar(mine.len() as f64 / indices.len() as f64);
                value[0] = loss.clone().into_scalar::<f32>() as f64;
                grads = GradientsParams::from_grads(loss.backward(), &model);
            }
            let mut grads = ranks.all_reduce_gradients(&model, grads);
            ranks.sum(&mut value);
            clip_grad_norm(&model, &mut grads, 1.0);
            model = optim.step(schedule.rate(step), model, grads);
            step += 1;
            if step % 10 == 0 && ranks.is_main() {
                println!("epoch {epoch} step {step}/{total} loss {:.4}", value[0]);
            }
        }
        // 4. Evaluation on a plain device (no autodiff, dropout off).
        let labels = data.labels.as_ref();
        if ranks.is_main() {
            let metrics = evaluate(&task, &model.valid(), dev, 32, pad, labels, &device);
            println!("epoch {epoch}: {metrics:?}");
        }
    }
    Ok(())
}
