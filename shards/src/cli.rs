//! Command-line interface: `sluice run`, `sluice check`, `sluice --version`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::reload::load_snapshot;
use crate::server::{run, RunOptions};

#[derive(Parser, Debug)]
#[command(
    name = "sluice",
    version,
    about = "Sluice: a thread-per-core API gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the gateway.
    Run {
        /// Config file (YAML).
        #[arg(long, short)]
        config: PathBuf,
        /// Number of shards (overrides the file's `shards`).
        #[arg(long)]
        shards: Option<usize>,
        /// CPU list such as "0-3,8" (overrides the file's `shards`).
        #[arg(long, value_parser = parse_cpu_list)]
        cpus: Option<CpuList>,
    },
    /// Validate and compile a config file, then print each route's program.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
}

/// A parsed `--cpus` value (a newtype so clap treats it as one value, not a list).
#[derive(Debug, Clone)]
struct CpuList(Vec<usize>);

/// Parses `"0-3,8"` into `[0, 1, 2, 3, 8]`.
fn parse_cpu_list(s: &str) -> Result<CpuList, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let lo: usize = lo.parse().map_err(|_| format!("invalid CPU list {s:?}"))?;
        let hi: usize = hi.parse().map_err(|_| format!("invalid CPU list {s:?}"))?;
        if lo > hi {
            return Err(format!("invalid CPU range {part:?}"));
        }
        out.extend(lo..=hi);
    }
    if out.is_empty() {
        return Err("empty CPU list".into());
    }
    Ok(CpuList(out))
}

/// Entry point of the binary; returns the exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Run {
            config,
            shards,
            cpus,
        } => run(RunOptions {
            config,
            shards,
            cpus: cpus.map(|c| c.0),
        }),
        Command::Check { config } => check(&config),
    }
}

fn check(path: &std::path::Path) -> i32 {
    match load_snapshot(path) {
        Ok((cfg, snap)) => {
            println!(
                "{}: ok: gateway {:?}, {} route(s), {} global polic{}",
                path.display(),
                snap.name,
                snap.routes.len(),
                cfg.policies.len(),
                if cfg.policies.len() == 1 { "y" } else { "ies" }
            );
            for r in &snap.routes {
                let methods = r
                    .methods
                    .as_ref()
                    .map(|m| m.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(","))
                    .unwrap_or_else(|| "*".into());
                println!("\nroute {} {methods} {}", r.id, r.pattern);
                print!("{:?}", r.program);
            }
            0
        }
        Err(lines) => {
            for l in lines {
                eprintln!("{l}");
            }
            2
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .compact()
        .init();
}

#[cfg(test)]
mod tests {
    use super::parse_cpu_list;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,8").unwrap().0, vec![0, 1, 2, 3, 8]);
        assert_eq!(parse_cpu_list("1").unwrap().0, vec![1]);
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("a").is_err());
    }
}
