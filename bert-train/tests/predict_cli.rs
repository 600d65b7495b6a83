//! `bert-train predict` end to end: every task on the tiny fixture checkpoints of bert-model,
//! all-MiniLM-L6-v2 features against transformers, batching, and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bert_model::Checkpoint;
use serde_json::Value;

/// The tiny fixture models have 64 ids: [PAD] 0, [CLS] 2, [SEP] 3, [MASK] 4.
const WORDS: &[&str] = &[
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "dog", "runs",
    "paris", "london", "john", "smith", "who", "what", "is", "a", "in", "city", "big", "small",
    "red", "blue", "went", "to", "lives", "mary", "berlin", "and", "of", "it", "was", "good",
    "bad", "film", "movie", "plot", "house", "tree", "where", "does", "capital", "france",
    "germany", "river", "##s", "##ing", "##ed", ".", ",", "?", "!", "new", "york", "green", "old",
    "man", "woman", "car", "road", "sun",
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../bert-model/tests/fixtures/model")
        .join(name)
}

struct Run {
    dir: tempfile::TempDir,
}

impl Run {
    /// A scratch directory holding a copy of fixture model `name` with a vocabulary.
    fn with_model(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model");
        std::fs::create_dir(&model).unwrap();
        for entry in std::fs::read_dir(fixture(name)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), model.join(entry.file_name())).unwrap();
        }
        assert_eq!(WORDS.len(), 64);
        std::fs::write(model.join("vocab.txt"), WORDS.join("\n") + "\n").unwrap();
        Run { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn input(&self, lines: &[&str]) {
        std::fs::write(self.path("in.jsonl"), lines.join("\n") + "\n").unwrap();
    }

    fn predict(&self, model: &str, extra: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_bert-train"))
            .args([
                "predict",
                "--model",
                model,
                "--input",
                "in.jsonl",
                "--output",
                "out.jsonl",
            ])
            .env("HF_HUB_OFFLINE", "1")
            .args(extra)
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }

    fn ok(&self, extra: &[&str]) -> Vec<Value> {
        let out = self.predict("model", extra);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_to_string(self.path("out.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn floats(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(items) => items.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap() as f32],
        other => panic!("not numeric: {other}"),
    }
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn minilm_features_match_transformers_through_our_tokenizer() {
    let minilm = std::env::var("BERT_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/bert-rs/all-MiniLM-L6-v2")
        });
    let run = Run {
        dir: tempfile::tempdir().unwrap(),
    };
    let texts: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(fixture("minilm/texts.json")).unwrap())
            .unwrap();
    let lines: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
    run.input(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    let out = run.predict(
        minilm.to_str().unwrap(),
        &["--max-seq-length", "16", "--batch-size", "3"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = std::fs::read_to_string(run.path("out.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expected = Checkpoint::open_safetensors(&fixture("minilm/expected.safetensors")).unwrap();
    let hidden = expected.tensors["out.last_hidden_state"]
        .to_f32("h")
        .unwrap();
    let pooled = expected.tensors["out.pooler_output"].to_f32("p").unwrap();
    let mask = expected.tensors["attention_mask"].to_i64("m").unwrap();
    let shape = &expected.tensors["out.last_hidden_state"].shape;
    let (seq, h) = (shape[1], shape[2]);
    assert_eq!(rows.len(), shape[0]);
    for (r, row) in rows.iter().enumerate() {
        let len = mask[r * seq..(r + 1) * seq]
            .iter()
            .filter(|&&m| m == 1)
            .count();
        let got = floats(&row["last_hidden"]);
        assert_eq!(
            got.len(),
            len * h,
            "row {r}: token count differs from transformers"
        );
        let want = &hidden[r * seq * h..r * seq * h + len * h];
        assert!(
            max_diff(&got, want) <= 1e-4,
            "row {r}: {}",
            max_diff(&got, want)
        );
        let got = floats(&row["pooled"]);
        assert!(max_diff(&got, &pooled[r * h..(r + 1) * h]) <= 1e-4);
        assert_eq!(row["text"], texts[r]["text"], "input fields are kept");
    }
}

const SENTENCES: &[&str] = &[
    r#"{"text": "john smith lives in paris ."}"#,
    r#"{"text": "the cat sat", "text_pair": "on the red mat"}"#,
    r#"{"text": "mary went to new york and berlin and london ."}"#,
    r#"{"text": "dog"}"#,
];

#[test]
fn batched_rows_equal_rows_run_alone() {
    let run = Run::with_model("token_classification");
    run.input(SENTENCES);
    let batched = run.ok(&["--batch-size", "4"]);
    let alone = run.ok(&["--batch-size", "1"]);
    for (a, b) in batched.iter().zip(&alone) {
        assert!(max_diff(&floats(&a["logits"]), &floats(&b["logits"])) <= 1e-5);
        assert_eq!(a["labels"], b["labels"]);
    }
}

#[test]
fn token_classification_gives_tokens_labels_and_entities() {
    let run = Run::with_model("token_classification");
    run.input(SENTENCES);
    let rows = run.ok(&[]);
    let first = &rows[0];
    let tokens = first["tokens"].as_array().unwrap();
    assert_eq!(tokens.first().unwrap(), "[CLS]");
    assert_eq!(tokens.last().unwrap(), "[SEP]");
    assert_eq!(first["logits"].as_array().unwrap().len(), tokens.len());
    assert_eq!(first["labels"].as_array().unwrap().len(), tokens.len());
    for entity in first["entities"].as_array().unwrap() {
        let (s, e) = (
            entity["start"].as_u64().unwrap() as usize,
            entity["end"].as_u64().unwrap() as usize,
        );
        let text: String = "john smith lives in paris ."
            .chars()
            .skip(s)
            .take(e - s)
            .collect();
        assert_eq!(entity["text"], text.as_str());
    }
}

#[test]
fn every_task_writes_its_fields() {
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "bert_model",
            &[r#"{"text": "the cat sat"}"#],
            &["last_hidden", "pooled"],
        ),
        (
            "masked_lm",
            &[r#"{"text": "the [MASK] sat on the [MASK] ."}"#],
            &["predictions"],
        ),
        (
            "next_sentence",
            &[r#"{"text": "the cat sat", "text_pair": "it was good"}"#],
            &["logits", "is_next"],
        ),
        (
            "pretraining",
            &[r#"{"text": "the cat", "text_pair": "sat"}"#],
            &["mlm_logits", "nsp_logits"],
        ),
        (
            "sequence_classification",
            SENTENCES,
            &["logits", "label", "score"],
        ),
        ("sequence_regression", SENTENCES, &["logits", "score"]),
        (
            "sequence_multi_label",
            SENTENCES,
            &["logits", "scores", "labels"],
        ),
        (
            "question_answering",
            &[
                r#"{"question": "where does john live ?", "context": "john smith lives in paris and mary in berlin ."}"#,
            ],
            &["start_logits", "end_logits", "answer"],
        ),
    ];
    for (model, lines, fields) in cases {
        let run = Run::with_model(model);
        run.input(lines);
        let rows = run.ok(&[]);
        assert_eq!(rows.len(), lines.len(), "{model}");
        for field in *fields {
            assert!(
                rows[0].get(*field).is_some(),
                "{model}: no `{field}` in {}",
                rows[0]
            );
        }
    }
    // Details that matter per task.
    let run = Run::with_model("masked_lm");
    run.input(&[r#"{"text": "the [MASK] sat on the [MASK] ."}"#]);
    let rows = run.ok(&["--raw"]);
    let predictions = rows[0]["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), 2);
    assert_eq!(predictions[0]["tokens"].as_array().unwrap().len(), 5);
    assert_eq!(
        rows[0]["logits"].as_array().unwrap()[0]
            .as_array()
            .unwrap()
            .len(),
        64
    );

    let run = Run::with_model("question_answering");
    let context = "john smith lives in paris and mary in berlin .";
    run.input(&[&format!(
        r#"{{"question": "where does john live ?", "context": "{context}"}}"#
    )]);
    let answer = &run.ok(&[])[0]["answer"];
    let (s, e) = (
        answer["start"].as_u64().unwrap() as usize,
        answer["end"].as_u64().unwrap() as usize,
    );
    assert!(e > s && e <= context.len());
    assert_eq!(answer["text"], &context[s..e]);

    // A context longer than a window is cut into overlapping windows, and the answer is the
    // best span over all of them, its offsets into the whole context.
    let long = "john smith lives in paris and mary in berlin . ".repeat(12);
    run.input(&[&format!(
        r#"{{"question": "where does john live ?", "context": "{long}"}}"#
    )]);
    let row = &run.ok(&["--max-seq-length", "32", "--doc-stride", "8"])[0];
    let windows = row["start_logits"].as_array().unwrap();
    assert!(windows.len() > 5, "{} windows", windows.len());
    assert!(windows.iter().all(|w| w.as_array().unwrap().len() <= 32));
    let answer = &row["answer"];
    let (s, e) = (
        answer["start"].as_u64().unwrap() as usize,
        answer["end"].as_u64().unwrap() as usize,
    );
    assert_eq!(answer["text"], &long[s..e]);
    assert!(row["null_score"].is_number());

    let run = Run::with_model("multiple_choice");
    run.input(&[
        r#"{"context": "the cat sat on the", "choices": ["mat", "sun", "road"]}"#,
        r#"{"context": "john lives in", "choices": ["paris", "london"]}"#,
    ]);
    let rows = run.ok(&["--task", "multiple-choice"]);
    assert_eq!(rows[0]["logits"].as_array().unwrap().len(), 3);
    assert_eq!(rows[1]["logits"].as_array().unwrap().len(), 2);
    assert!(rows[0]["choice"].as_u64().unwrap() < 3);
}

#[test]
fn bad_lines_name_the_line_and_write_nothing() {
    let run = Run::with_model("sequence_classification");
    for (lines, needle) in [
        (vec![r#"{"text": "the cat"}"#, "not json"], "in.jsonl:2"),
        (
            vec![r#"{"text": "the cat"}"#, r#"{"txt": "x"}"#],
            "missing field `text`",
        ),
        (vec![r#"{"text": 3}"#], "field `text` must be a string"),
    ] {
        run.input(&lines);
        let out = run.predict("model", &[]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{err}");
        assert!(!run.path("out.jsonl").exists());
    }
    run.input(&[r#"{"text": "the cat"}"#]);
    let out = run.predict("model", &["--device", "cuda:0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cuda") && err.contains("feature"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_bert-train"))
        .args(["predict", "--model", "model", "--input", "in.jsonl"])
        .args(["--output", "no-such-folder/out.jsonl"])
        .current_dir(run.path(""))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the folder no-such-folder does not exist"),
        "{err}"
    );
    assert!(
        !err.contains("predicted"),
        "the check comes before the work: {err}"
    );
    let qa = Run::with_model("question_answering");
    qa.input(&[r#"{"question": "the cat", "context": "the dog sat"}"#]);
    let out = qa.predict(
        "model",
        &[
            "--version-2-with-negative",
            "--null-score-diff-threshold",
            "NaN",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`data.null_score_diff_threshold`: must be a finite number"),
        "{err}"
    );
    let out = qa.predict("model", &["--max-seq-length", "32", "--doc-stride", "40"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--doc-stride (40) must be less than the window, --max-seq-length (32)"),
        "{err}"
    );
    // An array, and a byte-order mark before the first object.
    run.input(&["\u{feff}{\"text\": \"the cat\"}", "[1, 2]"]);
    let err = String::from_utf8_lossy(&run.predict("model", &[]).stderr).to_string();
    assert!(
        err.contains("in.jsonl:2: expected a JSON object, found an array"),
        "{err}"
    );
    let out = run.predict("no-such-model-anywhere", &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}
