//! The `sluice` binary.

fn main() {
    std::process::exit(sluice_shards::cli::main());
}
