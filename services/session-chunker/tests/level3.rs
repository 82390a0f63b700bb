//! The chunker's Zstandard level 3 against the reference libzstd (the `zstd` crate, C, host
//! only): libzstd decodes every frame we write, and our frames come close to its own level 3 on
//! the same input and are smaller than ruzstd's level-1-like `Fastest`.

use lucid_runtime::testing::recording;
use ruzstd::encoding::{compress_to_vec, CompressionLevel};
use session_chunker::chunk;
use std::path::Path;

/// Real text: this workspace's Rust sources (services/*/src), at most `len` bytes.
fn sources(len: usize) -> Vec<u8> {
    let services = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files: Vec<_> = std::fs::read_dir(&services)
        .unwrap()
        .filter_map(|e| e.ok())
        .flat_map(|e| {
            std::fs::read_dir(e.path().join("src"))
                .into_iter()
                .flatten()
        })
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in &files {
        out.extend(std::fs::read(f).unwrap());
    }
    out.truncate(len);
    out
}

/// A real executable (this test binary), a mix of code, tables and strings.
fn executable(len: usize) -> Vec<u8> {
    let mut bytes = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    bytes.truncate(len);
    bytes
}

fn check_round_trip(name: &str, plain: &[u8]) -> usize {
    let ours = chunk::compress(plain);
    let by_ruzstd = chunk::decompress(&ours, plain.len() as u64).unwrap();
    assert!(
        by_ruzstd == plain,
        "{name}: ruzstd does not read back the input"
    );
    let by_libzstd = zstd::stream::decode_all(&ours[..]).unwrap();
    assert!(
        by_libzstd == plain,
        "{name}: libzstd does not read back the input"
    );
    ours.len()
}

#[test]
fn libzstd_reads_every_frame_back_including_edge_sizes() {
    for len in [0, 1, 7, 8, 9, 15, 16, 17, 1000, 128 * 1024, 128 * 1024 + 1] {
        check_round_trip(&format!("{len} noisy bytes"), &recording(len, 7));
        check_round_trip(&format!("{len} zero bytes"), &vec![0u8; len]);
    }
    // 16 MiB, the largest chunk: the matcher drops history older than its 2 MiB window.
    check_round_trip("16 MiB recording", &recording(16 << 20, 3));
    // Long repeats at exactly the window distance and just beyond it.
    let unit = recording(1 << 21, 11);
    let mut repeated = unit.clone();
    repeated.extend(&unit);
    repeated.extend(&recording(1 << 20, 12));
    repeated.extend(&unit[..1 << 20]);
    check_round_trip("window-distance repeats", &repeated);
}

#[test]
fn level3_stays_near_libzstd_level3_and_beats_fastest() {
    let inputs = [
        ("recording", recording(8 << 20, 5)),
        ("sources", sources(8 << 20)),
        ("executable", executable(8 << 20)),
    ];
    for (name, plain) in &inputs {
        let ours = check_round_trip(name, plain);
        let reference = zstd::bulk::compress(plain, 3).unwrap().len();
        let level1 = zstd::bulk::compress(plain, 1).unwrap().len();
        let fastest = compress_to_vec(&plain[..], CompressionLevel::Fastest).len();
        println!(
            "{name}: {} bytes -> ours {ours} ({:+.1}% vs libzstd -3 {reference}), \
             libzstd -1 {level1}, ruzstd Fastest {fastest}",
            plain.len(),
            (ours as f64 / reference as f64 - 1.0) * 100.0
        );
        // ruzstd's entropy stage has no repeat-offset codes, so a gap to libzstd remains
        // (measured: 8% on recordings and text, 28% on executables); this bound catches a
        // match finder that stops finding what level 3 finds.
        assert!(
            (ours as f64) <= reference as f64 * 1.35,
            "{name}: {ours} bytes, more than 35% over libzstd level 3 ({reference})"
        );
        assert!(
            ours < fastest,
            "{name}: {ours} bytes, not smaller than Fastest ({fastest})"
        );
    }
}
