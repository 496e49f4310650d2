//! The fuzz targets' corpus, run on every CI run (issue 23, part 4): every
//! input `scripts/fuzz` kept (`fuzz/corpus/<target>/`), every input that
//! once crashed a target (`fuzz/regressions/<target>/`, each a bug fixed),
//! and the targets' seeds go through the same bodies the fuzzer runs
//! (`fuzz/src/lib.rs`), here without libFuzzer.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod targets;

use std::path::Path;

fn inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn every_kept_input_and_every_seed_runs_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, body) in targets::TARGETS {
        let corpus = inputs(&root.join("corpus").join(name));
        assert!(
            corpus.len() >= 10,
            "fuzz/corpus/{name} holds {} inputs: run scripts/fuzz",
            corpus.len()
        );
        let regressions = inputs(&root.join("regressions").join(name));
        for (path, input) in corpus.iter().chain(&regressions) {
            let ran = std::panic::catch_unwind(|| body(input));
            assert!(ran.is_ok(), "{name} panicked on {path}");
        }
        for seed in targets::seeds(name) {
            body(&seed);
        }
        println!(
            "{name}: {} corpus inputs, {} regressions",
            corpus.len(),
            regressions.len()
        );
    }
}

/// Writes each target's seeds into its corpus (`fuzz/corpus/<target>/`,
/// named by content): where a first fuzzing run starts. Not a check:
/// run it by hand when a target is added.
#[test]
#[ignore = "writes into fuzz/corpus: cargo test --test fuzz_corpus -- --ignored"]
fn write_the_seeds_into_the_corpus() {
    use sha2::Digest;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, _) in targets::TARGETS {
        let dir = root.join("corpus").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for seed in targets::seeds(name) {
            let file = hex::encode(&sha2::Sha256::digest(&seed)[..10]);
            std::fs::write(dir.join(format!("seed-{file}")), seed).unwrap();
        }
    }
}
