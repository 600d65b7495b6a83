//! Question answering against the reference (tests/fixtures/qa/make_fixtures.py): windows and
//! their answer labels as transformers' fast tokenizer and run_qa.py make them, post-processing
//! as run_qa.py does it, exact match and F1 by the official SQuAD scripts; and every gold
//! answer of allennlp's SQuAD-format fixtures recovered from its tokens.
//!
//! Needs `scripts/fetch-assets.sh` (all-MiniLM-L6-v2's tokenizer) and `scripts/fetch-data.sh`
//! (data/squad-fixtures).

use std::path::Path;
use std::sync::Arc;

use bert_data::readers::{read_qa_examples, OnBadRow};
use bert_data::readers::{Answer, QaExample};
use bert_data::{BertTokenizer, TokenizerOverrides, WindowOptions};
use bert_train::metrics::squad::{self, normalize_answer, squad_metrics, Version};
use bert_train::tasks::question_answering::answers::{predict, AnswerOptions, Logits};
use bert_train::tasks::question_answering::windows::{windows, Question, Window};
use serde_json::Value;

mod common;
use common::minilm;

fn tokenizer() -> BertTokenizer {
    BertTokenizer::from_dir(&minilm(), &TokenizerOverrides::default()).unwrap()
}

fn fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/qa/qa.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The fixture's questions as the reader returns them.
fn examples(f: &Value) -> Vec<QaExample> {
    f["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            let answers = &q["answers"];
            let texts = answers["text"].as_array().unwrap();
            let starts = answers["answer_start"].as_array().unwrap();
            QaExample {
                line: 1,
                id: q["id"].as_str().unwrap().into(),
                question: q["question"].as_str().unwrap().into(),
                context: q["context"].as_str().unwrap().into(),
                answers: texts
                    .iter()
                    .zip(starts)
                    .map(|(t, s)| Answer {
                        text: t.as_str().unwrap().into(),
                        start: s.as_u64().unwrap() as usize,
                    })
                    .collect(),
            }
        })
        .collect()
}

fn ints(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

fn offsets(v: &Value) -> Vec<Option<(usize, usize)>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|o| {
            o.as_array().map(|p| {
                (
                    p[0].as_u64().unwrap() as usize,
                    p[1].as_u64().unwrap() as usize,
                )
            })
        })
        .collect()
}

fn options(max_length: usize, stride: usize) -> WindowOptions {
    WindowOptions {
        max_length,
        stride,
        max_first_length: Some(64),
    }
}

#[test]
fn windows_and_labels_match_transformers() {
    let f = fixture();
    let tokenizer = tokenizer();
    let questions = examples(&f);
    for setting in f["windows"].as_array().unwrap() {
        let max_length = setting["max_length"].as_u64().unwrap() as usize;
        let stride = setting["stride"].as_u64().unwrap() as usize;
        let reference = setting["questions"].as_array().unwrap();
        for (i, (example, theirs)) in questions.iter().zip(reference).enumerate() {
            let ours =
                windows(&tokenizer, example.clone(), i, options(max_length, stride)).unwrap();
            let theirs = theirs.as_array().unwrap();
            let what = format!("{} at {max_length}/{stride}", example.id);
            assert_eq!(ours.len(), theirs.len(), "{what}: windows");
            for (w, (a, b)) in ours.iter().zip(theirs).enumerate() {
                let ids: Vec<u64> = a.ids.iter().map(|&x| x as u64).collect();
                assert_eq!(ids, ints(&b["ids"]), "{what} window {w}: ids");
                let types: Vec<u64> = a.type_ids.iter().map(|&x| x as u64).collect();
                assert_eq!(types, ints(&b["type_ids"]), "{what} window {w}: type ids");
                assert_eq!(
                    a.context_offsets,
                    offsets(&b["offsets"]),
                    "{what} window {w}"
                );
                assert_eq!(
                    (a.start as u64, a.end as u64),
                    (b["start"].as_u64().unwrap(), b["end"].as_u64().unwrap()),
                    "{what} window {w}: answer tokens"
                );
            }
        }
    }
}

/// The reference's windows of each question, with the logits of a case.
fn reference_windows(f: &Value, case: &Value) -> Vec<(Vec<Window>, Vec<Logits>)> {
    let setting = f["windows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["max_length"] == case["max_length"] && s["stride"] == case["stride"])
        .unwrap();
    let questions = examples(f);
    let per_question = setting["questions"].as_array().unwrap();
    let logits = case["logits"].as_array().unwrap();
    let floats = |v: &Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    questions
        .iter()
        .zip(per_question)
        .zip(logits)
        .enumerate()
        .map(|(index, ((example, ws), ls))| {
            let question = Arc::new(Question {
                id: example.id.clone(),
                index,
                line: 1,
                context: example.context.clone(),
                answers: example.answers.iter().map(|a| a.text.clone()).collect(),
            });
            let windows = ws
                .as_array()
                .unwrap()
                .iter()
                .map(|w| Window {
                    question: Arc::clone(&question),
                    ids: vec![0; ints(&w["ids"]).len()],
                    type_ids: vec![0; ints(&w["ids"]).len()],
                    context_offsets: offsets(&w["offsets"]),
                    start: 0,
                    end: 0,
                })
                .collect();
            let logits = ls
                .as_array()
                .unwrap()
                .iter()
                .map(|l| (floats(&l[0]), floats(&l[1])))
                .collect();
            (windows, logits)
        })
        .collect()
}

#[test]
fn post_processing_and_metrics_match_run_qa_and_the_official_scripts() {
    let f = fixture();
    for case in f["answers"].as_array().unwrap() {
        let v2 = case["version_2_with_negative"].as_bool().unwrap();
        let options = AnswerOptions {
            n_best_size: case["n_best_size"].as_u64().unwrap() as usize,
            max_answer_length: case["max_answer_length"].as_u64().unwrap() as usize,
            version_2_with_negative: v2,
            null_score_diff_threshold: case["null_score_diff_threshold"].as_f64().unwrap(),
        };
        let expected = case["predictions"].as_array().unwrap();
        let mut scored = Vec::new();
        for ((windows, logits), want) in reference_windows(&f, case).iter().zip(expected) {
            let refs: Vec<&Window> = windows.iter().collect();
            let got = predict(&refs, logits, options).answer.text;
            assert_eq!(
                got,
                want.as_str().unwrap(),
                "{} ({options:?})",
                windows[0].question.id
            );
            let golds = windows[0].question.answers.clone();
            if v2 || !golds.is_empty() {
                scored.push((golds, got));
            }
        }
        let version = if v2 { Version::V2 } else { Version::V1 };
        let ours = squad_metrics(&scored, version);
        let theirs = case["metrics"].as_object().unwrap();
        assert_eq!(ours.len(), theirs.len(), "{ours:?} vs {theirs:?}");
        for (name, value) in theirs {
            let diff = (ours[name] - value.as_f64().unwrap()).abs();
            assert!(
                diff < 1e-12,
                "{name}: ours {}, official {value}",
                ours[name]
            );
        }
    }
}

#[test]
fn answer_pairs_score_as_the_official_scripts_score_them() {
    let f = fixture();
    for case in f["metrics"].as_array().unwrap() {
        let gold = case["gold"].as_str().unwrap();
        let prediction = case["prediction"].as_str().unwrap();
        assert_eq!(normalize_answer(gold), case["normalized"].as_str().unwrap());
        let v1 = squad::score(&[gold.to_string()], prediction, Version::V1);
        assert_eq!(
            v1.0,
            case["v1_exact"].as_f64().unwrap(),
            "{gold:?} / {prediction:?}"
        );
        assert!(
            (v1.1 - case["v1_f1"].as_f64().unwrap()).abs() < 1e-12,
            "{gold:?}"
        );
        let v2_exact = squad::exact(gold, prediction);
        let v2_f1 = squad::f1(gold, prediction, Version::V2);
        assert_eq!(
            v2_exact,
            case["v2_exact"].as_f64().unwrap(),
            "{gold:?} / {prediction:?}"
        );
        assert!(
            (v2_f1 - case["v2_f1"].as_f64().unwrap()).abs() < 1e-12,
            "{gold:?}"
        );
    }
}

/// Every gold answer of allennlp's SQuAD and Quoref samples stands exactly at the tokens of some
/// window that labels it, for several window lengths and strides; answers longer than the
/// stride may fall across windows, all others may not.
#[test]
fn gold_answers_are_recovered_from_their_window_tokens() {
    let tokenizer = tokenizer();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/squad-fixtures");
    let mut checked = 0;
    for file in ["squad.json", "quoref_sample.json"] {
        let path = dir.join(file);
        assert!(
            path.is_file(),
            "{} missing (run scripts/fetch-data.sh)",
            path.display()
        );
        let read = read_qa_examples(&path, OnBadRow::Error).unwrap();
        assert!(!read.rows.is_empty());
        for (max_length, stride) in [(384, 128), (128, 32), (64, 16), (48, 4)] {
            for (i, example) in read.rows.iter().enumerate() {
                for answer in &example.answers {
                    let mut one = example.clone();
                    one.answers = vec![answer.clone()];
                    let ws = windows(&tokenizer, one, i, options(max_length, stride)).unwrap();
                    let context: Vec<char> = example.context.chars().collect();
                    let recovered = ws.iter().filter(|w| w.start > 0).any(|w| {
                        let s = w.context_offsets[w.start].unwrap().0;
                        let e = w.context_offsets[w.end].unwrap().1;
                        context[s..e].iter().collect::<String>() == answer.text
                    });
                    let tokens = tokenizer.tokenize(&answer.text).len();
                    assert!(
                        recovered || tokens > stride,
                        "{file} {}: {:?} ({tokens} tokens) not recovered at {max_length}/{stride}",
                        example.id,
                        answer.text
                    );
                    checked += usize::from(recovered);
                }
            }
        }
    }
    assert!(checked > 30, "only {checked} answers recovered");
}
