//! `bert-train tokenize`: a JSONL file in, the same lines with their tokens and ids out.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use bert_data::readers::{json_kind, numbered_lines};
use bert_data::tokenizer::{
    BertTokenizer, TokenizerOptions, TokenizerOverrides, Truncation, TruncationStrategy,
};
use clap::builder::BoolValueParser;
use clap::{ArgGroup, Args};
use serde_json::{Map, Value};

use super::io::write_atomically;

/// Arguments of `bert-train tokenize`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("source").required(true).args(["vocab", "model"])))]
pub struct TokenizeArgs {
    /// A vocab.txt (one token per line); options are the defaults of BertTokenizer unless flags
    /// say otherwise.
    #[arg(long, value_name = "FILE")]
    pub vocab: Option<PathBuf>,
    /// A model directory in the Hugging Face layout (vocab.txt or tokenizer.json, and
    /// tokenizer_config.json for the options, which the flags below override).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Lowercase the text (do_lower_case) [default: true, or the model's setting].
    #[arg(long, value_name = "true|false", value_parser = BoolValueParser::new())]
    pub lowercase: Option<bool>,
    /// Strip accents (strip_accents) [default: follows --lowercase, or the model's setting].
    #[arg(long, value_name = "true|false", value_parser = BoolValueParser::new())]
    pub strip_accents: Option<bool>,
    /// Put each CJK ideograph in a word of its own (tokenize_chinese_chars) [default: true, or the
    /// model's setting].
    #[arg(long, value_name = "true|false", value_parser = BoolValueParser::new())]
    pub split_chinese: Option<bool>,
    /// Run basic tokenization (do_basic_tokenize); false runs WordPiece on the whitespace-split
    /// words of the raw text [default: true, or the model's setting].
    #[arg(long, value_name = "true|false", value_parser = BoolValueParser::new())]
    pub basic: Option<bool>,
    /// Truncate each text (or pair) to this many tokens, [CLS] and [SEP] included.
    #[arg(long, value_name = "N")]
    pub max_length: Option<usize>,
    /// Which text loses tokens under --max-length: longest_first, only_first or only_second.
    #[arg(
        long,
        value_name = "STRATEGY",
        default_value = "longest_first",
        requires = "max_length"
    )]
    pub truncation: TruncationStrategy,
    /// Input JSONL: one object per line with `text` and optionally `text_pair`.
    #[arg(long, value_name = "IN.jsonl")]
    pub input: PathBuf,
    /// Output JSONL: each input object plus `tokens` (word pieces, no special tokens; those of
    /// `text_pair` follow those of `text`) and `ids` (the model's input ids, [CLS] and [SEP]
    /// included). Written only if every line succeeds.
    #[arg(long, value_name = "OUT.jsonl")]
    pub output: PathBuf,
}

impl TokenizeArgs {
    fn overrides(&self) -> TokenizerOverrides {
        TokenizerOverrides {
            do_lower_case: self.lowercase,
            strip_accents: self.strip_accents,
            tokenize_chinese_chars: self.split_chinese,
            do_basic_tokenize: self.basic,
        }
    }

    fn tokenizer(&self) -> Result<BertTokenizer> {
        match (&self.vocab, &self.model) {
            (Some(vocab), None) => {
                let mut options = TokenizerOptions::default();
                options.apply(&self.overrides());
                Ok(BertTokenizer::from_vocab_file(vocab, options)?)
            }
            (None, Some(dir)) => {
                if !dir.is_dir() {
                    bail!("--model {}: not a directory", dir.display());
                }
                Ok(BertTokenizer::from_dir(dir, &self.overrides())?)
            }
            _ => unreachable!("clap requires exactly one of --vocab and --model"),
        }
    }
}

/// Runs the command.
pub fn run(args: &TokenizeArgs) -> Result<()> {
    let tokenizer = args.tokenizer()?;
    let truncation = args.max_length.map(|max_length| Truncation {
        max_length,
        strategy: args.truncation,
    });
    let input =
        File::open(&args.input).with_context(|| format!("cannot open {}", args.input.display()))?;
    let name = args.input.display().to_string();
    write_atomically(&args.output, |out| {
        for (number, line) in numbered_lines(BufReader::new(input)) {
            let line = line.with_context(|| format!("{name}:{number}: cannot read the line"))?;
            let record = tokenize_line(&tokenizer, &line, truncation)
                .with_context(|| format!("{name}:{number}"))?;
            serde_json::to_writer(&mut *out, &record)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    })
}

/// Tokenizes one JSONL line into the output object.
fn tokenize_line(
    tokenizer: &BertTokenizer,
    line: &str,
    truncation: Option<Truncation>,
) -> Result<Value> {
    let mut object: Map<String, Value> = match serde_json::from_str(line) {
        Ok(Value::Object(map)) => map,
        Ok(other) => bail!("expected a JSON object, found {}", json_kind(&other)),
        Err(e) => return Err(anyhow!("not valid JSON: {e}")),
    };
    let text = string_field(&object, "text")?.ok_or_else(|| anyhow!("field `text` is missing"))?;
    let pair = string_field(&object, "text_pair")?;

    let mut first = tokenizer.tokenize_with_offsets(&text);
    let mut second = pair.as_deref().map(|p| tokenizer.tokenize_with_offsets(p));
    let encoding = tokenizer.assemble(&mut first, second.as_mut(), truncation)?;
    let mut tokens = tokenizer.texts_of(&first);
    if let Some(second) = &second {
        tokens.extend(tokenizer.texts_of(second));
    }
    object.insert("tokens".into(), tokens.into());
    object.insert("ids".into(), encoding.ids.into());
    Ok(Value::Object(object))
}

/// A string field; null or absent is `None`, anything else is an error naming the field.
fn string_field(object: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => bail!(
            "field `{key}` must be a string, found {}",
            match other {
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::Array(_) => "a list",
                _ => "an object",
            }
        ),
    }
}
