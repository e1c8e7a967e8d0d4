//! The committed study in `results/` is what the README's commands produce.
//!
//! `results/` holds the canonical study (`cargo run --release -- --trials 100000`, default seed)
//! and sweep (`cargo run --release -- sweep`), without `trials.csv` (git-ignored; `run.json` holds
//! its SHA-256). This test runs both commands again into a temporary folder and compares: every
//! CSV byte for byte, the SHA-256 of the regenerated `trials.csv` with the committed `run.json`,
//! and both JSON records field by field except the fields that describe the machine and the
//! moment (`started_at`, `wall_seconds`, `trials_per_second`, `threads`, `git_commit`).

use std::fs;
use std::path::Path;
use std::process::Command;

const MACHINE_FIELDS: [&str; 5] = [
    "started_at",
    "wall_seconds",
    "trials_per_second",
    "threads",
    "git_commit",
];

fn run(args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_dropout-study"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn json_without_machine_fields(path: &Path) -> serde_json::Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    for field in MACHINE_FIELDS {
        value.as_object_mut().unwrap().remove(field);
    }
    value
}

fn assert_same_file(committed: &Path, regenerated: &Path) {
    let a = fs::read(committed).unwrap_or_else(|e| panic!("{}: {e}", committed.display()));
    let b = fs::read(regenerated).unwrap();
    assert!(
        a == b,
        "{} differs from what the README's command writes; regenerate results/ (see \
         results/README.md)",
        committed.display()
    );
}

#[test]
fn committed_results_are_what_the_readme_commands_produce() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    run(&["--trials", "100000", "--out", out, "--quiet"]);
    run(&["sweep", "--out", out, "--quiet"]);

    for name in ["summary.csv", "convergence.csv", "masks.csv", "sweep.csv"] {
        assert_same_file(&committed.join(name), &dir.path().join(name));
    }
    for name in ["run.json", "sweep.json"] {
        assert_eq!(
            json_without_machine_fields(&committed.join(name)),
            json_without_machine_fields(&dir.path().join(name)),
            "{name}"
        );
    }
}
