//! Replays every input kept in `fuzz/regressions/<target>/` through the same entry points
//! the fuzz targets use, so a crash found once stays fixed without running the fuzzer.

use std::fs;
use std::path::Path;

// The fuzz crate is its own workspace; include its entry points rather than depend on it.
#[path = "../../fuzz/src/lib.rs"]
mod entry_points;

/// One fuzz entry point: takes the raw input, panics on a bug.
type EntryPoint = fn(&[u8]);

#[test]
fn replay_fuzz_regressions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    let targets: [(&str, EntryPoint); 3] = [
        ("parse_request_head", entry_points::parse_request_head),
        ("parse_response_head", entry_points::parse_response_head),
        ("decode_chunked", entry_points::decode_chunked),
    ];
    for (target, run) in targets {
        let dir = root.join(target);
        let mut inputs: Vec<_> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("readable directory entry").path())
            .filter(|path| path.is_file())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{} holds no inputs", dir.display());
        for path in inputs {
            let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            // Name the input if it panics, so the failure points at the file.
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{target} panicked on {}", path.display());
        }
    }
}
