//! `bert-train tokenize` end to end: output format, flags, and bad input.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{json, Value};

const VOCAB: &str = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n,\n!\nhé\n##llo\n?\n東\n";

/// A temporary directory holding a tiny vocabulary.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        let d = Dir(tempfile::tempdir().unwrap());
        d.write("vocab.txt", VOCAB);
        d
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_bert-train"))
            .arg("tokenize")
            .args(args)
            .current_dir(self.0.path())
            .output()
            .unwrap()
    }
    fn lines(&self, name: &str) -> Vec<Value> {
        std::fs::read_to_string(self.path(name))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const IO: [&str; 4] = ["--input", "in.jsonl", "--output", "out.jsonl"];

fn with_io(args: &[&'static str]) -> Vec<&'static str> {
    args.iter().chain(IO.iter()).copied().collect()
}

#[test]
fn writes_tokens_and_ids_keeping_input_fields_in_order() {
    let d = Dir::new();
    d.write(
        "in.jsonl",
        "{\"id\": 7, \"text\": \"Hello, WORLD!\"}\n{\"text\": \"héllo?\", \"text_pair\": \"world\"}\n{\"text\": \"\"}\n",
    );
    let o = d.run(&with_io(&["--vocab", "vocab.txt"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = d.lines("out.jsonl");
    assert_eq!(out.len(), 3);
    assert_eq!(
        out[0].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["id", "text", "tokens", "ids"]
    );
    assert_eq!(out[0]["tokens"], json!(["hello", ",", "world", "!"]));
    assert_eq!(out[0]["ids"], json!([2, 5, 7, 6, 8, 3]));
    // Pairs: the tokens of both texts; ids with both [SEP]s.
    assert_eq!(out[1]["tokens"], json!(["hello", "?", "world"]));
    assert_eq!(out[1]["ids"], json!([2, 5, 11, 3, 6, 3]));
    assert_eq!(out[2]["tokens"], json!([]));
    assert_eq!(out[2]["ids"], json!([2, 3]));
}

#[test]
fn flags_override_the_model_directory() {
    let d = Dir::new();
    std::fs::create_dir(d.path("model")).unwrap();
    d.write("model/vocab.txt", VOCAB);
    d.write(
        "model/tokenizer_config.json",
        r#"{"do_lower_case": true, "strip_accents": null}"#,
    );
    d.write("in.jsonl", "{\"text\": \"HÉLLO\"}\n");
    let cases: [(&[&'static str], Value); 3] = [
        (&[], json!(["hello"])),
        (&["--strip-accents", "false"], json!(["hé", "##llo"])),
        (&["--lowercase", "false"], json!(["[UNK]"])),
    ];
    for (flags, want) in cases {
        let mut args = vec!["--model", "model"];
        args.extend_from_slice(flags);
        let o = d.run(&with_io(&args));
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(d.lines("out.jsonl")[0]["tokens"], want, "{flags:?}");
    }
}

#[test]
fn max_length_truncates() {
    let d = Dir::new();
    d.write("in.jsonl", "{\"text\": \"hello world hello world\"}\n");
    let o = d.run(&with_io(&["--vocab", "vocab.txt", "--max-length", "4"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(d.lines("out.jsonl")[0]["ids"], json!([2, 5, 6, 3]));
}

/// Runs on `input` and checks: failure, stderr holds every piece of `expected`, no panic, and
/// neither an output file nor a temporary file is left behind.
fn fails_with(input: &str, expected: &[&str]) {
    let d = Dir::new();
    d.write("in.jsonl", input);
    let o = d.run(&with_io(&["--vocab", "vocab.txt"]));
    assert!(!o.status.success());
    let err = stderr(&o);
    for piece in expected {
        assert!(err.contains(piece), "{err:?} lacks {piece:?}");
    }
    assert!(!err.contains("panicked"), "{err}");
    let left: Vec<_> = std::fs::read_dir(d.0.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "in.jsonl" && n != "vocab.txt")
        .collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[test]
fn a_line_that_is_not_json_is_an_error_naming_it() {
    fails_with(
        "{\"text\": \"hello\"}\n{\"text\": \"hello\"}\nnot json\n",
        &["in.jsonl:3", "not valid JSON"],
    );
}

#[test]
fn a_blank_line_is_an_error() {
    fails_with(
        "{\"text\": \"hello\"}\n\n",
        &["in.jsonl:2:", "not valid JSON"],
    );
}

#[test]
fn a_line_without_text_is_an_error_naming_it() {
    fails_with(
        "{\"text\": \"a\"}\n{\"txt\": \"hello\"}\n",
        &["in.jsonl:2:", "`text` is missing"],
    );
}

#[test]
fn wrong_field_types_are_errors() {
    fails_with(
        "{\"text\": 5}\n",
        &["in.jsonl:1:", "`text` must be a string"],
    );
    fails_with(
        "{\"text\": \"a\", \"text_pair\": [\"b\"]}\n",
        &["in.jsonl:1:", "`text_pair` must be a string"],
    );
    fails_with(
        "[1, 2]\n",
        &["in.jsonl:1:", "expected a JSON object, found an array"],
    );
    fails_with(
        "\u{feff}{\"text\": \"a\"}\n{\"text\": 1}\n",
        &["in.jsonl:2:", "`text` must be a string"],
    );
}

#[test]
fn a_failed_run_keeps_the_previous_output() {
    let d = Dir::new();
    d.write("out.jsonl", "precious\n");
    d.write("in.jsonl", "{\"text\": \"a\"}\nbad\n");
    let o = d.run(&with_io(&["--vocab", "vocab.txt"]));
    assert!(!o.status.success());
    assert_eq!(
        std::fs::read_to_string(d.path("out.jsonl")).unwrap(),
        "precious\n"
    );
}

#[test]
fn missing_files_are_errors_naming_them() {
    let d = Dir::new();
    d.write("in.jsonl", "{\"text\": \"a\"}\n");
    std::fs::create_dir(d.path("empty")).unwrap();
    let cases: [(&[&str], &[&str]); 4] = [
        (&["--vocab", "nope.txt"], &["nope.txt"]),
        (
            &["--model", "no-such-dir"],
            &["no-such-dir", "not a directory"],
        ),
        // A directory without a vocabulary says where it looked.
        (&["--model", "empty"], &["vocab.txt", "tokenizer.json"]),
        (
            &["--vocab", "vocab.txt", "--input", "missing.jsonl"],
            &["missing.jsonl"],
        ),
    ];
    for (args, expected) in cases {
        let mut all: Vec<&str> = args.to_vec();
        if !all.contains(&"--input") {
            all.extend_from_slice(&["--input", "in.jsonl"]);
        }
        all.extend_from_slice(&["--output", "out.jsonl"]);
        let o = d.run(&all);
        assert!(!o.status.success(), "{args:?}");
        for piece in expected {
            assert!(stderr(&o).contains(piece), "{args:?}: {}", stderr(&o));
        }
    }
}

#[test]
fn bad_flags_are_usage_errors() {
    let d = Dir::new();
    d.write("in.jsonl", "{\"text\": \"a\"}\n");
    let o = d.run(&with_io(&["--vocab", "vocab.txt", "--lowercase", "maybe"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = d.run(&with_io(&["--vocab", "vocab.txt", "--model", "."]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = d.run(&with_io(&["--vocab", "vocab.txt", "--max-length", "1"]));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("in.jsonl:1:") && stderr(&o).contains("max_length"),
        "{}",
        stderr(&o)
    );
}
