//! The parts of a model directory must agree before any work: a tokenizer whose ids index past
//! the embedding rows would fail in the middle of a run (an index out of bounds on the device).

use std::path::Path;

use bert_data::BertTokenizer;
use bert_model::BertConfig;

use crate::TrainError;

/// Refuses a tokenizer with more tokens than the model has embedding rows (`vocab_size`).
/// `source` names where the tokenizer and config came from.
pub fn check_vocab(
    tokenizer: &BertTokenizer,
    config: &BertConfig,
    source: &Path,
) -> Result<(), TrainError> {
    let (tokens, rows) = (tokenizer.vocab_size(), config.vocab_size);
    if tokens <= rows {
        return Ok(());
    }
    Err(TrainError::Run(format!(
        "{}: the tokenizer has {tokens} tokens but the model's embeddings have {rows} rows \
         (config.json `vocab_size`); ids past {} would index nothing. Use the tokenizer the \
         model was trained with",
        source.display(),
        rows - 1
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bert_data::TokenizerOptions;

    #[test]
    fn a_tokenizer_larger_than_the_embeddings_is_refused() {
        let vocab: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]
            .map(String::from)
            .to_vec();
        let tokenizer =
            BertTokenizer::new(vocab, TokenizerOptions::default(), Default::default()).unwrap();
        let mut config = BertConfig {
            vocab_size: 7,
            ..BertConfig::default()
        };
        check_vocab(&tokenizer, &config, Path::new("m")).unwrap();
        config.vocab_size = 6;
        let err = check_vocab(&tokenizer, &config, Path::new("m")).unwrap_err();
        assert!(
            err.to_string()
                .contains("m: the tokenizer has 7 tokens but the model's embeddings have 6 rows"),
            "{err}"
        );
    }
}
