//! Windows over a long second text: `[CLS] question [SEP] window [SEP]`, the windows of the
//! second text overlapping by `stride` tokens, as transformers' tokenizers make them with
//! `truncation="only_second"`, `stride` and `return_overflowing_tokens=True` (extractive
//! question answering over contexts longer than the model reads).

use super::encoding::{special_count, Encoding, TokenizedText};
use super::TokenizerError;

/// How [`super::BertTokenizer::encode_windows`] cuts a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowOptions {
    /// Tokens per window, `[CLS]` and both `[SEP]` included.
    pub max_length: usize,
    /// Tokens of the second text shared by consecutive windows.
    pub stride: usize,
    /// The first text is cut to this many tokens first (BERT's `max_query_length`).
    pub max_first_length: Option<usize>,
}

/// The tokens of the second text that each window holds: `[start, end)` ranges over its tokens,
/// in order. The first starts at 0, each next one `budget - stride` tokens later, and the last
/// is the first that reaches the end.
pub fn window_ranges(
    tokens: usize,
    budget: usize,
    stride: usize,
) -> Result<Vec<(usize, usize)>, TokenizerError> {
    if budget == 0 {
        return Err(TokenizerError::Truncation(
            "the first text leaves no room for the second".to_string(),
        ));
    }
    if tokens > budget && stride >= budget {
        return Err(TokenizerError::Truncation(format!(
            "a stride of {stride} tokens needs windows longer than that: each window holds \
             {budget} tokens of the second text"
        )));
    }
    let step = budget - stride.min(budget - 1);
    let mut ranges = Vec::new();
    let mut start = 0;
    loop {
        let end = (start + budget).min(tokens);
        ranges.push((start, end));
        if end == tokens {
            return Ok(ranges);
        }
        start += step;
    }
}

/// Cuts `first` to `options.max_first_length` and splits `second` into windows.
pub(crate) fn assemble_windows(
    first: &mut TokenizedText,
    second: &TokenizedText,
    options: WindowOptions,
    cls_id: u32,
    sep_id: u32,
) -> Result<Vec<Encoding>, TokenizerError> {
    if let Some(max) = options.max_first_length {
        first.truncate(max);
    }
    let specials = special_count(true);
    let budget = options
        .max_length
        .checked_sub(first.len() + specials)
        .ok_or_else(|| {
            TokenizerError::Truncation(format!(
                "the first text has {} tokens; with {specials} special tokens it does not fit \
                 max_length {}",
                first.len(),
                options.max_length
            ))
        })?;
    let ranges = window_ranges(second.len(), budget, options.stride)?;
    Ok(ranges
        .into_iter()
        .map(|(start, end)| {
            let part = second.slice(start, end);
            Encoding::assemble(first, Some(&part), cls_id, sep_id)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_overlap_by_the_stride_and_the_last_reaches_the_end() {
        assert_eq!(window_ranges(10, 4, 1).unwrap(), [(0, 4), (3, 7), (6, 10)]);
        assert_eq!(
            window_ranges(11, 4, 2).unwrap(),
            [(0, 4), (2, 6), (4, 8), (6, 10), (8, 11)]
        );
        // No stride: windows side by side.
        assert_eq!(window_ranges(5, 2, 0).unwrap(), [(0, 2), (2, 4), (4, 5)]);
    }

    #[test]
    fn a_short_text_is_one_window_whatever_the_stride() {
        assert_eq!(window_ranges(3, 4, 9).unwrap(), [(0, 3)]);
        assert_eq!(window_ranges(0, 4, 1).unwrap(), [(0, 0)]);
    }

    #[test]
    fn a_stride_as_long_as_the_window_is_an_error() {
        assert!(window_ranges(10, 4, 4).is_err());
        assert!(window_ranges(10, 0, 0).is_err());
    }
}
