//! A training loop written by hand, without `bert-train fine-tune`: the pieces of bert-model,
//! bert-data and the `bert_train` library put together step by step.
//!
//!     cargo run --release -p bert-train --example custom_loop -- MODEL_DIR [TRAIN.csv]
//!
//! MODEL_DIR is a BERT checkpoint in the HF layout (e.g. models/all-MiniLM-L6-v2); TRAIN.csv has
//! `sentence` and `label` columns (default data/sentiment/train.csv, first 800 rows: 600 to train
//! on, 200 to evaluate).

use std::path::Path;

use bert_data::batch::Row;
use bert_data::batch::{BatchPlan, LabelSet};
use bert_data::readers::{read_text_examples, Format, OnBadRow, TextColumns};
use bert_data::{BertTokenizer, TokenizerOverrides, Truncation, TruncationStrategy};
use bert_model::{parse_device, BertConfig, Checkpoint};
use bert_train::config::Schedule;
use bert_train::data::{Example, Target};
use bert_train::optim::{clip_grad_norm, AdamW, LrSchedule};
use bert_train::task::{batch_of, evaluate, TaskModel};
use burn::module::Module;
use burn::optim::GradientsParams;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let model_dir = Path::new(
        args.get(1)
            .map(String::as_str)
            .unwrap_or("models/all-MiniLM-L6-v2"),
    );
    let train = args
        .get(2)
        .map(String::as_str)
        .unwrap_or("data/sentiment/train.csv");

    // 1. Data: read, tokenize, label.
    let tokenizer = BertTokenizer::from_dir(model_dir, &TokenizerOverrides::default())?;
    let columns = TextColumns {
        text: "sentence".into(),
        text_pair: None,
        label: Some("label".into()),
        regression: false,
    };
    let rows = read_text_examples(Path::new(train), Format::Csv, &columns, OnBadRow::Error)?.rows;
    let rows = &rows[..rows.len().min(800)];
    let labels = LabelSet::collect(rows.iter().filter_map(|r| match &r.label {
        Some(bert_data::readers::LabelValue::Class(c)) => Some(c.as_str()),
        _ => None,
    }));
    let truncation = Some(Truncation {
        max_length: 64,
        strategy: TruncationStrategy::LongestFirst,
    });
    let mut examples = Vec::new();
    for r in rows {
        let enc = tokenizer.encode(&r.text, None, truncation)?;
        let Some(bert_data::readers::LabelValue::Class(c)) = &r.label else {
            continue;
        };
        examples.push(Example {
            row: Row {
                ids: enc.ids,
                type_ids: enc.type_ids,
            },
            target: Target::Class(labels.id(c)? as i64),
            line: r.line,
        });
    }
    let (dev, train) = examples.split_at(examples.len() / 4);

    // 2. Model: the pretrained encoder plus a new classifier, on an autodiff device.
    let device = parse_device("cpu")?;
    let train_device = device.clone().autodiff();
    let mut config = BertConfig::from_file(model_dir.join("config.json"))?;
    config.num_labels = Some(labels.len());
    let checkpoint = Checkpoint::open_dir(model_dir)?;
    let (mut model, _) =
        TaskModel::from_checkpoint(false, &config, &checkpoint, &train_device, 42)?;

    // 3. The loop: seeded batches, loss, backward, clip, AdamW with a warmup schedule.
    let plan = BatchPlan {
        batch_size: 16,
        shuffle_seed: Some(42),
        group_by_length: false,
    };
    let lengths: Vec<usize> = train.iter().map(|e| e.row.ids.len()).collect();
    let epochs = 3;
    let total = lengths.len().div_ceil(16) * epochs;
    let schedule = LrSchedule {
        peak: 1e-4,
        warmup: total / 10,
        total,
        kind: Schedule::Linear,
    };
    let mut optim = AdamW::new(0.9, 0.999, 1e-8, 0.01);
    let pad = tokenizer.special_ids().pad;
    let mut step = 0;
    for epoch in 0..epochs {
        for indices in plan.batches(&lengths, epoch as u64) {
            let batch = batch_of(train, &indices, pad, &train_device);
            let loss = model.loss(&batch);
            let value = loss.clone().into_scalar::<f32>();
            let mut grads = GradientsParams::from_grads(loss.backward(), &model);
            clip_grad_norm(&model, &mut grads, 1.0);
            model = optim.step(schedule.rate(step), model, grads);
            step += 1;
            if step % 10 == 0 {
                println!("epoch {epoch} step {step}/{total} loss {value:.4}");
            }
        }
        // 4. Evaluation on a plain device (no autodiff, dropout off).
        let metrics = evaluate(&model.valid(), dev, 32, pad, Some(labels.names()), &device);
        println!("epoch {epoch}: {metrics:?}");
    }
    Ok(())
}
