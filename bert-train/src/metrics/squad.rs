//! Exact match and F1 of extractive question answering, with the official SQuAD definitions
//! (the v1.1 and v2.0 evaluation scripts): answers are compared after normalisation (lowercase,
//! ASCII punctuation removed, the articles a / an / the removed, whitespace collapsed), F1 over
//! the bag of normalised words, each question scored against its best gold answer.
//!
//! Scores are in [0, 1] (the scripts print percentages).

use std::collections::HashMap;

use super::Metrics;

/// Which evaluation script's rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// SQuAD v1.1: every question has an answer.
    V1,
    /// SQuAD v2.0: a question without gold answers is answered by the empty string; gold
    /// answers that normalise to nothing are dropped; an empty answer scores F1 1 against an
    /// empty gold one.
    V2,
}

/// The answer text as the official scripts compare it.
pub fn normalize_answer(text: &str) -> String {
    let lower = text.to_lowercase();
    let no_punctuation: String = lower
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .collect();
    let mut spaced = String::with_capacity(no_punctuation.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if matches!(word.as_str(), "a" | "an" | "the") {
            out.push(' ');
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in no_punctuation.chars() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut spaced);
            spaced.push(c);
        }
    }
    flush(&mut word, &mut spaced);
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// 1 when the normalised texts are equal.
pub fn exact(gold: &str, prediction: &str) -> f64 {
    f64::from(u8::from(
        normalize_answer(gold) == normalize_answer(prediction),
    ))
}

/// F1 of the normalised words of `prediction` against those of `gold`.
pub fn f1(gold: &str, prediction: &str, version: Version) -> f64 {
    let gold = normalize_answer(gold);
    let prediction = normalize_answer(prediction);
    let gold: Vec<&str> = gold.split_whitespace().collect();
    let prediction: Vec<&str> = prediction.split_whitespace().collect();
    if version == Version::V2 && (gold.is_empty() || prediction.is_empty()) {
        return f64::from(u8::from(gold == prediction));
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for w in &gold {
        *counts.entry(w).or_default() += 1;
    }
    let mut same = 0usize;
    for w in &prediction {
        if let Some(n) = counts.get_mut(w).filter(|n| **n > 0) {
            *n -= 1;
            same += 1;
        }
    }
    if same == 0 {
        return 0.0;
    }
    let precision = same as f64 / prediction.len() as f64;
    let recall = same as f64 / gold.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// Exact match and F1 of one question: the best over its gold answers.
pub fn score(golds: &[String], prediction: &str, version: Version) -> (f64, f64) {
    let mut kept: Vec<&str> = match version {
        Version::V1 => golds.iter().map(String::as_str).collect(),
        Version::V2 => golds
            .iter()
            .map(String::as_str)
            .filter(|g| !normalize_answer(g).is_empty())
            .collect(),
    };
    if kept.is_empty() {
        kept.push("");
    }
    let best = |f: &dyn Fn(&str) -> f64| kept.iter().map(|g| f(g)).fold(0.0, f64::max);
    (
        best(&|g| exact(g, prediction)),
        best(&|g| f1(g, prediction, version)),
    )
}

/// `exact_match` and `f1` over all questions, and for v2 the same over the questions with
/// answers (`HasAns_*`) and without (`NoAns_*`), each present when that group is not empty.
/// `questions` holds each question's gold answers and prediction.
pub fn squad_metrics(questions: &[(Vec<String>, String)], version: Version) -> Metrics {
    let scores: Vec<(bool, f64, f64)> = questions
        .iter()
        .map(|(golds, prediction)| {
            let (em, f) = score(golds, prediction, version);
            (!golds.is_empty(), em, f)
        })
        .collect();
    let mut out = Metrics::new();
    let mut put = |prefix: &str, keep: &dyn Fn(bool) -> bool, exact_name: &str| {
        let group: Vec<&(bool, f64, f64)> = scores.iter().filter(|s| keep(s.0)).collect();
        if group.is_empty() {
            return;
        }
        let n = group.len() as f64;
        let em = group.iter().map(|s| s.1).sum::<f64>() / n;
        let f = group.iter().map(|s| s.2).sum::<f64>() / n;
        out.insert(format!("{prefix}{exact_name}"), em);
        out.insert(format!("{prefix}f1"), f);
    };
    put("", &|_| true, "exact_match");
    if version == Version::V2 {
        put("HasAns_", &|has| has, "exact");
        put("NoAns_", &|has| !has, "exact");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_drops_case_punctuation_articles_and_extra_spaces() {
        assert_eq!(normalize_answer("The  Denver Broncos!"), "denver broncos");
        assert_eq!(normalize_answer("an apple, a pear"), "apple pear");
        // Articles only as whole words; underscores are punctuation.
        assert_eq!(normalize_answer("Theater anAnt a_b"), "theater anant ab");
        assert_eq!(normalize_answer("  "), "");
    }

    #[test]
    fn f1_counts_shared_words_once_each() {
        // gold: [saint, bernadette, soubirous]; prediction: [bernadette, soubirous, saint, saint]
        let f = f1(
            "Saint Bernadette Soubirous",
            "Bernadette Soubirous saint saint",
            Version::V1,
        );
        let (p, r) = (3.0 / 4.0, 1.0);
        assert!((f - 2.0 * p * r / (p + r)).abs() < 1e-12);
        assert_eq!(f1("a", "the", Version::V1), 0.0);
        assert_eq!(f1("a", "the", Version::V2), 1.0);
    }

    #[test]
    fn v2_scores_unanswerable_questions_against_the_empty_answer() {
        let questions = vec![
            (
                vec!["Paris".to_string(), "in Paris".to_string()],
                "paris".to_string(),
            ),
            (vec![], String::new()),
            (vec![], "London".to_string()),
        ];
        let m = squad_metrics(&questions, Version::V2);
        assert!((m["exact_match"] - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(m["HasAns_exact"], 1.0);
        assert_eq!(m["NoAns_f1"], 0.5);
        let v1 = squad_metrics(&questions[..1], Version::V1);
        assert_eq!(v1.len(), 2);
        assert_eq!(v1["f1"], 1.0);
    }
}
