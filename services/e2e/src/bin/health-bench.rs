//! `/health` latency, memory and threads of a service under slow and hostile clients, as JSON on
//! stdout (see `lucid_e2e::health`).
//!
//! `health-bench --binary PATH [--samples N] [--timeout-ms MS] [--env KEY=VALUE]… [--out FILE]`
//! (defaults 50 samples, 3000 ms: the compose health check's timeout). PATH is an api-gateway
//! binary, e.g. `target/x86_64-unknown-linux-musl/release/api-gateway`.

use lucid_e2e::health::{run, Options};
use std::path::PathBuf;
use std::time::Duration;

const USAGE: &str = "usage: health-bench --binary PATH [--samples N] [--timeout-ms MS] [--env KEY=VALUE]... [--out FILE]";

fn fail(message: String) -> ! {
    eprintln!("health-bench: {message}\n{USAGE}");
    std::process::exit(2)
}

fn main() {
    let mut binary: Option<PathBuf> = None;
    let mut samples = 50usize;
    let mut timeout_ms = 3000u64;
    let mut env = Vec::new();
    let mut out: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| fail(format!("{flag} needs a value")));
        let number = |v: &str| -> u64 {
            v.parse()
                .ok()
                .filter(|n| *n > 0)
                .unwrap_or_else(|| fail(format!("{flag} {v:?} is not a positive number")))
        };
        match flag.as_str() {
            "--binary" => binary = Some(PathBuf::from(value)),
            "--samples" => samples = number(&value) as usize,
            "--timeout-ms" => timeout_ms = number(&value),
            "--env" => match value.split_once('=') {
                Some((k, v)) => env.push((k.to_string(), v.to_string())),
                None => fail(format!("--env {value:?} is not KEY=VALUE")),
            },
            "--out" => out = Some(value),
            other => fail(format!("unknown argument {other:?}")),
        }
    }
    let opts = Options {
        binary: binary.unwrap_or_else(|| fail("--binary is required".into())),
        samples,
        timeout: Duration::from_millis(timeout_ms),
        env,
    };
    let report = run(&opts).unwrap_or_else(|e| {
        eprintln!("health-bench: {e}");
        std::process::exit(1)
    });
    let text = serde_json::to_string_pretty(&report).expect("JSON");
    println!("{text}");
    if let Some(path) = out {
        if let Err(e) = std::fs::write(&path, format!("{text}\n")) {
            eprintln!("health-bench: {path}: {e}");
            std::process::exit(1)
        }
    }
}
