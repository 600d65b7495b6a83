//! The fine-tune config reader on any TOML text and `--set` overrides: a config or every
//! problem, never a panic. Lines after a line `--set` are overrides (`KEY=VALUE`).
#![no_main]

use std::path::Path;

use bert_train::config::FineTuneConfig;
use bert_train::TaskConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (toml, sets) = text.split_once("\n--set\n").unwrap_or((&text, ""));
    let overrides: Vec<String> = sets.lines().map(str::to_string).collect();
    if let Ok(config) = FineTuneConfig::<TaskConfig>::parse(toml, Path::new("fuzz.toml"), &overrides) {
        // What reads also writes back and reads again the same.
        let again = FineTuneConfig::<TaskConfig>::parse(&config.to_toml(), Path::new("again.toml"), &[]);
        assert!(again.is_ok(), "{:?}", again.err());
    }
});
