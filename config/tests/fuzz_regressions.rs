//! Replays every input kept in `fuzz/regressions/load_config/` through the entry point the
//! `load_config` fuzz target uses, so a crash found once stays fixed without the fuzzer.

use std::fs;
use std::path::Path;

// The fuzz crate is its own workspace; include its entry point rather than depend on it.
#[path = "../../fuzz/src/config.rs"]
mod entry_point;

#[test]
fn replay_load_config_regressions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/load_config");
    let mut inputs: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{} holds no inputs", dir.display());
    for input in inputs {
        let data = fs::read(&input).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        entry_point::load_config(&data);
    }
}
