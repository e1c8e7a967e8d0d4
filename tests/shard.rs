//! A run split into shards and merged back, end to end: three shards of a 20000-trial run (a
//! count that is not a multiple of the 4096-trial block, so shard boundaries fall inside blocks)
//! against the same run made in one piece, and the shards `merge` refuses.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const TRIALS: &str = "20000";

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dropout-study"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> Output {
    let output = run(args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The stderr of a command that must exit with 2.
fn refused(args: &[&str]) -> String {
    let output = run(args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    stderr
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The three shards, the single run and the merge of the shards, made once for every test.
struct Runs {
    _root: tempfile::TempDir,
    root: PathBuf,
    shards: Vec<PathBuf>,
    single: PathBuf,
    merged: PathBuf,
}

fn runs() -> &'static Runs {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    RUNS.get_or_init(|| {
        let root_dir = tempfile::tempdir().unwrap();
        let root = root_dir.path().to_path_buf();
        let shards: Vec<PathBuf> = (0..3).map(|k| root.join(format!("shard-{k}"))).collect();
        for (k, dir) in shards.iter().enumerate() {
            let spec = format!("{k}/3");
            ok(&[
                "--trials",
                TRIALS,
                "--seed",
                "7",
                "--shard",
                &spec,
                "--out",
                path(dir),
                "-q",
            ]);
        }
        let single = root.join("single");
        ok(&[
            "--trials",
            TRIALS,
            "--seed",
            "7",
            "--out",
            path(&single),
            "-q",
        ]);
        // Shards in any order.
        let merged = root.join("merged");
        ok(&[
            "merge",
            path(&shards[2]),
            path(&shards[0]),
            path(&shards[1]),
            "--out",
            path(&merged),
            "-q",
        ]);
        Runs {
            _root: root_dir,
            root,
            shards,
            single,
            merged,
        }
    })
}

fn read(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap()
}

/// The rows of a CSV file as (header, rows of fields).
fn csv_rows(dir: &Path, name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(dir.join(name)).unwrap();
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

fn column(header: &[String], name: &str) -> usize {
    header.iter().position(|h| h == name).unwrap()
}

/// Whether `a` and `b` agree within `1e-12` relative (exactly when either is 0).
fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

#[test]
fn the_shards_trials_are_the_single_runs_trials_byte_for_byte() {
    let runs = runs();
    let single = read(&runs.single, "trials.csv");
    let mut joined = String::new();
    for (k, dir) in runs.shards.iter().enumerate() {
        let text = read(dir, "trials.csv");
        let (header, rows) = text.split_once('\n').unwrap();
        assert_eq!(header, single.lines().next().unwrap());
        if k == 0 {
            joined += header;
            joined.push('\n');
        }
        joined += rows;
    }
    assert_eq!(joined, single);
    assert_eq!(read(&runs.merged, "trials.csv"), single);
}

#[test]
fn a_shard_folder_holds_its_trials_and_shard_json_only() {
    let runs = runs();
    let mut names: Vec<String> = fs::read_dir(&runs.shards[1])
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["shard.json", "trials.csv"]);
    let record: serde_json::Value =
        serde_json::from_str(&read(&runs.shards[1], "shard.json")).unwrap();
    assert_eq!(record["shard"], 1);
    assert_eq!(record["shards"], 3);
    // floor(1 * 20000 / 3) and floor(2 * 20000 / 3): inside the blocks [4096, 8192) and
    // [12288, 16384).
    assert_eq!(record["first_trial"], 6666);
    assert_eq!(record["end_trial"], 13333);
    assert_eq!(record["moments"][0]["quantity"], "loss");
    assert_eq!(record["moments"][0]["count"], 6667);
    // The one checkpoint in (6666, 13333], over the shard's own trials from 6666.
    assert_eq!(record["checkpoints"][0]["checkpoint_trials"], 10_000);
    assert_eq!(record["checkpoints"][0]["moments"][0]["count"], 3334);
    assert_eq!(record["checkpoints"].as_array().unwrap().len(), 1);
    assert_eq!(record["network"], "notebook");
    assert_eq!(record["network_sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn merged_mask_counts_are_the_single_runs() {
    let runs = runs();
    assert_eq!(
        read(&runs.merged, "masks.csv"),
        read(&runs.single, "masks.csv")
    );
}

/// Both runs merge the same 20000 values exactly (Welford within a piece, Chan, Golub and
/// LeVeque between pieces); they differ only in where the pieces begin and end (the shard
/// boundaries cut two blocks in two, and shards are merged with each other rather than block by
/// block). Each update rounds once per operation, so the two results differ by a few rounding
/// errors of the values' magnitude, about 1e-16 relative per step and far below 1e-12 over the
/// few thousand steps of a block.
#[test]
fn merged_means_and_variances_equal_the_single_runs() {
    let runs = runs();
    let (header, merged) = csv_rows(&runs.merged, "summary.csv");
    let (single_header, single) = csv_rows(&runs.single, "summary.csv");
    assert_eq!(header, single_header);
    assert_eq!(merged.len(), single.len());
    let (quantity, trials, mean, std) = (
        column(&header, "quantity"),
        column(&header, "trials"),
        column(&header, "mean"),
        column(&header, "std"),
    );
    for (m, s) in merged.iter().zip(&single) {
        assert_eq!(m[quantity], s[quantity]);
        assert_eq!(m[trials], s[trials]);
        let value = |row: &[String], i: usize| row[i].parse::<f64>().unwrap();
        assert!(
            close(value(m, mean), value(s, mean)),
            "{}: mean {} vs {}",
            m[quantity],
            m[mean],
            s[mean]
        );
        let (vm, vs) = (value(m, std).powi(2), value(s, std).powi(2));
        assert!(close(vm, vs), "{}: variance {vm} vs {vs}", m[quantity]);
        // Everything derived from them (the references, the intervals, the tests) agrees too.
        for (i, name) in header.iter().enumerate() {
            match (m[i].parse::<f64>(), s[i].parse::<f64>()) {
                (Ok(a), Ok(b)) => assert!(
                    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
                    "{}: {name} {a} vs {b}",
                    m[quantity]
                ),
                _ => assert_eq!(m[i], s[i], "{}: {name}", m[quantity]),
            }
        }
    }
}

#[test]
fn merged_convergence_has_the_single_runs_checkpoints() {
    let runs = runs();
    let (header, merged) = csv_rows(&runs.merged, "convergence.csv");
    let (_, single) = csv_rows(&runs.single, "convergence.csv");
    let (checkpoint, quantity, mean) = (
        column(&header, "checkpoint_trials"),
        column(&header, "quantity"),
        column(&header, "mean"),
    );
    let keys = |rows: &[Vec<String>]| -> Vec<(String, String)> {
        rows.iter()
            .map(|r| (r[checkpoint].clone(), r[quantity].clone()))
            .collect()
    };
    assert_eq!(keys(&merged), keys(&single));
    for (m, s) in merged.iter().zip(&single) {
        let (a, b): (f64, f64) = (m[mean].parse().unwrap(), s[mean].parse().unwrap());
        assert!(close(a, b), "{} {}: {a} vs {b}", m[checkpoint], m[quantity]);
    }
}

#[test]
fn merged_results_pass_verify_and_say_they_were_merged() {
    let runs = runs();
    ok(&["verify", path(&runs.merged)]);
    let record: serde_json::Value = serde_json::from_str(&read(&runs.merged, "run.json")).unwrap();
    assert_eq!(record["shards"], 3);
    assert!(
        record["merge"]
            .as_str()
            .unwrap()
            .contains("merged from 3 shards")
    );
    let single: serde_json::Value = serde_json::from_str(&read(&runs.single, "run.json")).unwrap();
    assert!(single.get("shards").is_none() && single.get("merge").is_none());
}

#[test]
fn merge_refuses_shards_that_do_not_make_one_run() {
    let runs = runs();
    let [s0, s1, s2] = [&runs.shards[0], &runs.shards[1], &runs.shards[2]];
    let out = runs.root.join("refused");
    let out = path(&out);

    // A shard of another seed.
    let other_seed = runs.root.join("other-seed");
    ok(&[
        "--trials",
        TRIALS,
        "--seed",
        "8",
        "--shard",
        "1/3",
        "--no-trials-csv",
        "--out",
        path(&other_seed),
        "-q",
    ]);
    let message = refused(&["merge", path(s0), path(&other_seed), path(s2), "--out", out]);
    assert!(message.contains("seed is 7"), "{message}");
    assert!(
        message.contains(path(&other_seed)) && message.contains(path(s0)),
        "{message}"
    );

    // A gap: shard 1 missing.
    let message = refused(&["merge", path(s0), path(s2), "--out", out]);
    assert!(message.contains("shard(s) 1 of 3 are missing"), "{message}");
    assert!(message.contains("[6666, 13333)"), "{message}");

    // The same shard twice.
    let copy = runs.root.join("copy-of-shard-1");
    fs::create_dir_all(&copy).unwrap();
    for name in ["shard.json", "trials.csv"] {
        fs::copy(s1.join(name), copy.join(name)).unwrap();
    }
    let message = refused(&[
        "merge",
        path(s0),
        path(s1),
        path(&copy),
        path(s2),
        "--out",
        out,
    ]);
    assert!(message.contains("both hold shard 1/3"), "{message}");

    // Shards of a split into 2 and a split into 3.
    let halves = runs.root.join("half-0");
    ok(&[
        "--trials",
        TRIALS,
        "--seed",
        "7",
        "--shard",
        "0/2",
        "--no-trials-csv",
        "--out",
        path(&halves),
        "-q",
    ]);
    let message = refused(&["merge", path(&halves), path(s1), path(s2), "--out", out]);
    assert!(message.contains("shards (N) is 2"), "{message}");

    // A trials.csv changed after its shard ran.
    let edited = runs.root.join("edited-shard-1");
    fs::create_dir_all(&edited).unwrap();
    fs::copy(s1.join("shard.json"), edited.join("shard.json")).unwrap();
    let text = read(s1, "trials.csv").replacen(",000,", ",001,", 1);
    fs::write(edited.join("trials.csv"), text).unwrap();
    let message = refused(&["merge", path(s0), path(&edited), path(s2), "--out", out]);
    assert!(
        message.contains("the file changed after the shard ran"),
        "{message}"
    );

    // A folder with no shard.json, and --out a shard folder.
    let message = refused(&["merge", path(&runs.single), "--out", out]);
    assert!(message.contains("shard.json"), "{message}");
    let message = refused(&["merge", path(s0), path(s1), path(s2), "--out", path(s0)]);
    assert!(message.contains("is the shard folder"), "{message}");

    // Nothing was written by any refusal.
    assert!(!runs.root.join("refused").join("summary.csv").exists());
}

#[test]
fn bad_shard_values_are_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for (value, says) in [
        ("3/3", "not below"),
        ("0/0", "N is 0"),
        ("1", "no '/'"),
        ("a/3", "not a whole number"),
        ("-1/3", "not a whole number"),
    ] {
        let message = refused(&["--trials", "10", "--shard", value, "--out", path(&out)]);
        assert!(
            message.contains("--shard") && message.contains(says),
            "{value}: {message}"
        );
    }
    let message = refused(&["--trials", "10", "--shard", "0/11", "--out", path(&out)]);
    assert!(
        message.contains("--shard 0/11") && message.contains("at most 10"),
        "{message}"
    );
    assert!(!out.exists());
}

#[test]
fn shards_without_trials_csv_merge_into_results_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut shards = Vec::new();
    for k in 0..2 {
        let shard = dir.path().join(format!("s{k}"));
        let spec = format!("{k}/2");
        ok(&[
            "--trials",
            "5000",
            "--shard",
            &spec,
            "--no-trials-csv",
            "--out",
            path(&shard),
            "-q",
        ]);
        shards.push(shard);
    }
    let merged = dir.path().join("merged");
    ok(&[
        "merge",
        path(&shards[0]),
        path(&shards[1]),
        "--out",
        path(&merged),
        "-q",
    ]);
    assert!(!merged.join("trials.csv").exists());
    assert!(merged.join("summary.csv").exists() && merged.join("masks.csv").exists());
    ok(&["verify", path(&merged)]);
}
