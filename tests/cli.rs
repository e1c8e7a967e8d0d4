//! The study command end to end, in temporary folders: the files, their columns and row counts,
//! byte-identical results across thread counts, and bad input refused before anything is written.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

const TRIAL_COLUMNS: &str = "trial,mask,loss,output,d_output,hidden_0,hidden_1,hidden_2,\
                             grad_w1_0,grad_w1_1,grad_w1_2,grad_w2_0,grad_w2_1,grad_w2_2";
const SUMMARY_COLUMNS: &str = "quantity,trials,mean,std,std_error,ci95_low,ci95_high,no_dropout,\
                               expected,mean_minus_expected,z_vs_expected,\
                               expected_minus_no_dropout,penalty_gradient,p_vs_expected,\
                               p_vs_expected_holm,z_vs_no_dropout,p_vs_no_dropout,\
                               p_vs_no_dropout_holm,relation,trials_to_detect,scheme";

fn study(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dropout-study"))
        .args(args)
        .output()
        .unwrap()
}

fn study_in(out: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--out", out.to_str().unwrap()];
    all.extend_from_slice(args);
    let output = study(&all);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// File name -> SHA-256 of every file in a folder (hidden ones included).
fn hashes(dir: &Path) -> BTreeMap<String, String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let hash = Sha256::digest(fs::read(e.path()).unwrap());
            (
                e.file_name().to_string_lossy().into_owned(),
                format!("{hash:x}"),
            )
        })
        .collect()
}

#[test]
fn a_study_writes_every_file_with_its_columns_and_rows() {
    let dir = tempfile::tempdir().unwrap();
    let output = study_in(dir.path(), &["--trials", "5000", "--seed", "3"]);

    // Files: the four outputs, nothing else (no temporary file left).
    let files: Vec<String> = hashes(dir.path()).into_keys().collect();
    assert_eq!(
        files,
        [
            "convergence.csv",
            "masks.csv",
            "run.json",
            "summary.csv",
            "trials.csv"
        ]
    );

    // trials.csv: header and one row per trial, in trial order.
    let trials = fs::read_to_string(dir.path().join("trials.csv")).unwrap();
    let lines: Vec<&str> = trials.lines().collect();
    assert_eq!(lines[0], TRIAL_COLUMNS);
    assert_eq!(lines.len(), 5001);
    for (t, line) in lines[1..].iter().enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 14);
        assert_eq!(fields[0], t.to_string());
        assert!(fields[1].len() == 3 && fields[1].chars().all(|c| c == '0' || c == '1'));
    }

    // summary.csv: one row per quantity; the undefined z of constant quantities is empty.
    let summary = fs::read_to_string(dir.path().join("summary.csv")).unwrap();
    let rows: Vec<&str> = summary.lines().collect();
    assert_eq!(rows[0], SUMMARY_COLUMNS);
    let quantities: Vec<&str> = rows[1..]
        .iter()
        .map(|r| r.split(',').next().unwrap())
        .collect();
    assert_eq!(
        quantities.join(","),
        TRIAL_COLUMNS.trim_start_matches("trial,mask,")
    );
    let column = |name: &str| SUMMARY_COLUMNS.split(',').position(|c| c == name).unwrap();
    let hidden_1: Vec<&str> = rows[5].split(',').collect();
    assert_eq!(hidden_1[0], "hidden_1");
    assert_eq!(hidden_1[column("z_vs_expected")], "");
    assert_eq!(hidden_1[column("relation")], "constant");
    let grad_w1_0: Vec<&str> = rows[7].split(',').collect();
    assert_eq!(grad_w1_0[0], "grad_w1_0");
    assert_eq!(grad_w1_0[column("relation")], "penalised");
    // ((z_0.975 + z_0.8) * 0.79208082 / 0.008)^2 = 76942.56, from the exact std over the three
    // values grad_w1_0 takes (-1.568, -1.6 and 0 with probabilities 1/4, 1/4, 1/2), computed
    // independently in Python with SciPy's normal quantiles on the float32 weights.
    assert_eq!(grad_w1_0[column("trials_to_detect")], "76943");
    // dR/dw1_0 = 2 ((1-p)/p) h_0 w2_0^2 x with p = 0.5 and the float32 weights: a few f64
    // operations, so equal to 4 ulps.
    let penalty_gradient: f64 = grad_w1_0[column("penalty_gradient")].parse().unwrap();
    let by_hand = 2.0 * f64::from(0.1f32) * f64::from(0.2f32).powi(2);
    assert!((penalty_gradient - by_hand).abs() <= 4.0 * f64::EPSILON * by_hand);
    let output_row: Vec<&str> = rows[2].split(',').collect();
    assert_eq!(
        (output_row[0], output_row[column("relation")]),
        ("output", "equal")
    );
    assert!(rows[1..].iter().all(|r| r.ends_with(",tf1")));

    // convergence.csv: one row per checkpoint and quantity, the last checkpoint the trial count.
    let convergence = fs::read_to_string(dir.path().join("convergence.csv")).unwrap();
    let rows: Vec<&str> = convergence.lines().collect();
    assert_eq!(
        rows[0],
        "checkpoint_trials,quantity,mean,std_error,ci95_low,ci95_high,expected,no_dropout,\
         mean_minus_expected"
    );
    // Checkpoints 10, 20, 50, 100, 200, 500, 1000, 2000, then 5000: 9 checkpoints x 12 quantities.
    assert_eq!(rows.len(), 1 + 9 * 12);
    assert!(rows.last().unwrap().starts_with("5000,grad_w2_2,"));

    // masks.csv: all 8 patterns, counts adding up to the trials.
    let masks = fs::read_to_string(dir.path().join("masks.csv")).unwrap();
    let rows: Vec<&str> = masks.lines().collect();
    assert_eq!(
        rows[0],
        "mask,count,frequency,probability,expected_count,chi_square_term"
    );
    assert_eq!(rows.len(), 9);
    let total: u64 = rows[1..]
        .iter()
        .map(|r| r.split(',').nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 5000);

    // run.json: parameters and the hash of every CSV as written.
    let run: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join("run.json")).unwrap()).unwrap();
    assert_eq!(run["trials"], 5000);
    assert_eq!(run["seed"], 3);
    assert_eq!(run["keep_prob"], 0.5);
    assert_eq!(run["precision"], "f32");
    assert_eq!(run["scheme"], "tf1");
    assert_eq!(run["network"], "notebook");
    assert_eq!(run["expectation_method"], "enumeration");
    assert_eq!(run["mask_chi_square"]["degrees_of_freedom"], 7);
    let p = run["mask_chi_square"]["p_value"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p));
    let files = hashes(dir.path());
    for name in ["trials.csv", "summary.csv", "masks.csv", "convergence.csv"] {
        assert_eq!(run["sha256"][name], files[name], "{name}");
    }

    // stdout: the table and the finding.
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("grad_w1_0"), "{stdout}");
    assert!(
        stdout.contains("Finding (5000 trials, keep_prob 0.5, scheme tf1, seed 3"),
        "{stdout}"
    );
}

#[test]
fn results_are_byte_identical_for_any_thread_count() {
    // 3 blocks and a partial one, so several threads really share the work.
    let runs: Vec<_> = ["1", "2", "8"]
        .iter()
        .map(|threads| {
            let dir = tempfile::tempdir().unwrap();
            study_in(
                dir.path(),
                &["--trials", "14000", "--threads", threads, "--quiet"],
            );
            let mut h = hashes(dir.path());
            h.remove("run.json"); // records the thread count and the time
            (dir, h)
        })
        .collect();
    assert_eq!(runs[0].1, runs[1].1);
    assert_eq!(runs[0].1, runs[2].1);
}

#[test]
fn a_trial_depends_on_seed_and_index_only() {
    let (short, long, other) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    study_in(short.path(), &["--trials", "5000", "--quiet"]);
    study_in(
        long.path(),
        &["--trials", "9000", "--threads", "1", "--quiet"],
    );
    study_in(
        other.path(),
        &["--trials", "5000", "--seed", "1", "--quiet"],
    );
    let read = |d: &tempfile::TempDir| fs::read_to_string(d.path().join("trials.csv")).unwrap();
    // The first 5000 trials of a longer run are the 5000 trials of the shorter run.
    assert!(read(&long).starts_with(&read(&short)));
    assert_ne!(
        read(&other),
        read(&short),
        "another seed gives other trials"
    );
}

#[test]
fn no_trials_csv_writes_the_rest_and_removes_a_stale_trials_csv() {
    let dir = tempfile::tempdir().unwrap();
    study_in(dir.path(), &["--trials", "100", "--quiet"]);
    assert!(dir.path().join("trials.csv").exists());
    study_in(
        dir.path(),
        &["--trials", "100", "--no-trials-csv", "--quiet"],
    );
    let files: Vec<String> = hashes(dir.path()).into_keys().collect();
    assert_eq!(
        files,
        ["convergence.csv", "masks.csv", "run.json", "summary.csv"]
    );
}

#[test]
fn bad_input_is_refused_by_flag_with_exit_2_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    study_in(&out, &["--trials", "10", "--quiet"]);
    let before = hashes(&out);
    let a_file = dir.path().join("a-file");
    fs::write(&a_file, "x").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--keep-prob", "0"], "--keep-prob"),
        (vec!["--keep-prob", "1.5"], "outside (0, 1]"),
        (vec!["--keep-prob", "-0.2"], "outside (0, 1]"),
        (vec!["--keep-prob", "NaN"], "outside (0, 1]"),
        (vec!["--keep-prob", "half"], "is not a number"),
        (vec!["--trials", "0"], "at least 1 trial"),
        (vec!["--trials", "-5"], "cannot be negative"),
        (vec!["--trials", "1e5"], "not a whole number"),
        (vec!["--trials", "18446744073709551616"], "at most"),
        (vec!["--seed", "-1"], "--seed"),
        (vec!["--threads", "0"], "--threads"),
        (vec!["--precision", "f16"], "--precision"),
        (vec!["--arithmetic", "fast"], "--arithmetic"),
    ];
    for (args, needle) in cases {
        let mut all = vec!["--out", out.to_str().unwrap()];
        all.extend_from_slice(&args);
        let output = study(&all);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
        assert_eq!(hashes(&out), before, "{args:?} changed the output folder");
    }

    // An --out that is a file.
    let output = study(&["--out", a_file.to_str().unwrap(), "--trials", "10"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--out must be a folder"), "{stderr}");
    assert_eq!(fs::read_to_string(&a_file).unwrap(), "x");
}

#[test]
fn sweep_writes_one_row_per_keep_prob_and_quantity() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let output = study(&[
        "sweep",
        "--keep-probs",
        "0.5,1",
        "--trials",
        "3000",
        "--out",
        out,
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sweep = fs::read_to_string(dir.path().join("sweep.csv")).unwrap();
    let rows: Vec<Vec<&str>> = sweep.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows[0].join(","),
        "keep_prob,quantity,trials,expected,no_dropout,penalty,penalty_gradient,mean,std_error,\
         z_vs_expected,scheme"
    );
    assert_eq!(rows.len(), 1 + 2 * 12);
    // At keep_prob 1 there is no dropout: every expectation is the no-dropout value, R is 0.
    for row in rows.iter().filter(|r| r[0] == "1.0") {
        assert_eq!(row[3], row[4], "{row:?}");
        assert_eq!(row[5], "0.0");
    }
    let loss_half = rows
        .iter()
        .find(|r| r[0] == "0.5" && r[1] == "loss")
        .unwrap();
    assert!((loss_half[5].parse::<f64>().unwrap() - 0.0008).abs() < 1e-9);
    let record: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join("sweep.json")).unwrap()).unwrap();
    assert_eq!(record["keep_probs"], serde_json::json!([0.5, 1.0]));
    let hash = format!("{:x}", Sha256::digest(sweep.as_bytes()));
    assert_eq!(record["sha256"]["sweep.csv"], hash);
}

#[test]
fn network_files_extend_the_columns_and_wide_networks_use_the_closed_form() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");

    // Two inputs, six hidden units, two outputs.
    let dir = tempfile::tempdir().unwrap();
    let network = examples.join("two_outputs.json");
    study_in(
        dir.path(),
        &[
            "--network",
            network.to_str().unwrap(),
            "--trials",
            "2000",
            "--quiet",
        ],
    );
    let trials = fs::read_to_string(dir.path().join("trials.csv")).unwrap();
    let header: Vec<&str> = trials.lines().next().unwrap().split(',').collect();
    assert_eq!(
        header[..9],
        [
            "trial",
            "mask",
            "loss",
            "output_0",
            "output_1",
            "d_output_0",
            "d_output_1",
            "hidden_0",
            "hidden_1"
        ]
    );
    assert_eq!(header.len(), 2 + 1 + 2 + 2 + 6 + 12 + 12);
    assert_eq!(header.last(), Some(&"grad_w2_11"));
    let masks = fs::read_to_string(dir.path().join("masks.csv")).unwrap();
    assert_eq!(masks.lines().count(), 1 + 64);

    // 24 hidden units: no enumeration, no mask table.
    let dir = tempfile::tempdir().unwrap();
    let network = examples.join("wide_24_hidden.json");
    study_in(
        dir.path(),
        &[
            "--network",
            network.to_str().unwrap(),
            "--trials",
            "2000",
            "--quiet",
        ],
    );
    let run: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join("run.json")).unwrap()).unwrap();
    assert_eq!(run["expectation_method"], "closed_form");
    assert_eq!(run["network"], network.to_str().unwrap());
    assert!(!dir.path().join("masks.csv").exists());
    let second = fs::read_to_string(dir.path().join("trials.csv")).unwrap();
    assert_eq!(
        second
            .lines()
            .nth(1)
            .unwrap()
            .split(',')
            .nth(1)
            .unwrap()
            .len(),
        24
    );

    // The notebook's file gives the same files as the built-in network, run.json aside.
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let notebook = examples.join("notebook.json");
    study_in(
        a.path(),
        &[
            "--network",
            notebook.to_str().unwrap(),
            "--trials",
            "3000",
            "--quiet",
        ],
    );
    study_in(b.path(), &["--trials", "3000", "--quiet"]);
    let (mut ha, mut hb) = (hashes(a.path()), hashes(b.path()));
    ha.remove("run.json");
    hb.remove("run.json");
    assert_eq!(ha, hb);
}

#[test]
fn the_gaussian_scheme_has_no_masks() {
    let dir = tempfile::tempdir().unwrap();
    study_in(
        dir.path(),
        &["--scheme", "gaussian", "--trials", "2000", "--quiet"],
    );
    let trials = fs::read_to_string(dir.path().join("trials.csv")).unwrap();
    assert!(
        trials.lines().nth(1).unwrap().starts_with("0,,"),
        "an empty mask field"
    );
    assert!(!dir.path().join("masks.csv").exists());
    let summary = fs::read_to_string(dir.path().join("summary.csv")).unwrap();
    assert!(summary.lines().skip(1).all(|l| l.ends_with(",gaussian")));
}

#[test]
fn bad_sweep_and_network_input_is_refused_with_exit_2_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let not_json = write("not.json", "x = 1");
    let missing_field = write("missing.json", r#"{"x": [[1]], "y": [[1]], "w1": [[1]]}"#);
    let ragged = write(
        "ragged.json",
        r#"{"x": [[1]], "y": [[1]], "w1": [[1, 2]], "w2": [[1], [2, 3]]}"#,
    );
    let chain = write(
        "chain.json",
        r#"{"x": [[1, 2]], "y": [[1]], "w1": [[1, 2]], "w2": [[1], [2]]}"#,
    );
    let huge = write(
        "huge.json",
        r#"{"x": [[1]], "y": [[1]], "w1": [[1e39]], "w2": [[1]]}"#,
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["sweep", "--keep-probs", ""], "the list is empty"),
        (vec!["sweep", "--keep-probs", "0.5,0.5"], "appears twice"),
        (vec!["sweep", "--keep-probs", "0.5,0"], "outside (0, 1]"),
        (vec!["sweep", "--keep-probs", "0.5,x"], "is not a number"),
        (vec!["--scheme", "dropconnect"], "--scheme"),
        (
            vec!["--network", "/no/such/file.json"],
            "cannot read the file",
        ),
        (
            vec!["--network", &not_json],
            "a network file is a JSON object",
        ),
        (vec!["--network", &missing_field], "missing field `w2`"),
        (
            vec!["--network", &ragged],
            "w2 row 2 has 2 values but row 1 has 1",
        ),
        (vec!["--network", &chain], "w1 is 1x2 but must be 2x2"),
        (vec!["--network", &huge], "beyond the range of f32"),
        (vec!["sweep", "--network", &ragged], "w2 row 2"),
    ];
    for (args, needle) in cases {
        let mut all = args.clone();
        all.extend_from_slice(&["--out", out.to_str().unwrap()]);
        let output = study(&all);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!out.exists(), "{args:?} created the output folder");
    }
}
