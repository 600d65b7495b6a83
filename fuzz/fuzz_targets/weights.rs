//! The weight and tokenizer parsers on any file: a checkpoint or an error naming the file,
//! never a panic. The first byte picks the file: `model.safetensors`, `pytorch_model.bin` (zip
//! or legacy pickle), or `tokenizer.json`.
#![no_main]

use bert_data::{BertTokenizer, TokenizerOverrides};
use bert_model::Checkpoint;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let name = match pick % 3 {
        0 => "model.safetensors",
        1 => "pytorch_model.bin",
        _ => "tokenizer.json",
    };
    let path = dir.path().join(name);
    std::fs::write(&path, file).unwrap();
    if pick % 3 == 2 {
        let _ = BertTokenizer::from_tokenizer_json(&path, &TokenizerOverrides::default());
        return;
    }
    if let Ok(checkpoint) = Checkpoint::open_file(&path) {
        for (name, tensor) in &checkpoint.tensors {
            let _ = tensor.to_f32(name);
        }
    }
});
