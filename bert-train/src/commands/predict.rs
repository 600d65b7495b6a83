//! `bert-train predict`: run any BERT head over a JSONL file, one output line per input line.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use bert_data::tokenizer::{
    BertTokenizer, Encoding, TokenizerOverrides, Truncation, TruncationStrategy, WindowOptions,
};
use bert_model::burn::prelude::{Device, Tensor};
use bert_model::params::host_values;
use bert_model::{
    from_pretrained, parse_device, resolve_model_dir, BertConfig, BertForMaskedLM,
    BertForMultipleChoice, BertForNextSentencePrediction, BertForPreTraining,
    BertForQuestionAnswering, BertForSequenceClassification, BertForTokenClassification, BertInput,
    BertModel, HfModel, OutputOptions, ProblemType,
};
use bert_train::metrics::entities;
use bert_train::tasks::argmax;
use bert_train::tasks::question_answering::answers::{self, AnswerOptions, Logits};
use bert_train::tasks::question_answering::split_logits;
use bert_train::tasks::question_answering::windows::{Question, Window};
use clap::{Args, ValueEnum};
use serde_json::{json, Map, Value};

use super::io::write_atomically;

/// What `predict` computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Task {
    /// Encoder outputs: `last_hidden` and `pooled`.
    Features,
    /// Top tokens for each [MASK].
    FillMask,
    /// Next-sentence logits for a pair.
    NextSentence,
    /// Both pretraining heads.
    Pretraining,
    /// A label (or a score) per text or pair.
    SequenceClassification,
    /// A label per token, and entities.
    TokenClassification,
    /// The answer span of `question` in `context`.
    QuestionAnswering,
    /// The best of `choices` for `context`.
    MultipleChoice,
}

impl Task {
    /// The task a checkpoint was saved for, from config.json `architectures`.
    fn from_architectures(config: &BertConfig) -> Task {
        let first = config
            .architectures
            .as_ref()
            .and_then(|a| a.first())
            .map(String::as_str);
        let heads = [
            (BertForMaskedLM::ARCHITECTURE, Task::FillMask),
            (
                BertForNextSentencePrediction::ARCHITECTURE,
                Task::NextSentence,
            ),
            (BertForPreTraining::ARCHITECTURE, Task::Pretraining),
            (
                BertForSequenceClassification::ARCHITECTURE,
                Task::SequenceClassification,
            ),
            (
                BertForTokenClassification::ARCHITECTURE,
                Task::TokenClassification,
            ),
            (
                BertForQuestionAnswering::ARCHITECTURE,
                Task::QuestionAnswering,
            ),
            (BertForMultipleChoice::ARCHITECTURE, Task::MultipleChoice),
        ];
        heads
            .into_iter()
            .find(|(name, _)| Some(*name) == first)
            .map_or(Task::Features, |(_, task)| task)
    }
}

/// Arguments of `bert-train predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A model directory in the HF layout, or a hub id found in the HF cache.
    #[arg(long, value_name = "DIR_OR_ID")]
    pub model: String,
    /// The task [default: from config.json `architectures`; `features` for a bare encoder].
    #[arg(long, value_enum)]
    pub task: Option<Task>,
    /// Input JSONL: `text` (and optional `text_pair`); `question` and `context` for
    /// question-answering; `context` and `choices` (a list) for multiple-choice.
    #[arg(long, value_name = "IN.jsonl")]
    pub input: PathBuf,
    /// Output JSONL: each input object plus the task's outputs. Written only if every line
    /// succeeds.
    #[arg(long, value_name = "OUT.jsonl")]
    pub output: PathBuf,
    /// cpu, ndarray, flex, wgpu, tch, tch-cuda:N or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Rows per forward pass (padded to the longest row of the batch).
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Truncate inputs to this many tokens [default: the tokenizer's model_max_length, at
    /// most max_position_embeddings].
    #[arg(long, value_name = "N")]
    pub max_seq_length: Option<usize>,
    /// Also write the full logits (fill-mask).
    #[arg(long)]
    pub raw: bool,
    /// Question answering: windows and post-processing.
    #[command(flatten)]
    pub qa: QaArgs,
}

/// The options of `predict --task question-answering` (the reference scripts' defaults).
#[derive(Args, Debug)]
pub struct QaArgs {
    /// Context tokens shared by consecutive windows of a long context (at most half of what a
    /// window holds of the context).
    #[arg(long, default_value_t = 128)]
    pub doc_stride: usize,
    /// Questions are cut to this many tokens.
    #[arg(long, default_value_t = 64)]
    pub max_query_length: usize,
    /// The longest answer, in tokens.
    #[arg(long, default_value_t = 30)]
    pub max_answer_length: usize,
    /// Starts and ends considered per window.
    #[arg(long, default_value_t = 20)]
    pub n_best_size: usize,
    /// The model can say "no answer" (SQuAD v2): answer "" when the null score beats the best
    /// span by more than --null-score-diff-threshold.
    #[arg(long)]
    pub version_2_with_negative: bool,
    /// See --version-2-with-negative.
    #[arg(long, default_value_t = 0.0)]
    pub null_score_diff_threshold: f64,
}

/// One input line, encoded.
struct Example {
    fields: Map<String, Value>,
    /// One encoding per row the model sees (several for multiple choice).
    rows: Vec<Encoding>,
    /// The texts the character offsets refer to: (first, second).
    texts: (String, Option<String>),
}

/// Runs `bert-train predict`.
pub fn run(args: &PredictArgs) -> Result<()> {
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let device = parse_device(&args.device)?;
    let dir = resolve_model_dir(&args.model)?;
    let config = BertConfig::from_file(dir.join("config.json"))?;
    let task = args
        .task
        .unwrap_or_else(|| Task::from_architectures(&config));
    let tokenizer = BertTokenizer::from_dir(&dir, &TokenizerOverrides::default())
        .with_context(|| format!("cannot load the tokenizer of {}", dir.display()))?;
    let max_len = match args.max_seq_length {
        Some(n) if n > config.max_position_embeddings => bail!(
            "--max-seq-length {n} exceeds the model's max_position_embeddings ({})",
            config.max_position_embeddings
        ),
        Some(n) if n < 3 => bail!("--max-seq-length must be at least 3, found {n}"),
        Some(n) => n,
        None => tokenizer
            .model_max_length()
            .unwrap_or(config.max_position_embeddings)
            .min(config.max_position_embeddings),
    };
    if args.qa.max_answer_length == 0 || args.qa.n_best_size == 0 || args.qa.max_query_length == 0 {
        bail!("--max-answer-length, --n-best-size and --max-query-length must be at least 1");
    }
    let examples = read_examples(&args.input, task, &tokenizer, max_len, &args.qa)?;
    let ctx = Ctx {
        examples: &examples,
        batch_size: args.batch_size,
        tokenizer: &tokenizer,
        device: &device,
        dir: &dir.to_string_lossy(),
        config: &config,
        raw: args.raw,
        answers: AnswerOptions {
            n_best_size: args.qa.n_best_size,
            max_answer_length: args.qa.max_answer_length,
            version_2_with_negative: args.qa.version_2_with_negative,
            null_score_diff_threshold: args.qa.null_score_diff_threshold,
        },
    };
    let outputs = match task {
        Task::Features => features(&ctx)?,
        Task::FillMask => fill_mask(&ctx)?,
        Task::NextSentence => next_sentence(&ctx)?,
        Task::Pretraining => pretraining(&ctx)?,
        Task::SequenceClassification => sequence_classification(&ctx)?,
        Task::TokenClassification => token_classification(&ctx)?,
        Task::QuestionAnswering => question_answering(&ctx)?,
        Task::MultipleChoice => multiple_choice_outputs(&ctx)?,
    };
    write_atomically(&args.output, |out| {
        for (example, extra) in examples.iter().zip(outputs) {
            let mut object = example.fields.clone();
            if let Value::Object(extra) = extra {
                object.extend(extra);
            }
            serde_json::to_writer(&mut *out, &Value::Object(object))?;
            out.write_all(b"\n")?;
        }
        Ok(())
    })
}

/// What every head's predict step reads.
struct Ctx<'a> {
    examples: &'a [Example],
    batch_size: usize,
    tokenizer: &'a BertTokenizer,
    device: &'a Device,
    dir: &'a str,
    config: &'a BertConfig,
    raw: bool,
    answers: AnswerOptions,
}

/// `predict --task features`: encoder outputs: `last_hidden` and `pooled`.
fn features(ctx: &Ctx) -> Result<Vec<Value>> {
    let model = load::<BertModel>(ctx.dir, ctx.device)?;
    batched(
        ctx,
        |input| {
            let out = model.forward(&input, OutputOptions::default());
            let pooled = out.pooler_output.map(host);
            (host(out.last_hidden_state), pooled)
        },
        |example, (hidden, pooled), r| {
            let [_, seq, h] = hidden.1;
            let len = example.rows[0].len();
            let mut out = json!({"last_hidden": rows_of(&hidden.0[r * seq * h..], len, h)});
            if let Some(pooled) = pooled {
                let h = pooled.1[1];
                out["pooled"] = json!(pooled.0[r * h..(r + 1) * h]);
            }
            out
        },
    )
}

/// `predict --task fill-mask`: the top tokens of each [MASK].
fn fill_mask(ctx: &Ctx) -> Result<Vec<Value>> {
    let model = load::<BertForMaskedLM>(ctx.dir, ctx.device)?;
    let mask_id = ctx.tokenizer.special_ids().mask;
    batched(
        ctx,
        |input| host(model.forward(&input, None, OutputOptions::default()).logits),
        |example, logits, r| {
            let [_, seq, vocab] = logits.1;
            let row = &logits.0[r * seq * vocab..];
            let enc = &example.rows[0];
            let mut predictions = Vec::new();
            for (pos, &id) in enc.ids.iter().enumerate() {
                if id != mask_id {
                    continue;
                }
                let probs = softmax(&row[pos * vocab..(pos + 1) * vocab]);
                let top: Vec<Value> = top_k(&probs, 5)
                    .into_iter()
                    .map(|(i, p)| {
                        json!({"token": ctx.tokenizer.id_to_token(i as u32), "id": i, "score": p})
                    })
                    .collect();
                predictions.push(json!({"position": pos, "tokens": top}));
            }
            let mut out = json!({"predictions": predictions});
            if ctx.raw {
                out["logits"] = json!(rows_of(row, enc.len(), vocab));
            }
            out
        },
    )
}

/// `predict --task next-sentence`: next-sentence logits and the verdict.
fn next_sentence(ctx: &Ctx) -> Result<Vec<Value>> {
    let model = load::<BertForNextSentencePrediction>(ctx.dir, ctx.device)?;
    batched(
        ctx,
        |input| host(model.forward(&input, None, OutputOptions::default()).logits),
        |_, logits, r| {
            let row = &logits.0[r * 2..r * 2 + 2];
            json!({"logits": row, "is_next": row[0] >= row[1]})
        },
    )
}

/// `predict --task pretraining`: both pretraining heads' logits.
fn pretraining(ctx: &Ctx) -> Result<Vec<Value>> {
    let model = load::<BertForPreTraining>(ctx.dir, ctx.device)?;
    batched(
        ctx,
        |input| {
            let out = model.forward(&input, None, OutputOptions::default());
            (
                host(out.prediction_logits),
                host(out.seq_relationship_logits),
            )
        },
        |example, (mlm, nsp), r| {
            let [_, seq, vocab] = mlm.1;
            let len = example.rows[0].len();
            json!({
                "mlm_logits": rows_of(&mlm.0[r * seq * vocab..], len, vocab),
                "nsp_logits": nsp.0[r * 2..r * 2 + 2],
            })
        },
    )
}

/// `predict --task sequence-classification`: a label (or scores) per text or pair.
fn sequence_classification(ctx: &Ctx) -> Result<Vec<Value>> {
    let model = load::<BertForSequenceClassification>(ctx.dir, ctx.device)?;
    let problem = ProblemType::of(ctx.config, true);
    batched(
        ctx,
        |input| host(model.forward(&input, None, OutputOptions::default()).logits),
        |_, logits, r| {
            let n = logits.1[1];
            let row = &logits.0[r * n..(r + 1) * n];
            match problem {
                ProblemType::Regression => json!({"logits": row, "score": row[0]}),
                ProblemType::MultiLabel => {
                    let scores: Vec<f32> = row.iter().map(|&x| sigmoid(x)).collect();
                    let labels: Vec<String> = (0..n)
                        .filter(|&i| scores[i] > 0.5)
                        .map(|i| ctx.config.label_name(i))
                        .collect();
                    json!({"logits": row, "scores": scores, "labels": labels})
                }
                ProblemType::SingleLabel => {
                    let probs = softmax(row);
                    let best = argmax(&probs);
                    json!({"logits": row, "label": ctx.config.label_name(best), "score": probs[best]})
                }
            }
        },
    )
}

/// `predict --task token-classification`: a tag per token, and the entities.
fn token_classification(ctx: &Ctx) -> Result<Vec<Value>> {
    let model = load::<BertForTokenClassification>(ctx.dir, ctx.device)?;
    batched(
        ctx,
        |input| host(model.forward(&input, None, OutputOptions::default()).logits),
        |example, logits, r| token_output(example, logits, r, ctx.tokenizer, ctx.config),
    )
}

/// `predict --task question-answering`: every window of a long context, post-processed as in
/// evaluation: the answer, the null score, and each window's start and end logits.
fn question_answering(ctx: &Ctx) -> Result<Vec<Value>> {
    let model = load::<BertForQuestionAnswering>(ctx.dir, ctx.device)?;
    let pad = ctx.tokenizer.special_ids().pad;
    let rows: Vec<&Encoding> = ctx.examples.iter().flat_map(|e| &e.rows).collect();
    let mut logits: Vec<Logits> = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(ctx.batch_size) {
        let pairs: Vec<(Vec<u32>, Vec<u32>)> = chunk
            .iter()
            .map(|r| (r.ids.clone(), r.type_ids.clone()))
            .collect();
        let out = model.forward(
            &BertInput::from_rows(&pairs, pad, ctx.device),
            None,
            OutputOptions::default(),
        );
        let lengths: Vec<usize> = chunk.iter().map(|r| r.len()).collect();
        logits.extend(split_logits(out.start_logits, out.end_logits, &lengths));
    }
    let mut logits = logits.into_iter();
    let mut outputs = Vec::with_capacity(ctx.examples.len());
    for (index, example) in ctx.examples.iter().enumerate() {
        let question = Arc::new(Question {
            id: index.to_string(),
            index,
            line: index + 1,
            context: example.texts.1.clone().unwrap_or_default(),
            answers: Vec::new(),
        });
        let windows: Vec<Window> = example
            .rows
            .iter()
            .map(|r| Window::new(&question, r.clone(), None))
            .collect();
        let ls: Vec<Logits> = logits.by_ref().take(windows.len()).collect();
        let refs: Vec<&Window> = windows.iter().collect();
        let prediction = answers::predict(&refs, &ls, ctx.answers);
        let answer = &prediction.answer;
        outputs.push(json!({
            "answer": {"text": answer.text, "start": answer.start, "end": answer.end,
                       "score": answer.score},
            "null_score": prediction.null_score,
            "start_logits": ls.iter().map(|l| &l.0).collect::<Vec<_>>(),
            "end_logits": ls.iter().map(|l| &l.1).collect::<Vec<_>>(),
        }));
    }
    Ok(outputs)
}

/// `predict --task multiple-choice`: the logits and the best choice.
fn multiple_choice_outputs(ctx: &Ctx) -> Result<Vec<Value>> {
    let model = load::<BertForMultipleChoice>(ctx.dir, ctx.device)?;
    multiple_choice(
        &model,
        ctx.examples,
        ctx.batch_size,
        ctx.tokenizer,
        ctx.device,
    )
}

fn load<M: HfModel>(dir: &str, device: &Device) -> Result<M> {
    let loaded = from_pretrained::<M>(dir, device, 0)?;
    if !loaded.report.initialized.is_empty() {
        eprintln!(
            "warning: {} has no trained {} head; these tensors are random: {}",
            dir,
            M::ARCHITECTURE,
            loaded.report.initialized.join(", ")
        );
    }
    Ok(loaded.model)
}

/// A tensor on the host: values and shape.
type Host<const D: usize> = (Vec<f32>, [usize; D]);

fn host<const D: usize>(t: Tensor<D>) -> Host<D> {
    let dims = t.dims();
    (host_values(t), dims)
}

fn rows_of(values: &[f32], rows: usize, width: usize) -> Vec<&[f32]> {
    (0..rows)
        .map(|i| &values[i * width..(i + 1) * width])
        .collect()
}

/// Runs the examples (one row each) in batches of `batch_size` and formats each result.
fn batched<T>(
    ctx: &Ctx,
    forward: impl Fn(BertInput) -> T,
    format: impl Fn(&Example, &T, usize) -> Value,
) -> Result<Vec<Value>> {
    let (examples, device) = (ctx.examples, ctx.device);
    let pad = ctx.tokenizer.special_ids().pad;
    let mut outputs = Vec::with_capacity(examples.len());
    for chunk in examples.chunks(ctx.batch_size) {
        let rows: Vec<(Vec<u32>, Vec<u32>)> = chunk
            .iter()
            .map(|e| (e.rows[0].ids.clone(), e.rows[0].type_ids.clone()))
            .collect();
        let input = BertInput::from_rows(&rows, pad, device);
        let result = forward(input);
        for (r, example) in chunk.iter().enumerate() {
            outputs.push(format(example, &result, r));
        }
    }
    Ok(outputs)
}

fn multiple_choice(
    model: &BertForMultipleChoice,
    examples: &[Example],
    batch_size: usize,
    tokenizer: &BertTokenizer,
    device: &Device,
) -> Result<Vec<Value>> {
    let pad = tokenizer.special_ids().pad;
    let mut outputs = Vec::with_capacity(examples.len());
    // Examples with the same number of choices go through the model together.
    for chunk in examples.chunks(batch_size) {
        let mut start = 0;
        while start < chunk.len() {
            let choices = chunk[start].rows.len();
            let mut end = start;
            while end < chunk.len() && chunk[end].rows.len() == choices {
                end += 1;
            }
            let rows: Vec<(Vec<u32>, Vec<u32>)> = chunk[start..end]
                .iter()
                .flat_map(|e| e.rows.iter().map(|r| (r.ids.clone(), r.type_ids.clone())))
                .collect();
            let input = BertInput::from_rows(&rows, pad, device);
            let logits = host(
                model
                    .forward(&input, choices, None, OutputOptions::default())
                    .logits,
            );
            for r in 0..end - start {
                let row = &logits.0[r * choices..(r + 1) * choices];
                outputs.push(json!({"logits": row, "choice": argmax(row)}));
            }
            start = end;
        }
    }
    Ok(outputs)
}

fn token_output(
    example: &Example,
    logits: &Host<3>,
    r: usize,
    tokenizer: &BertTokenizer,
    config: &BertConfig,
) -> Value {
    let [_, seq, n] = logits.1;
    let enc = &example.rows[0];
    let len = enc.len();
    let row = &logits.0[r * seq * n..];
    let tokens: Vec<String> = enc
        .ids
        .iter()
        .map(|&id| tokenizer.id_to_token(id).unwrap_or("[UNK]").to_string())
        .collect();
    let mut labels = Vec::with_capacity(len);
    let mut scores = Vec::with_capacity(len);
    for pos in 0..len {
        let probs = softmax(&row[pos * n..(pos + 1) * n]);
        let best = argmax(&probs);
        labels.push(config.label_name(best));
        scores.push(probs[best]);
    }
    // Words take the tag of their first piece (as transformers' NER training labels them).
    let text: Vec<char> = example.texts.0.chars().collect();
    let mut words: Vec<(String, f32, usize, usize)> = Vec::new();
    let mut last_word = None;
    for pos in 0..len {
        let (Some(word), Some(0)) = (enc.word_ids[pos], enc.sequence_ids[pos]) else {
            continue;
        };
        let (start, end) = enc.offsets[pos];
        if last_word == Some(word) {
            if let Some(w) = words.last_mut() {
                w.3 = end;
            }
        } else {
            words.push((labels[pos].clone(), scores[pos], start, end));
        }
        last_word = Some(word);
    }
    let entities = group_entities(&words, &text);
    json!({
        "tokens": tokens,
        "logits": rows_of(row, len, n),
        "labels": labels,
        "entities": entities,
    })
}

/// Groups word tags into entities with the decoder the entity metrics use
/// ([`bert_train::metrics::entities`], seqeval's default rules), with each entity's text, its
/// character offsets and the mean score of its words.
fn group_entities(words: &[(String, f32, usize, usize)], text: &[char]) -> Vec<Value> {
    let tags: Vec<&str> = words.iter().map(|w| w.0.as_str()).collect();
    entities(&[tags])
        .into_iter()
        .map(|(kind, first, last)| {
            let (start, end) = (words[first].2, words[last].3);
            let span: String = text[start.min(text.len())..end.min(text.len())]
                .iter()
                .collect();
            let scores: Vec<f32> = words[first..=last].iter().map(|w| w.1).collect();
            let score = scores.iter().sum::<f32>() / scores.len() as f32;
            json!({"entity": kind, "text": span, "start": start, "end": end, "score": score})
        })
        .collect()
}

fn softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = row.iter().map(|&x| (x - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The `k` largest values with their indices, largest first (ties: lower index first).
fn top_k(row: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut indexed: Vec<(usize, f32)> = row.iter().cloned().enumerate().collect();
    indexed.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    indexed.truncate(k);
    indexed
}

fn read_examples(
    path: &Path,
    task: Task,
    tokenizer: &BertTokenizer,
    max_len: usize,
    qa: &QaArgs,
) -> Result<Vec<Example>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut examples = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let at = || format!("{}:{}", path.display(), index + 1);
        let line = line.with_context(|| format!("cannot read {}", at()))?;
        if line.trim().is_empty() {
            bail!("{}: empty line (expected a JSON object)", at());
        }
        let value: Value =
            serde_json::from_str(&line).map_err(|e| anyhow!("{}: not a JSON object: {e}", at()))?;
        let Value::Object(fields) = value else {
            bail!("{}: expected a JSON object", at());
        };
        let example = encode_example(fields, task, tokenizer, max_len, qa)
            .map_err(|e| anyhow!("{}: {e}", at()))?;
        examples.push(example);
    }
    Ok(examples)
}

/// The windows of a question over its context; the stride is at most half of what a window
/// holds of the context.
fn question_windows(
    tokenizer: &BertTokenizer,
    question: &str,
    context: &str,
    max_len: usize,
    qa: &QaArgs,
) -> Result<Vec<Encoding>> {
    let question_tokens = tokenizer.tokenize_with_offsets(question).len();
    let budget = max_len.saturating_sub(question_tokens.min(qa.max_query_length) + 3);
    let options = WindowOptions {
        max_length: max_len,
        stride: qa.doc_stride.min(budget / 2),
        max_first_length: Some(qa.max_query_length),
    };
    Ok(tokenizer.encode_windows(question, context, options)?)
}

fn text_field<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<&'a str> {
    match fields.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => bail!("field `{name}` must be a string, found {other}"),
        None => bail!("missing field `{name}`"),
    }
}

fn encode_example(
    fields: Map<String, Value>,
    task: Task,
    tokenizer: &BertTokenizer,
    max_len: usize,
    qa: &QaArgs,
) -> Result<Example> {
    let truncation = |strategy| Truncation {
        max_length: max_len,
        strategy,
    };
    let encode = |a: &str, b: Option<&str>, strategy| -> Result<Encoding> {
        Ok(tokenizer.encode(a, b, Some(truncation(strategy)))?)
    };
    let (rows, texts) = match task {
        Task::QuestionAnswering => {
            let question = text_field(&fields, "question")?;
            let context = text_field(&fields, "context")?;
            let rows = question_windows(tokenizer, question, context, max_len, qa)?;
            (rows, (question.to_string(), Some(context.to_string())))
        }
        Task::MultipleChoice => {
            let context = text_field(&fields, "context")?;
            let choices = match fields.get("choices") {
                Some(Value::Array(items)) if !items.is_empty() => items,
                Some(_) => bail!("field `choices` must be a non-empty list of strings"),
                None => bail!("missing field `choices`"),
            };
            let mut rows = Vec::new();
            for (i, choice) in choices.iter().enumerate() {
                let Value::String(choice) = choice else {
                    bail!("`choices[{i}]` must be a string, found {choice}");
                };
                rows.push(encode(
                    context,
                    Some(choice),
                    TruncationStrategy::LongestFirst,
                )?);
            }
            (rows, (context.to_string(), None))
        }
        _ => {
            let text = text_field(&fields, "text")?;
            let pair = match fields.get("text_pair") {
                None | Some(Value::Null) => None,
                Some(_) => Some(text_field(&fields, "text_pair")?),
            };
            if task == Task::NextSentence && pair.is_none() {
                bail!("missing field `text_pair` (next-sentence needs a pair)");
            }
            let enc = encode(text, pair, TruncationStrategy::LongestFirst)?;
            (vec![enc], (text.to_string(), pair.map(str::to_string)))
        }
    };
    Ok(Example {
        fields,
        rows,
        texts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(tags: &[&str]) -> Vec<(String, f32, usize, usize)> {
        tags.iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), 1.0, i * 2, i * 2 + 1))
            .collect()
    }

    fn spans(tags: &[&str]) -> Vec<(String, String)> {
        let text: Vec<char> = "a b c d e f".chars().collect();
        group_entities(&words(tags), &text)
            .iter()
            .map(|e| {
                (
                    e["entity"].as_str().unwrap().into(),
                    e["text"].as_str().unwrap().into(),
                )
            })
            .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn entities_follow_iob2_with_seqeval_leniency() {
        assert_eq!(
            spans(&["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG"]),
            pairs(&[("PER", "a b"), ("LOC", "d"), ("LOC", "e"), ("ORG", "f")])
        );
        // IOBES; a tag without a prefix reads as seqeval reads it (its first letter is the
        // prefix: `ORG` is an `O`), the same decoder as the entity metrics.
        assert_eq!(
            spans(&["S-PER", "B-LOC", "E-LOC", "ORG", "ORG", "O"]),
            pairs(&[("PER", "a"), ("LOC", "b c")])
        );
    }

    #[test]
    fn top_k_is_ordered_and_stable() {
        assert_eq!(
            top_k(&[0.1, 0.5, 0.5, 0.2], 3),
            vec![(1, 0.5), (2, 0.5), (3, 0.2)]
        );
        let probs = softmax(&[1.0, 2.0, 3.0]);
        assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(argmax(&probs), 2);
    }
}
