//! Chunk + encrypt + Merkle throughput (MiB/s), median of several passes, as JSON on stdout.
//!
//! `pipeline-bench [--size-mib N] [--chunk-mib N] [--reps N] [--out FILE]` (defaults 64, 8, 5).

use lucid_e2e::bench::{median, mib_per_s, pass};
use session_encryptor::crypto::MasterKey;

fn main() {
    let mut size_mib = 64usize;
    let mut chunk_mib = 8u64;
    let mut reps = 5usize;
    let mut out: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = |name: &str| {
            args.next().unwrap_or_else(|| {
                eprintln!("pipeline-bench: {name} needs a value");
                std::process::exit(2)
            })
        };
        let number = |name: &str, v: String| -> usize {
            v.parse().ok().filter(|n| *n > 0).unwrap_or_else(|| {
                eprintln!("pipeline-bench: {name} {v:?} is not a positive number");
                std::process::exit(2)
            })
        };
        match flag.as_str() {
            "--size-mib" => size_mib = number("--size-mib", value("--size-mib")),
            "--chunk-mib" => chunk_mib = number("--chunk-mib", value("--chunk-mib")) as u64,
            "--reps" => reps = number("--reps", value("--reps")),
            "--out" => out = Some(value("--out")),
            other => {
                eprintln!("pipeline-bench: unknown argument {other:?}\nusage: pipeline-bench [--size-mib N] [--chunk-mib N] [--reps N] [--out FILE]");
                std::process::exit(2)
            }
        }
    }
    let data = lucid_e2e::recording(size_mib << 20, 7);
    let key = MasterKey::from_hex(&"42".repeat(32)).expect("valid key");
    let mut totals = Vec::new();
    let (mut chunk, mut encrypt, mut merkle) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..reps {
        let (t, _) = pass(&data, chunk_mib << 20, &key);
        eprintln!(
            "pass {}/{reps}: {:.1} MiB/s",
            rep + 1,
            mib_per_s(data.len(), t.total())
        );
        totals.push(mib_per_s(data.len(), t.total()));
        chunk.push(mib_per_s(data.len(), t.chunk));
        encrypt.push(mib_per_s(data.len(), t.encrypt));
        merkle.push(t.merkle.as_secs_f64() * 1e3);
    }
    let round = |x: f64| (x * 10.0).round() / 10.0;
    let report = serde_json::json!({
        "benchmark": "pipeline: chunk (zstd + sha256) + encrypt (xchacha20poly1305 + blake3) + merkle",
        "arch": std::env::consts::ARCH,
        "size_mib": size_mib,
        "chunk_mib": chunk_mib,
        "reps": reps,
        "median_mib_per_s": round(median(totals.clone())),
        "stages_median": {
            "chunk_mib_per_s": round(median(chunk)),
            "encrypt_mib_per_s": round(median(encrypt)),
            "merkle_ms": (median(merkle) * 1000.0).round() / 1000.0,
        },
        "passes_mib_per_s": totals.into_iter().map(round).collect::<Vec<_>>(),
    });
    let text = serde_json::to_string_pretty(&report).expect("JSON");
    println!("{text}");
    if let Some(path) = out {
        if let Err(e) = std::fs::write(&path, format!("{text}\n")) {
            eprintln!("pipeline-bench: {path}: {e}");
            std::process::exit(1)
        }
    }
}
