//! Evaluation metrics, computed as scikit-learn and seqeval compute them.
//!
//! Sequence classification: accuracy, F1 (binary for two classes with class 1 positive, macro
//! otherwise) and Matthews correlation; regression: Pearson and Spearman correlation (and MSE);
//! token classification: entity-level precision, recall and F1 with seqeval's default rules
//! (conlleval chunking: an `I-` tag after `O` or after another type starts an entity), and
//! token accuracy; question answering: the official SQuAD exact match and F1 ([`squad`]).

use std::collections::BTreeMap;

pub mod squad;

/// Fraction of equal pairs (0 for empty input).
pub fn accuracy<T: PartialEq>(pred: &[T], gold: &[T]) -> f64 {
    if gold.is_empty() {
        return 0.0;
    }
    let right = pred.iter().zip(gold).filter(|(p, g)| p == g).count();
    right as f64 / gold.len() as f64
}

fn f1_of(tp: f64, fp: f64, fn_: f64) -> f64 {
    let denom = 2.0 * tp + fp + fn_;
    if denom == 0.0 {
        0.0
    } else {
        2.0 * tp / denom
    }
}

/// F1 of class `positive` (scikit-learn `f1_score(average="binary")`; 0 when undefined).
pub fn f1_binary(pred: &[usize], gold: &[usize], positive: usize) -> f64 {
    let (mut tp, mut fp, mut fn_) = (0.0, 0.0, 0.0);
    for (&p, &g) in pred.iter().zip(gold) {
        match (p == positive, g == positive) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fn_ += 1.0,
            _ => {}
        }
    }
    f1_of(tp, fp, fn_)
}

/// Unweighted mean of the per-class F1 over the classes present in `pred` or `gold`
/// (scikit-learn `f1_score(average="macro")`).
pub fn f1_macro(pred: &[usize], gold: &[usize]) -> f64 {
    let mut classes: Vec<usize> = pred.iter().chain(gold).copied().collect();
    classes.sort_unstable();
    classes.dedup();
    if classes.is_empty() {
        return 0.0;
    }
    let total: f64 = classes.iter().map(|&c| f1_binary(pred, gold, c)).sum();
    total / classes.len() as f64
}

/// Matthews correlation coefficient, multi-class form (scikit-learn `matthews_corrcoef`;
/// 0 when undefined).
pub fn mcc(pred: &[usize], gold: &[usize]) -> f64 {
    let n = pred.iter().chain(gold).copied().max().map_or(0, |m| m + 1);
    let mut predicted = vec![0f64; n];
    let mut actual = vec![0f64; n];
    let mut correct = 0f64;
    for (&p, &g) in pred.iter().zip(gold) {
        predicted[p] += 1.0;
        actual[g] += 1.0;
        if p == g {
            correct += 1.0;
        }
    }
    let s = gold.len() as f64;
    let pk: f64 = predicted.iter().zip(&actual).map(|(p, t)| p * t).sum();
    let p2: f64 = predicted.iter().map(|p| p * p).sum();
    let t2: f64 = actual.iter().map(|t| t * t).sum();
    let denom = ((s * s - p2) * (s * s - t2)).sqrt();
    if denom == 0.0 {
        0.0
    } else {
        (correct * s - pk) / denom
    }
}

/// Pearson correlation (NaN-free: 0 when a side is constant).
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    if n == 0 {
        return 0.0;
    }
    let mx = x.iter().take(n).sum::<f64>() / n as f64;
    let my = y.iter().take(n).sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (dx, dy) = (x[i] - mx, y[i] - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        0.0
    } else {
        sxy / (sxx.sqrt() * syy.sqrt())
    }
}

/// Ranks from 1, ties given their average rank (scipy `rankdata`).
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut out = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            out[k] = rank;
        }
        i = j + 1;
    }
    out
}

/// Spearman rank correlation (scipy `spearmanr`).
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

/// An entity: type, first and last token index (inclusive) in the concatenated sequences.
pub type Entity = (String, usize, usize);

fn split_tag(tag: &str) -> (char, &str) {
    if tag == "O" || tag.is_empty() {
        return ('O', "");
    }
    let prefix = tag.chars().next().unwrap_or('O');
    let rest = &tag[prefix.len_utf8()..];
    let kind = rest.strip_prefix(['-', '_']).unwrap_or(rest);
    (prefix, kind)
}

fn chunk_ends(prev: char, tag: char, prev_kind: &str, kind: &str) -> bool {
    matches!(prev, 'E' | 'S')
        || (matches!(prev, 'B' | 'I') && matches!(tag, 'B' | 'S' | 'O'))
        || (prev != 'O' && prev != '.' && prev_kind != kind)
}

fn chunk_starts(prev: char, tag: char, prev_kind: &str, kind: &str) -> bool {
    matches!(tag, 'B' | 'S')
        || (matches!(prev, 'E' | 'S' | 'O') && matches!(tag, 'E' | 'I'))
        || (tag != 'O' && tag != '.' && prev_kind != kind)
}

/// The entities of tagged sequences, by seqeval's default (conlleval) rules: the sequences are
/// read one after another with an `O` between them.
pub fn entities<S: AsRef<str>>(sequences: &[Vec<S>]) -> Vec<Entity> {
    let mut out = Vec::new();
    let mut prev = 'O';
    let mut prev_kind = String::new();
    let mut start = 0;
    let mut position = 0;
    let mut visit = |tag: &str, position: usize, out: &mut Vec<Entity>| {
        let (t, kind) = split_tag(tag);
        if chunk_ends(prev, t, &prev_kind, kind) {
            out.push((prev_kind.clone(), start, position - 1));
        }
        if chunk_starts(prev, t, &prev_kind, kind) {
            start = position;
        }
        prev = t;
        prev_kind = kind.to_string();
    };
    for seq in sequences {
        for tag in seq {
            visit(tag.as_ref(), position, &mut out);
            position += 1;
        }
        visit("O", position, &mut out);
        position += 1;
    }
    out
}

/// Entity-level scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EntityScores {
    /// Correct entities / predicted entities.
    pub precision: f64,
    /// Correct entities / true entities.
    pub recall: f64,
    /// Harmonic mean of the two.
    pub f1: f64,
    /// Token accuracy.
    pub accuracy: f64,
}

/// seqeval's micro-averaged `precision_score`, `recall_score`, `f1_score` and `accuracy_score`.
pub fn entity_scores<S: AsRef<str>>(pred: &[Vec<S>], gold: &[Vec<S>]) -> EntityScores {
    let p = entities(pred);
    let g = entities(gold);
    let gold_set: std::collections::BTreeSet<&Entity> = g.iter().collect();
    let correct = p.iter().filter(|e| gold_set.contains(e)).count() as f64;
    let precision = if p.is_empty() {
        0.0
    } else {
        correct / p.len() as f64
    };
    let recall = if g.is_empty() {
        0.0
    } else {
        correct / g.len() as f64
    };
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    let flat_p: Vec<&str> = pred.iter().flatten().map(AsRef::as_ref).collect();
    let flat_g: Vec<&str> = gold.iter().flatten().map(AsRef::as_ref).collect();
    EntityScores {
        precision,
        recall,
        f1,
        accuracy: accuracy(&flat_p, &flat_g),
    }
}

/// The metrics of one evaluation, by name, in a stable order.
pub type Metrics = BTreeMap<String, f64>;

/// Classification metrics: `accuracy`, `f1`, `mcc`.
pub fn classification(pred: &[usize], gold: &[usize], num_labels: usize) -> Metrics {
    let f1 = if num_labels == 2 {
        f1_binary(pred, gold, 1)
    } else {
        f1_macro(pred, gold)
    };
    [
        ("accuracy".to_string(), accuracy(pred, gold)),
        ("f1".to_string(), f1),
        ("mcc".to_string(), mcc(pred, gold)),
    ]
    .into_iter()
    .collect()
}

/// Regression metrics: `pearson`, `spearman`, `mse`.
pub fn regression(pred: &[f64], gold: &[f64]) -> Metrics {
    let n = gold.len().max(1) as f64;
    let mse = pred
        .iter()
        .zip(gold)
        .map(|(p, g)| (p - g).powi(2))
        .sum::<f64>()
        / n;
    [
        ("pearson".to_string(), pearson(pred, gold)),
        ("spearman".to_string(), spearman(pred, gold)),
        ("mse".to_string(), mse),
    ]
    .into_iter()
    .collect()
}

/// Token-classification metrics: `precision`, `recall`, `f1`, `accuracy`.
pub fn tagging<S: AsRef<str>>(pred: &[Vec<S>], gold: &[Vec<S>]) -> Metrics {
    let s = entity_scores(pred, gold);
    [
        ("precision".to_string(), s.precision),
        ("recall".to_string(), s.recall),
        ("f1".to_string(), s.f1),
        ("accuracy".to_string(), s.accuracy),
    ]
    .into_iter()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn i_after_o_starts_an_entity() {
        let e = entities(&[tags("O I-PER I-PER O B-LOC I-ORG")]);
        assert_eq!(
            e,
            vec![
                ("PER".to_string(), 1, 2),
                ("LOC".to_string(), 4, 4),
                ("ORG".to_string(), 5, 5)
            ]
        );
    }

    #[test]
    fn ties_share_their_rank() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
        assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]) - 1.0).abs() < 1e-12);
    }
}
