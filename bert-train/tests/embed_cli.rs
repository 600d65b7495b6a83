//! `bert-train embed` against sentence-transformers' `encode` on all-MiniLM-L6-v2
//! (tests/fixtures/embed/make_fixtures.py): the model directory's own modules (mean pooling,
//! Normalize, 256 tokens), and [CLS] and max pooling; plus its errors.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::minilm;

fn embed(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bert-train"))
        .arg("embed")
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .current_dir(dir)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn embeddings_equal_sentence_transformers() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/embed/embed.json"
    );
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lines: Vec<String> = fixture["texts"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, t)| serde_json::json!({"id": i, "text": t}).to_string())
        .collect();
    std::fs::write(d.join("in.jsonl"), lines.join("\n") + "\n").unwrap();
    let model = minilm();
    for case in fixture["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut args = vec![
            "--model",
            model.to_str().unwrap(),
            "--input",
            "in.jsonl",
            "--output",
            "out.jsonl",
            "--batch-size",
            "3",
        ];
        args.extend(
            case["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap()),
        );
        let out = embed(d, &args);
        assert!(out.status.success(), "{name}: {}", text(&out));
        let rows: Vec<Value> = std::fs::read_to_string(d.join("out.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let expected = case["embeddings"].as_array().unwrap();
        assert_eq!(rows.len(), expected.len());
        for (i, (row, want)) in rows.iter().zip(expected).enumerate() {
            assert_eq!(row["id"], i, "{name}: input fields kept, in order");
            let ours = row["embedding"].as_array().unwrap();
            let want = want.as_array().unwrap();
            assert_eq!(ours.len(), 384);
            let diff = ours
                .iter()
                .zip(want)
                .map(|(a, b)| (a.as_f64().unwrap() - b.as_f64().unwrap()).abs())
                .fold(0.0, f64::max);
            assert!(diff <= 1e-5, "{name}, text {i}: differs by {diff}");
        }
    }
}

#[test]
fn bad_input_names_the_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("in.jsonl"),
        "{\"text\": \"fine\"}\n{\"txt\": \"no\"}\n",
    )
    .unwrap();
    let model = minilm();
    let base = [
        "--model",
        model.to_str().unwrap(),
        "--input",
        "in.jsonl",
        "--output",
        "out.jsonl",
    ];
    let out = embed(d, &base);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("in.jsonl:2: missing field `text`"),
        "{}",
        text(&out)
    );
    assert!(!d.join("out.jsonl").exists());
    let mut args = base.to_vec();
    args.extend(["--max-seq-length", "9999"]);
    let out = embed(d, &args);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("9999 exceeds the model's max_position_embeddings (512)"),
        "{}",
        text(&out)
    );
    let mut args = base.to_vec();
    args.extend(["--pooling", "median"]);
    let out = embed(d, &args);
    assert!(!out.status.success());
    assert!(text(&out).contains("median"), "{}", text(&out));
}
