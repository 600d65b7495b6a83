//! `BertConfig` reads the `config.json` files transformers writes, and holds the values
//! transformers reads back from them (fixtures made by `tests/fixtures/config/make_fixtures.py`).

use std::path::PathBuf;

use bert_model::BertConfig;
use serde_json::{json, Value};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config")
}

#[test]
fn configs_written_by_transformers_read_the_same() {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap())
            .unwrap();
    let cases = expected["cases"].as_object().unwrap();
    assert_eq!(cases.len(), 4);
    for (name, want) in cases {
        let c = BertConfig::from_file(fixtures().join(format!("{name}.json")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = json!({
            "vocab_size": c.vocab_size,
            "hidden_size": c.hidden_size,
            "num_hidden_layers": c.num_hidden_layers,
            "num_attention_heads": c.num_attention_heads,
            "intermediate_size": c.intermediate_size,
            "hidden_act": c.hidden_act,
            "hidden_dropout_prob": c.hidden_dropout_prob,
            "attention_probs_dropout_prob": c.attention_probs_dropout_prob,
            "max_position_embeddings": c.max_position_embeddings,
            "type_vocab_size": c.type_vocab_size,
            "initializer_range": c.initializer_range,
            "layer_norm_eps": c.layer_norm_eps,
            "pad_token_id": c.pad_token_id,
            "classifier_dropout": c.classifier_dropout,
            "num_labels": c.num_labels(),
            "problem_type": c.problem_type,
            "architectures": c.architectures,
            "id2label": (0..c.num_labels())
                .map(|i| (i.to_string(), Value::String(c.label_name(i))))
                .collect::<serde_json::Map<_, _>>(),
        });
        assert_eq!(&got, want, "{name}");
    }
}

#[test]
fn written_back_configs_keep_every_key() {
    for name in ["default", "three-labels", "regression", "minilm"] {
        let path = fixtures().join(format!("{name}.json"));
        let original: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let c = BertConfig::from_file(&path).unwrap();
        let back: Value = serde_json::from_str(&c.to_json()).unwrap();
        for (key, value) in original.as_object().unwrap() {
            assert_eq!(back.get(key), Some(value), "{name}: key {key}");
        }
    }
}
