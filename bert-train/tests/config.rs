//! The configuration: every file of `configs/` resolves to what it resolved to before the
//! config structs were rewritten (`fixtures/configs/resolved.json`), the generated reference
//! `docs/CONFIG.md` is current, and bad configs get every problem at once.

use std::path::{Path, PathBuf};

use bert_train::config::{
    reference, FineTuneConfig, ModelSource, ProgressStyle, Schedule, TaskKeys,
};
use bert_train::tasks::sequence_classification::SequenceClassification;
use bert_train::tasks::TaskConfig;
use serde_json::{Map, Value};

type Config = FineTuneConfig<TaskConfig>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

const GOOD: &str = r#"
task = "sequence-classification"
model = "models/minilm"
output_dir = "runs/x"
[data]
train = "train.csv"
validation = "dev.csv"
text_column = "sentence"
[training]
epochs = 2
learning_rate = 3e-5
"#;

fn parse(text: &str, overrides: &[&str]) -> Result<Config, String> {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Config::parse(text, Path::new("run.toml"), &overrides).map_err(|e| e.to_string())
}

fn assert_all_in(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

/// A resolved config as flat `key -> value` JSON, in the keys of the fixture.
fn flat(config: &Config) -> Map<String, Value> {
    let table = serde_json::to_value(config.to_table()).unwrap();
    let mut out = Map::new();
    for (key, value) in table.as_object().unwrap() {
        match (key.as_str(), value) {
            ("model", Value::String(name)) => {
                out.insert("model.pretrained".into(), name.clone().into());
                out.insert("model.config".into(), Value::Object(Map::new()));
            }
            ("model" | "data" | "training", Value::Object(inner)) => {
                for (k, v) in inner {
                    out.insert(format!("{key}.{k}"), v.clone());
                }
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    let t = &config.training;
    out.remove("training.device");
    out.insert("training.devices".into(), serde_json::json!(t.devices()));
    out.insert("training.data_seed".into(), t.data_seed().into());
    out
}

/// Equal as values, numbers compared as numbers and a missing key as `null`.
fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None | Some(Value::Null), None | Some(Value::Null)) => true,
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            x.keys().chain(y.keys()).all(|k| same(x.get(k), y.get(k)))
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(Some(p), Some(q)))
        }
        (a, b) => a == b,
    }
}

#[test]
fn every_config_resolves_as_before() {
    let fixture = root().join("bert-train/tests/fixtures/configs/resolved.json");
    let expected: Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    assert!(
        expected.len() >= 13,
        "the fixture lists every config of configs/"
    );
    for (name, want) in &expected {
        let config = Config::load(&root().join("configs").join(name), &[]).unwrap();
        let got = flat(&config);
        let want = want.as_object().unwrap();
        for key in want.keys().chain(got.keys()) {
            assert!(
                same(got.get(key), want.get(key)),
                "{name}: `{key}` is {:?}, was {:?}",
                got.get(key),
                want.get(key)
            );
        }
    }
}

#[test]
fn a_resolved_config_reads_back_the_same() {
    for path in std::fs::read_dir(root().join("configs")).unwrap() {
        let path = path.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let config = Config::load(&path, &[]).unwrap();
        let again = Config::parse(&config.to_toml(), &path, &[]).unwrap();
        assert_eq!(again, config, "{}", path.display());
    }
}

#[test]
fn the_config_reference_is_current() {
    let file = root().join("docs/CONFIG.md");
    let written = std::fs::read_to_string(&file).unwrap_or_default();
    let generated = reference::markdown::<TaskConfig>();
    assert!(
        written == generated,
        "docs/CONFIG.md is stale: run `bert-train config --keys > docs/CONFIG.md`"
    );
    for key in [
        "`training.learning_rate`",
        "`data.text_column`",
        "`data.doc_stride`",
    ] {
        assert!(generated.contains(key), "{key} missing from the reference");
    }
}

#[test]
fn defaults_are_the_trainer_defaults() {
    let c = parse(GOOD, &[]).unwrap();
    let t = &c.training;
    assert_eq!((t.epochs, t.learning_rate, t.batch_size), (2, 3e-5, 8));
    assert_eq!(t.weight_decay, 0.0);
    assert_eq!(
        (t.adam_beta1, t.adam_beta2, t.adam_epsilon),
        (0.9, 0.999, 1e-8)
    );
    assert_eq!((t.warmup_ratio, t.max_grad_norm), (0.0, 1.0));
    assert_eq!(t.lr_scheduler, Schedule::Linear);
    assert_eq!((t.seed, t.data_seed()), (42, 42));
    assert_eq!(t.progress, ProgressStyle::Auto);
    assert_eq!(t.checkpoint_every_steps, 500);
    assert_eq!(c.data.max_seq_length, 128);
    let task = SequenceClassification::from_task_config(&c.task).unwrap();
    assert_eq!(task.label_column, "label");
    assert_eq!(task.text_column, "sentence");
    assert!(!task.regression);
    let qa = GOOD
        .replace("sequence-classification", "question-answering")
        .replace("text_column = \"sentence\"\n", "");
    assert_eq!(parse(&qa, &[]).unwrap().data.max_seq_length, 384);
}

#[test]
fn overrides_apply_before_validation() {
    let set = [
        "training.learning_rate=1e-4",
        "output_dir=runs/y",
        "training.device=cpu",
    ];
    let c = parse(GOOD, &set).unwrap();
    assert_eq!(c.training.learning_rate, 1e-4);
    assert_eq!(c.output_dir, PathBuf::from("runs/y"));
    assert!(
        c.to_toml().contains("learning_rate = 0.0001"),
        "{}",
        c.to_toml()
    );
    let err = parse(GOOD, &["training.learning_rate"]).unwrap_err();
    assert!(err.contains("--set training.learning_rate"), "{err}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = r#"
task = "sequence-classification"
model = "m"
output_dir = "o"
colour = "blue"
[data]
train = "t.csv"
format = "xml"
text_colum = "sentence"
[training]
lr = 1e-5
learnig_rate = 1e-5
batch_size = "big"
warmup_ratio = 2.0
device = "tpu"
progress = "fancy"
"#;
    let err = parse(text, &[]).unwrap_err();
    assert_all_in(
        &err,
        &[
            "run.toml",
            "unknown key `colour`; valid keys here: data, model, output_dir, problem_type, task, training",
            "unknown key `training.lr`; valid keys here: adam_beta1",
            "unknown key `training.learnig_rate`; did you mean `training.learning_rate`?",
            "unknown key `data.text_colum`; did you mean `data.text_column`?",
            "`data.format`: unknown variant `xml`",
            "`training.batch_size`: expected a non-negative integer, found string \"big\"",
            "`training.warmup_ratio`: 2 is outside [0, 1]",
            "`training.device`",
            "`training.progress`: unknown variant `fancy`, expected one of `auto`, `tui`, `plain`",
        ],
    );
}

#[test]
fn devices_replace_device_and_are_checked() {
    let base = "task = \"sequence-classification\"\nmodel = \"m\"\noutput_dir = \"o\"\n\
                [data]\ntrain = \"t.csv\"\n[training]\n";
    let two = parse(&format!("{base}devices = [\"cpu\", \"cpu\"]\n"), &[]).unwrap();
    assert_eq!(two.training.devices(), ["cpu", "cpu"]);
    assert_eq!(two.training.device(), "cpu");
    assert!(two.summary("t").contains("devices cpu, cpu"));
    assert_eq!(parse(base, &[]).unwrap().training.devices(), ["cpu"]);
    for (text, needle) in [
        ("device = \"cpu\"\ndevices = [\"cpu\"]\n", "not both"),
        ("devices = []\n", "an empty list"),
        ("devices = [\"cpu\", \"tpu\"]\n", "`training.devices`"),
    ] {
        let err = parse(&format!("{base}{text}"), &[]).unwrap_err();
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
}

#[test]
fn missing_required_keys_are_named() {
    let err = parse("task = \"token-classification\"\n[data]\n", &[]).unwrap_err();
    assert_all_in(
        &err,
        &[
            "`model`: missing",
            "`output_dir`: missing",
            "`data.train`: missing",
        ],
    );
    let err = parse(&GOOD.replace("sequence-classification", "mlm"), &[]).unwrap_err();
    assert_all_in(
        &err,
        &[
            "`task`: unknown variant `mlm`",
            "`masked-lm`, `next-sentence`",
        ],
    );
    let err = parse(
        &GOOD.replace("task = \"sequence-classification\"\n", ""),
        &[],
    )
    .unwrap_err();
    assert!(err.contains("`task`: missing"), "{err}");
}

#[test]
fn task_keys_are_checked_with_the_task() {
    let text = GOOD.replace(
        "text_column = \"sentence\"",
        "labels = []\nmlm_probability = 0.2\ntext_pair_column = 3",
    );
    let err = parse(
        &text.replace("model =", "problem_type = \"ranking\"\nmodel ="),
        &[],
    )
    .unwrap_err();
    assert_all_in(
        &err,
        &[
            "`problem_type`: unknown variant `ranking`",
            "`data.labels`: must not be empty",
            "unknown key `data.mlm_probability`",
            "`data.text_pair_column`: expected a string, found integer `3`",
        ],
    );
    let numbers = parse(
        &GOOD.replace("text_column", "labels = [0, 1]\ntext_column"),
        &[],
    )
    .unwrap();
    let task = SequenceClassification::from_task_config(&numbers.task).unwrap();
    assert_eq!(task.labels, Some(vec!["0".to_string(), "1".to_string()]));
    let err = parse(&GOOD.replace("[data]", "[data]\nformat = \"conll\""), &[]).unwrap_err();
    assert!(
        err.contains("`data.format`: sequence-classification reads csv, tsv, jsonl"),
        "{err}"
    );
}

#[test]
fn a_pretrained_model_takes_config_overrides() {
    let model = "[model]\npretrained = \"models/minilm\"\n\
                 config = { hidden_dropout_prob = 0.0, attention_probs_dropout_prob = 0.0 }\n";
    let text = GOOD.replace("model = \"models/minilm\"\n", "");
    let (head, rest) = text.split_once("[data]").unwrap();
    let c = parse(&format!("{head}{model}[data]{rest}"), &[]).unwrap();
    let ModelSource::Pretrained { name, overrides } = c.model else {
        panic!("{:?}", c.model)
    };
    assert_eq!(name, "models/minilm");
    assert_eq!(
        (overrides["hidden_dropout_prob"].as_f64(), overrides.len()),
        (Some(0.0), 2)
    );
    let bad = model.replace(
        "0.0, attention",
        "\"none\", hidden_dropout = 0.0, num_labels = 3, attention",
    ) + "tokenizer = \"v\"\n";
    let err = parse(&format!("{head}{bad}[data]{rest}"), &[]).unwrap_err();
    assert_all_in(
        &err,
        &[
            "`model.config.hidden_dropout_prob`",
            "`model.config.hidden_dropout`: not a key",
            "`model.config.num_labels`: set by the task",
            "`model.tokenizer`: not with `pretrained`",
        ],
    );
    // `--set model.config.x=...` on `model = "name"` keeps the name.
    let c = parse(GOOD, &["model.config.hidden_dropout_prob=0.0"]).unwrap();
    assert!(
        matches!(c.model, ModelSource::Pretrained { ref name, ref overrides } if name == "models/minilm" && overrides.len() == 1),
        "{:?}",
        c.model
    );
}

#[test]
fn data_seed_defaults_to_the_seed_and_can_differ() {
    let c = parse(GOOD, &["training.seed=7"]).unwrap();
    assert_eq!((c.training.seed, c.training.data_seed()), (7, 7));
    let c = parse(GOOD, &["training.seed=7", "training.data_seed=2"]).unwrap();
    assert_eq!((c.training.seed, c.training.data_seed()), (7, 2));
    assert!(
        c.summary("t").contains("seed 7, data seed 2"),
        "{}",
        c.summary("t")
    );
    let err = parse(GOOD, &["training.data_seed=-1"]).unwrap_err();
    assert!(err.contains("`training.data_seed`"), "{err}");
}

#[test]
fn random_init_takes_a_config_table() {
    let text = "task = \"sequence-classification\"\noutput_dir = \"o\"\n[model]\n\
                tokenizer = \"vocab.txt\"\n[model.config]\nhidden_size = 32\n\
                num_hidden_layers = 2\nnum_attention_heads = 2\nintermediate_size = 64\n\
                vocab_size = 100\n[data]\ntrain = \"t.csv\"\n";
    let c = parse(text, &[]).unwrap();
    let ModelSource::Random { config, tokenizer } = c.model else {
        panic!("{:?}", c.model)
    };
    assert_eq!((config.hidden_size, tokenizer.as_str()), (32, "vocab.txt"));
}

#[test]
fn a_config_built_in_code_is_checked_as_a_file() {
    let task = TaskConfig::named("sequence-classification").unwrap();
    let mut config = Config::new(task, ModelSource::pretrained("models/minilm"), "runs/x");
    config.data.train = "train.csv".into();
    config.training.learning_rate = 1e-4;
    config.check().unwrap();
    config.set("data.text_column", "sentence").unwrap();
    let task = SequenceClassification::from_task_config(&config.task).unwrap();
    assert_eq!(
        (task.text_column.as_str(), config.training.learning_rate),
        ("sentence", 1e-4)
    );
    assert_eq!(config.task.name(), "sequence-classification");
    config.training.batch_size = 0;
    let err = config.check().unwrap_err().to_string();
    assert!(
        err.contains("`training.batch_size`: must be at least 1"),
        "{err}"
    );
    let err = config
        .set("training.epochs", "three")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`training.epochs`: expected a non-negative integer"),
        "{err}"
    );
}
