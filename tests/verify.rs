//! `dropout-study verify DIR`: an untouched results folder passes; each kind of tampering is
//! caught with exit 1 and a line naming the file, the line or column, and the values.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_dropout-study");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn verify(dir: &Path) -> (Option<i32>, String) {
    let output = run(&["verify", dir.to_str().unwrap()]);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

/// A fresh study in a temporary folder.
fn results(extra: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--out",
        dir.path().to_str().unwrap(),
        "--trials",
        "5000",
        "--seed",
        "11",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let output = run(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    dir
}

/// Rewrites `name` through `edit`, then, when `rehash`, records its new SHA-256 in run.json as
/// a careful forger would, so that the checks behind the hash are what must catch the change.
fn tamper(dir: &Path, name: &str, rehash: bool, edit: impl FnOnce(String) -> String) {
    let path = dir.join(name);
    let text = fs::read_to_string(&path).unwrap();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit of {name} changed nothing");
    fs::write(&path, &edited).unwrap();
    if rehash {
        let run_path = dir.join("run.json");
        let mut run: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&run_path).unwrap()).unwrap();
        run["sha256"][name] = format!("{:x}", Sha256::digest(edited.as_bytes())).into();
        fs::write(&run_path, serde_json::to_string_pretty(&run).unwrap()).unwrap();
    }
}

/// Replaces field `column` of line `line` (from 1) of a CSV text.
fn set_field(text: String, line: usize, column: usize, value: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut fields: Vec<&str> = lines[line - 1].split(',').collect();
    fields[column] = value;
    lines[line - 1] = fields.join(",");
    lines.join("\n") + "\n"
}

fn assert_caught(dir: &Path, needles: &[&str], case: &str) {
    let (code, text) = verify(dir);
    assert_eq!(code, Some(1), "{case}: {text}");
    for needle in needles {
        assert!(text.contains(needle), "{case}: no {needle:?} in\n{text}");
    }
}

#[test]
fn an_untouched_folder_passes() {
    for extra in [
        &[][..],
        &["--no-trials-csv"],
        &["--precision", "f64", "--keep-prob", "0.3"],
    ] {
        let dir = results(extra);
        let (code, text) = verify(dir.path());
        assert_eq!(code, Some(0), "{extra:?}: {text}");
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.starts_with("ok: "), "{text}");
    }
}

#[test]
fn extra_summary_columns_are_tolerated() {
    let dir = results(&[]);
    tamper(dir.path(), "summary.csv", true, |text| {
        text.lines()
            .enumerate()
            .map(|(i, l)| format!("{l},{}\n", if i == 0 { "another_column" } else { "1.5" }))
            .collect()
    });
    let (code, text) = verify(dir.path());
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn each_kind_of_tampering_is_caught() {
    // A byte of trials.csv (a digit of trial 100's loss), hash left as it was.
    let dir = results(&[]);
    tamper(dir.path(), "trials.csv", false, |text| {
        set_field(text, 102, 2, "3.5")
    });
    assert_caught(
        dir.path(),
        &["trials.csv: SHA-256 is"],
        "a byte of trials.csv",
    );

    // The same with the hash forged: the recomputed summary no longer agrees.
    let dir = results(&[]);
    tamper(dir.path(), "trials.csv", true, |text| {
        set_field(text, 102, 2, "3.5")
    });
    assert_caught(
        dir.path(),
        &[
            "summary.csv: line 2 (loss), mean:",
            "recomputed from trials.csv",
        ],
        "a value of trials.csv, hash forged",
    );

    // A mean in summary.csv (grad_w1_0, line 7), hash forged.
    let dir = results(&[]);
    tamper(dir.path(), "summary.csv", true, |text| {
        set_field(text, 8, 2, "-0.8")
    });
    assert_caught(
        dir.path(),
        &[
            "summary.csv: line 8 (grad_w1_0), mean: -0.8 in the file",
            "recomputed from trials.csv",
            "mean_minus_expected",
        ],
        "a mean of summary.csv",
    );

    // A count in masks.csv (mask 000, line 2), hash forged.
    let dir = results(&[]);
    tamper(dir.path(), "masks.csv", true, |text| {
        let count: u64 = text
            .lines()
            .nth(1)
            .unwrap()
            .split(',')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        set_field(text, 2, 1, &(count + 1).to_string())
    });
    assert_caught(
        dir.path(),
        &[
            "masks.csv: line 2 (000), count:",
            "trials in trials.csv drew it",
            "the counts sum to 5001",
            "frequency",
        ],
        "a count of masks.csv",
    );

    // A hash in run.json.
    let dir = results(&[]);
    tamper(dir.path(), "run.json", false, |text| {
        let run: serde_json::Value = serde_json::from_str(&text).unwrap();
        let hash = run["sha256"]["masks.csv"].as_str().unwrap().to_string();
        let forged = format!(
            "{}{}",
            if hash.starts_with('0') { "1" } else { "0" },
            &hash[1..]
        );
        text.replace(&hash, &forged)
    });
    assert_caught(
        dir.path(),
        &["masks.csv: SHA-256 is", "but run.json records"],
        "a hash of run.json",
    );

    // A deleted row of trials.csv (trial 2500), hash forged.
    let dir = results(&[]);
    tamper(dir.path(), "trials.csv", true, |text| {
        let mut lines: Vec<&str> = text.lines().collect();
        lines.remove(2501);
        lines.join("\n") + "\n"
    });
    assert_caught(
        dir.path(),
        &[
            "trials.csv: has 4999 rows, but run.json says trials = 5000",
            "trials.csv: line 2502: trial \"2501\" where trial 2500 belongs",
            "masks.csv: line",
        ],
        "a deleted row of trials.csv",
    );

    // A deleted row of summary.csv, hash forged.
    let dir = results(&[]);
    tamper(dir.path(), "summary.csv", true, |text| {
        let mut lines: Vec<&str> = text.lines().collect();
        lines.remove(4);
        lines.join("\n") + "\n"
    });
    assert_caught(
        dir.path(),
        &[
            "summary.csv: the quantities",
            "differ from summary.csv's rows",
        ],
        "a deleted row of summary.csv",
    );
}

#[test]
fn without_trials_csv_the_summary_is_checked_against_itself() {
    let dir = results(&["--no-trials-csv"]);
    tamper(dir.path(), "summary.csv", true, |text| {
        set_field(text, 8, 2, "-0.8")
    });
    assert_caught(
        dir.path(),
        &[
            "summary.csv: line 8 (grad_w1_0), mean_minus_expected:",
            "its other columns give",
        ],
        "a mean without trials.csv",
    );

    // A trials.csv that run.json does not list belongs to another run.
    let other = results(&[]);
    fs::copy(
        other.path().join("trials.csv"),
        dir.path().join("trials.csv"),
    )
    .unwrap();
    assert_caught(
        dir.path(),
        &["trials.csv: is not listed in run.json's sha256"],
        "a stray trials.csv",
    );
}

#[test]
fn a_folder_that_is_not_a_study_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert_caught(dir.path(), &["run.json: cannot read it"], "an empty folder");
    let (code, text) = verify(&dir.path().join("missing"));
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("is not a folder"), "{text}");
}

#[test]
fn a_left_out_trials_csv_is_named_but_any_other_missing_file_fails() {
    let dir = results(&[]);
    fs::remove_file(dir.path().join("trials.csv")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_dropout-study"))
        .args(["verify", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("no trials.csv (listed in run.json: rerun"),
        "{stdout}"
    );

    fs::remove_file(dir.path().join("masks.csv")).unwrap();
    assert_caught(
        dir.path(),
        &["masks.csv: cannot read it"],
        "a missing masks.csv",
    );
}
