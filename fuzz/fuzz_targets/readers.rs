//! The data readers on any file: rows or an error naming the file, never a panic. The first
//! byte picks the reader; the rest is the file.
#![no_main]

use bert_data::readers::{
    read_choice_examples, read_documents, read_qa_examples, read_tagged_sentences,
    read_text_examples, ChoiceColumns, ConllColumns, Format, OnBadRow, TextColumns,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (name, format) = match pick % 8 {
        0 => ("a.csv", Format::Csv),
        1 => ("a.tsv", Format::Tsv),
        2 => ("a.jsonl", Format::Jsonl),
        3 => ("a.conll", Format::Conll),
        4 => ("squad.json", Format::Jsonl),
        5 => ("choices.jsonl", Format::Jsonl),
        6 => ("swag.csv", Format::Csv),
        _ => ("a.txt", Format::Text),
    };
    let path = dir.path().join(name);
    std::fs::write(&path, file).unwrap();
    let columns = TextColumns {
        text: "text".into(),
        text_pair: Some("text_pair".into()),
        label: Some("label".into()),
        regression: pick & 0x80 != 0,
    };
    let choices = ChoiceColumns {
        context: "context".into(),
        choices: "choices".into(),
        label: Some("label".into()),
    };
    for on_bad in [OnBadRow::Error, OnBadRow::Skip] {
        let _ = match pick % 8 {
            0..=2 => read_text_examples(&path, format, &columns, on_bad).map(|_| ()),
            3 => read_tagged_sentences(&path, format, ConllColumns::default(), on_bad).map(|_| ()),
            4 => read_qa_examples(&path, on_bad).map(|_| ()),
            5 | 6 => read_choice_examples(&path, format, &choices, on_bad).map(|_| ()),
            _ => read_documents(&path, pick & 0x80 != 0).map(|_| ()),
        };
    }
});
