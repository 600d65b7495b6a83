//! From start and end logits to answer texts, as the reference scripts post-process SQuAD: the
//! `n_best_size` best starts and ends of every window of a question, spans inside the context
//! with end >= start and at most `max_answer_length` tokens, ranked by start + end logit over
//! all windows; the text cut from the context by character offsets. With unanswerable
//! questions (SQuAD v2) the null answer's score is the smallest `[CLS]` start + end logit over
//! the windows, and the empty answer wins when it beats the best span by more than
//! `null_score_diff_threshold`.

use std::cmp::Ordering;

use super::windows::Window;

/// The settings of post-processing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnswerOptions {
    /// Starts and ends considered per window.
    pub n_best_size: usize,
    /// Longest answer, in tokens.
    pub max_answer_length: usize,
    /// Questions may have no answer (SQuAD v2).
    pub version_2_with_negative: bool,
    /// How much the null score must beat the best span by to answer "".
    pub null_score_diff_threshold: f64,
}

/// A candidate answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The answer (empty for the null answer).
    pub text: String,
    /// Its characters in the context.
    pub start: usize,
    /// The character after it.
    pub end: usize,
    /// Start logit + end logit.
    pub score: f32,
}

/// The answer of one question and what led to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The answer: the best span, or "" when the null answer wins (v2).
    pub answer: Candidate,
    /// The best span over all windows, if any window had one.
    pub best_span: Option<Candidate>,
    /// The smallest `[CLS]` start + end logit over the windows.
    pub null_score: f32,
}

/// The start and end logits of one window (one value per token of the window).
pub type Logits = (Vec<f32>, Vec<f32>);

/// Post-processes the windows of one question (all of them, in order) with their logits.
pub fn predict(windows: &[&Window], logits: &[Logits], options: AnswerOptions) -> Prediction {
    let context: Vec<char> = windows
        .first()
        .map(|w| w.question.context.chars().collect())
        .unwrap_or_default();
    let mut spans: Vec<Candidate> = Vec::new();
    let mut null_score = f32::INFINITY;
    for (window, (starts, ends)) in windows.iter().zip(logits) {
        if let (Some(s), Some(e)) = (starts.first(), ends.first()) {
            null_score = null_score.min(s + e);
        }
        spans.extend(window_spans(window, starts, ends, options, &context));
    }
    // A stable sort: equal scores keep window and start order.
    spans.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap_or(Ordering::Equal));
    let best_span = spans.into_iter().next();
    let null = Candidate {
        text: String::new(),
        start: 0,
        end: 0,
        score: null_score,
    };
    let answer = match &best_span {
        None => null.clone(),
        Some(best) if options.version_2_with_negative => {
            let diff = f64::from(null_score) - f64::from(best.score);
            if diff > options.null_score_diff_threshold {
                null.clone()
            } else {
                best.clone()
            }
        }
        Some(best) => best.clone(),
    };
    Prediction {
        answer,
        best_span,
        null_score,
    }
}

/// The spans of one window among its `n_best_size` best starts and ends.
fn window_spans(
    window: &Window,
    starts: &[f32],
    ends: &[f32],
    options: AnswerOptions,
    context: &[char],
) -> Vec<Candidate> {
    let offsets = &window.context_offsets;
    let mut out = Vec::new();
    for s in top_indices(starts, options.n_best_size) {
        for e in top_indices(ends, options.n_best_size) {
            let (Some(Some(first)), Some(Some(last))) = (offsets.get(s), offsets.get(e)) else {
                continue;
            };
            if e < s || e - s + 1 > options.max_answer_length {
                continue;
            }
            let (start, end) = (first.0, last.1.min(context.len()));
            out.push(Candidate {
                text: context[start.min(end)..end].iter().collect(),
                start,
                end,
                score: starts[s] + ends[e],
            });
        }
    }
    out
}

/// The indices of the `k` largest values, largest first (ties: lower index first).
pub fn top_indices(values: &[f32], k: usize) -> Vec<usize> {
    let mut indices: Vec<usize> = (0..values.len()).collect();
    indices.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    indices.truncate(k);
    indices
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::question_answering::windows::Question;
    use std::sync::Arc;

    fn window(context_offsets: Vec<Option<(usize, usize)>>) -> Window {
        Window {
            question: Arc::new(Question {
                id: "q".into(),
                index: 0,
                line: 1,
                context: "john lives in paris".into(),
                answers: vec![],
            }),
            ids: vec![0; context_offsets.len()],
            type_ids: vec![0; context_offsets.len()],
            context_offsets,
            start: 0,
            end: 0,
        }
    }

    const OPTIONS: AnswerOptions = AnswerOptions {
        n_best_size: 20,
        max_answer_length: 30,
        version_2_with_negative: false,
        null_score_diff_threshold: 0.0,
    };

    #[test]
    fn the_best_span_is_taken_over_windows_and_inside_the_context() {
        // Window 1: [CLS] q [SEP] john lives [SEP]; window 2: [CLS] q [SEP] in paris [SEP].
        let w1 = window(vec![None, None, None, Some((0, 4)), Some((5, 10)), None]);
        let w2 = window(vec![None, None, None, Some((11, 13)), Some((14, 19)), None]);
        let l1 = (vec![9.0, 9.0, 0.0, 1.0, 0.0, 0.0], vec![9.0, 9.0, 0.0, 0.0, 1.5, 0.0]);
        let l2 = (vec![1.0, 0.0, 0.0, 0.0, 2.0, 0.0], vec![1.0, 0.0, 0.0, 0.0, 2.5, 0.0]);
        let p = predict(&[&w1, &w2], &[l1.clone(), l2.clone()], OPTIONS);
        // Not the question tokens (9 + 9), not an end before the start.
        assert_eq!(p.answer.text, "paris");
        assert_eq!((p.answer.start, p.answer.end), (14, 19));
        assert_eq!(p.answer.score, 4.5);
        assert_eq!(p.null_score, 2.0);
        // v2: the null answer wins when its score beats the span's by more than the threshold.
        let v2 = AnswerOptions {
            version_2_with_negative: true,
            ..OPTIONS
        };
        let l2_null = (vec![5.0, 0.0, 0.0, 0.0, 2.0, 0.0], vec![5.0, 0.0, 0.0, 0.0, 2.5, 0.0]);
        let p = predict(&[&w2], &[l2_null.clone()], v2);
        assert_eq!(p.answer.text, "");
        let lenient = AnswerOptions {
            null_score_diff_threshold: 6.0,
            ..v2
        };
        assert_eq!(predict(&[&w2], &[l2_null], lenient).answer.text, "paris");
        // Length limit.
        let short = AnswerOptions {
            max_answer_length: 1,
            ..OPTIONS
        };
        let l = (vec![0.0, 0.0, 0.0, 3.0, 0.0, 0.0], vec![0.0, 0.0, 0.0, 0.0, 3.0, 0.0]);
        assert_eq!(predict(&[&w1], &[l.clone()], short).answer.text, "john");
        assert_eq!(predict(&[&w1], &[l], OPTIONS).answer.text, "john lives");
    }

    #[test]
    fn top_indices_are_ordered_and_stable() {
        assert_eq!(top_indices(&[0.5, 2.0, 2.0, -1.0], 3), [1, 2, 0]);
    }
}
