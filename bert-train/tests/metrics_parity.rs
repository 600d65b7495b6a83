//! Our metrics against scikit-learn, scipy and seqeval on stored cases
//! (tests/fixtures/metrics/make_fixtures.py).

use bert_train::metrics;
use serde_json::Value;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/metrics/metrics.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn close(ours: f64, theirs: &Value, what: &str) {
    let theirs = theirs.as_f64().unwrap();
    assert!(
        (ours - theirs).abs() < 1e-9,
        "{what}: ours {ours}, reference {theirs}"
    );
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn tags(v: &Value) -> Vec<Vec<String>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s.as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn classification_matches_scikit_learn() {
    let f = fixture();
    let cases = f["classification"].as_array().unwrap();
    assert!(cases.len() >= 5);
    for (i, c) in cases.iter().enumerate() {
        let m = metrics::classification(
            &usizes(&c["pred"]),
            &usizes(&c["gold"]),
            c["num_labels"].as_u64().unwrap() as usize,
        );
        for name in ["accuracy", "f1", "mcc"] {
            close(m[name], &c[name], &format!("case {i} {name}"));
        }
    }
}

#[test]
fn regression_matches_scipy() {
    let f = fixture();
    for (i, c) in f["regression"].as_array().unwrap().iter().enumerate() {
        let m = metrics::regression(&floats(&c["pred"]), &floats(&c["gold"]));
        for name in ["pearson", "spearman", "mse"] {
            close(m[name], &c[name], &format!("case {i} {name}"));
        }
    }
}

#[test]
fn tagging_matches_seqeval() {
    let f = fixture();
    for (i, c) in f["tagging"].as_array().unwrap().iter().enumerate() {
        let m = metrics::tagging(&tags(&c["pred"]), &tags(&c["gold"]));
        for name in ["precision", "recall", "f1", "accuracy"] {
            close(m[name], &c[name], &format!("case {i} {name}"));
        }
    }
}
