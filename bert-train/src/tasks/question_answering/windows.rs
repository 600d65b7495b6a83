//! Questions to windows: the question (cut to `max_query_length` tokens), then the context in
//! windows that overlap by `doc_stride` tokens, each labelled with the answer's first and last
//! token, or with `[CLS]` (position 0) when the window does not hold the whole answer or the
//! question has none.

use std::sync::Arc;

use bert_data::readers::{Answer, QaExample};
use bert_data::{BertTokenizer, Encoding, TokenizerError, WindowOptions};

/// What the windows of one question share: its id, context and gold answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// The question's id.
    pub id: String,
    /// Its position in the split.
    pub index: usize,
    /// The line it came from (0 in a SQuAD JSON file).
    pub line: usize,
    /// The paragraph answers are cut from.
    pub context: String,
    /// The gold answers' texts (empty: no answer).
    pub answers: Vec<String>,
}

/// One window of one question.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// The question it belongs to.
    pub question: Arc<Question>,
    /// Token ids.
    pub ids: Vec<u32>,
    /// Segment ids.
    pub type_ids: Vec<u32>,
    /// For each position, the characters of the context it covers; `None` outside the context.
    pub context_offsets: Vec<Option<(usize, usize)>>,
    /// The answer's first token (0: not in this window).
    pub start: usize,
    /// The answer's last token (0: not in this window).
    pub end: usize,
}

/// The windows of `example` (the `index`-th question of its split), labelled with its first
/// answer.
pub fn windows(
    tokenizer: &BertTokenizer,
    example: QaExample,
    index: usize,
    options: WindowOptions,
) -> Result<Vec<Window>, TokenizerError> {
    let encodings = tokenizer.encode_windows(&example.question, &example.context, options)?;
    let first = example.answers.first().cloned();
    let question = Arc::new(Question {
        id: example.id,
        index,
        line: example.line,
        context: example.context,
        answers: example.answers.into_iter().map(|a| a.text).collect(),
    });
    Ok(encodings
        .into_iter()
        .map(|encoding| Window::new(&question, encoding, first.as_ref()))
        .collect())
}

impl Window {
    /// The window of `question` that `encoding` holds, labelled with `answer`'s tokens.
    pub fn new(question: &Arc<Question>, encoding: Encoding, answer: Option<&Answer>) -> Window {
    let context_offsets: Vec<Option<(usize, usize)>> = encoding
        .sequence_ids
        .iter()
        .zip(&encoding.offsets)
        .map(|(sequence, &offsets)| (*sequence == Some(1)).then_some(offsets))
        .collect();
    let (start, end) = answer
        .and_then(|a| answer_tokens(&context_offsets, a.start, a.end()))
        .unwrap_or((0, 0));
    Window {
        question: Arc::clone(question),
        ids: encoding.ids,
        type_ids: encoding.type_ids,
        context_offsets,
        start,
        end,
    }
    }
}

/// The first and last context tokens of the characters `[start, end)`, when the window's
/// context covers them all: the last token starting at or before `start`, and the first token
/// ending at or after `end` (as transformers' run_qa labels windows, kept inside the context).
pub fn answer_tokens(
    offsets: &[Option<(usize, usize)>],
    start: usize,
    end: usize,
) -> Option<(usize, usize)> {
    let context: Vec<(usize, (usize, usize))> = offsets
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.map(|o| (i, o)))
        .collect();
    let (first, last) = (context.first()?, context.last()?);
    if first.1 .0 > start || last.1 .1 < end {
        return None;
    }
    let start_token = context.iter().rev().find(|(_, o)| o.0 <= start)?.0;
    let end_token = context.iter().find(|(_, o)| o.1 >= end)?.0;
    Some((start_token, end_token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_tokens_cover_the_answer_inside_the_context() {
        // [CLS] q [SEP] "john"(0,4) "lives"(5,10) "in"(11,13) "paris"(14,19) [SEP]
        let offsets = [
            None,
            None,
            None,
            Some((0, 4)),
            Some((5, 10)),
            Some((11, 13)),
            Some((14, 19)),
            None,
        ];
        assert_eq!(answer_tokens(&offsets, 14, 19), Some((6, 6)));
        assert_eq!(answer_tokens(&offsets, 5, 13), Some((4, 5)));
        // Partial tokens are widened to whole tokens.
        assert_eq!(answer_tokens(&offsets, 6, 12), Some((4, 5)));
        // Outside the window's context.
        assert_eq!(answer_tokens(&offsets, 14, 25), None);
        assert_eq!(answer_tokens(&offsets[4..], 0, 4), None);
    }
}
