//! Faults during a study: interrupted by SIGINT or SIGTERM, a full disk, stdout closed early,
//! trials with NaN or infinite values. In every case the previous results in `--out` stay
//! byte-identical and no temporary file is left.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use dropout_study::arithmetic::{Arithmetic, Precision};
use dropout_study::dropout::{KeepProb, Scheme};
use dropout_study::export::OutputDir;
use dropout_study::network::Network;
use dropout_study::study::{self, StudyConfig};
use nalgebra::DMatrix;
use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_dropout-study");

fn study(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// Runs a small study into `out` (the "previous results") and returns the hashes of its files.
fn previous_results(out: &Path) -> BTreeMap<String, String> {
    let output = study(&["--out", out.to_str().unwrap(), "--trials", "100", "--quiet"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let before = hashes(out);
    assert_eq!(before.len(), 5, "{before:?}");
    before
}

/// File name -> SHA-256 of every file in a folder, hidden ones included.
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

/// Asserts that `dir` holds exactly the files hashed in `before`, unchanged, and no temporary
/// file (`.NAME.tmp-PID`).
fn assert_unchanged(dir: &Path, before: &BTreeMap<String, String>, case: &str) {
    let after = hashes(dir);
    let temporary: Vec<&String> = after.keys().filter(|n| n.contains(".tmp-")).collect();
    assert!(temporary.is_empty(), "{case}: left {temporary:?}");
    assert_eq!(&after, before, "{case}: the previous results changed");
}

/// Waits until the study with process id `pid` has started writing its trials into `dir`:
/// its signal handlers are installed by then.
fn wait_until_writing(dir: &Path, pid: u32) {
    let staged = dir.join(format!(".trials.csv.tmp-{pid}"));
    let start = Instant::now();
    while !staged.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the study did not start"
        );
        sleep(Duration::from_millis(2));
    }
}

#[test]
fn an_interrupted_study_leaves_the_previous_results_and_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let before = previous_results(&out);
    let cases = [
        (libc::SIGINT, 50),
        (libc::SIGTERM, 50),
        (libc::SIGINT, 300),
        (libc::SIGTERM, 300),
        (libc::SIGINT, 1000),
        (libc::SIGTERM, 1000),
    ];
    for (signal, after_ms) in cases {
        let case = format!("signal {signal} after {after_ms} ms");
        let child = Command::new(BIN)
            .args(["--out", out.to_str().unwrap(), "--trials", "200000000"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_until_writing(&out, child.id());
        sleep(Duration::from_millis(after_ms));
        // SAFETY: kill(2) on a child this test started and has not yet reaped.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(128 + signal), "{case}: {stderr}");
        assert!(
            stderr.contains("interrupted")
                && stderr.contains("no results were written")
                && stderr.contains(&format!("previous results in {}", out.display())),
            "{case}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{case}: {stderr}");
        assert!(output.stdout.is_empty(), "{case}: printed a table");
        assert_unchanged(&out, &before, &case);
    }
}

#[test]
fn a_signal_at_start_up_leaves_the_previous_results_too() {
    // Before its handlers are installed the study dies of the signal itself; after, it exits
    // with 128 + signal. Either way nothing of it may remain.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let before = previous_results(&out);
    for (signal, after_ms) in [(libc::SIGINT, 0), (libc::SIGTERM, 0), (libc::SIGINT, 5)] {
        let case = format!("signal {signal} after {after_ms} ms from spawning");
        let mut child = Command::new(BIN)
            .args(["--out", out.to_str().unwrap(), "--trials", "200000000"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        sleep(Duration::from_millis(after_ms));
        // SAFETY: kill(2) on a child this test started and has not yet reaped.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        // A child that inherited the signal as ignored (a shell's background job) lives on
        // until its handlers are installed: then a second signal stops it.
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() && start.elapsed() < Duration::from_secs(3) {
            sleep(Duration::from_millis(10));
        }
        if child.try_wait().unwrap().is_none() {
            // SAFETY: as above; the child has not been reaped since it is still running.
            assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        }
        let output = child.wait_with_output().unwrap();
        use std::os::unix::process::ExitStatusExt;
        let status = output.status;
        assert!(
            status.code() == Some(128 + signal) || status.signal() == Some(signal),
            "{case}: {status:?} {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_unchanged(&out, &before, &case);
    }
}

/// A small tmpfs mounted for the life of the value (as root, where mounting is permitted).
struct SmallDisk {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("disk");
        fs::create_dir(&path).map_err(|e| e.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(SmallDisk { path, _dir: dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

#[test]
fn a_full_disk_fails_with_exit_1_naming_the_file_and_keeps_the_previous_results() {
    let disk = match SmallDisk::mount("200k") {
        Ok(disk) => disk,
        Err(reason) => {
            // The OutputDir test below still covers a write that fails.
            println!("skipped: a small disk cannot be mounted here ({reason})");
            return;
        }
    };
    let out = disk.path.join("results");
    let before = previous_results(&out);

    // trials.csv outgrows the disk (100000 rows are about 6 MB).
    let output = study(&["--out", out.to_str().unwrap(), "--trials", "100000"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("trials.csv"), "{stderr}");
    assert!(
        stderr.contains("disk holding the output folder is full"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
    assert_unchanged(&out, &before, "trials.csv on a full disk");

    // The disk filled to the last byte: summary.csv cannot be written either.
    let filler = disk.path.join("filler");
    let mut file = fs::File::create(&filler).unwrap();
    let block = vec![0u8; 4096];
    while file.write_all(&block).and_then(|()| file.flush()).is_ok() {}
    drop(file);
    let output = study(&[
        "--out",
        out.to_str().unwrap(),
        "--trials",
        "100",
        "--no-trials-csv",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("summary.csv"), "{stderr}");
    assert!(
        stderr.contains("disk holding the output folder is full"),
        "{stderr}"
    );
    assert_unchanged(&out, &before, "summary.csv on a full disk");
}

#[test]
fn a_staged_file_that_cannot_be_written_is_named_and_removed() {
    // The staged name of summary.csv is made a link to /dev/full, where every write fails
    // with "no space left on device": what a full disk does to a real file.
    if !Path::new("/dev/full").exists() {
        println!("skipped: this system has no /dev/full");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("summary.csv"), "previous").unwrap();
    let staged = dir
        .path()
        .join(format!(".summary.csv.tmp-{}", std::process::id()));
    std::os::unix::fs::symlink("/dev/full", &staged).unwrap();
    {
        let mut out = OutputDir::prepare(dir.path()).unwrap();
        let mut file = out.create("summary.csv").unwrap();
        file.write_all(b"new results").unwrap(); // buffered: the failure shows on finish
        let err = out.finish(file).unwrap_err();
        assert_eq!(err.source.kind(), std::io::ErrorKind::StorageFull, "{err}");
        let message = err.to_string();
        assert!(
            message.contains(&dir.path().join("summary.csv").display().to_string()),
            "{message}"
        );
    }
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["summary.csv"]);
    assert_eq!(
        fs::read_to_string(dir.path().join("summary.csv")).unwrap(),
        "previous"
    );
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    previous_results(&out);
    let out = out.to_str().unwrap();
    let cases: [&[&str]; 6] = [
        &["--help"],
        &["reproduce"],
        &["reproduce", "--format", "json"],
        &["--out", out, "--trials", "5000"],
        &["verify", out],
        &["--version"],
    ];
    for args in cases {
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the reading end before the program writes: every write to stdout fails with
        // a broken pipe, as behind `| head -0`.
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
    }

    // And behind `| head -1`, where the reader goes away after one line.
    for args in [["reproduce", ""], ["--help", ""]] {
        let command = format!("'{BIN}' {} | head -1", args.join(" "));
        let output = Command::new("sh")
            .args(["-c", &format!("{command}; exit 0")])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 1);
        assert!(!stderr.contains("panicked"), "{command}: {stderr}");
    }
}

#[test]
fn nonfinite_trials_stop_the_study_unless_allowed() {
    // At keep probability 1e-40 float32 divides by a subnormal: h / p overflows to infinity,
    // and a dropped unit's infinity times 0 is NaN, in every trial.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let before = previous_results(&out);
    let args = [
        "--out",
        out.to_str().unwrap(),
        "--trials",
        "300",
        "--keep-prob",
        "1e-40",
    ];
    let output = study(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("300 trials produced NaN or infinite values"),
        "{stderr}"
    );
    assert!(stderr.contains("--allow-nonfinite"), "{stderr}");
    assert_unchanged(&out, &before, "non-finite trials refused");

    let mut allowed = args.to_vec();
    allowed.extend(["--allow-nonfinite", "--quiet"]);
    let output = study(&allowed);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("warning: 300 of 300 trials"), "{stderr}");
    let run: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["nonfinite_trials"], 300);
    let verified = study(&["verify", out.to_str().unwrap()]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
}

#[test]
fn the_engine_counts_trials_whose_values_overflow() {
    // w1 = 1e30 on unit 1: its output is 1e30 / p, whose square (the loss) overflows f32 but
    // not f64. So in f32 exactly the trials that keep unit 1 are non-finite.
    let network = Network::new(
        DMatrix::from_row_slice(1, 1, &[1.0]),
        DMatrix::from_row_slice(1, 1, &[2.0]),
        DMatrix::from_row_slice(1, 2, &[1e30, 0.5]),
        DMatrix::from_row_slice(2, 1, &[1.0, 1.0]),
    )
    .unwrap();
    let run = |precision| {
        let config = StudyConfig {
            trials: 10_000,
            keep_prob: KeepProb::new(0.5).unwrap(),
            scheme: Scheme::Tf1,
            seed: 7,
            run_stream: 0,
            precision,
            arithmetic: Arithmetic::Plain,
        };
        study::run(&network, &config, None, &|_| {}).unwrap()
    };
    let f32_run = run(Precision::F32);
    let kept_unit_1: u64 = f32_run
        .masks
        .as_ref()
        .unwrap()
        .iter()
        .filter(|m| m.mask.keep()[0])
        .map(|m| m.count)
        .sum();
    assert!(kept_unit_1 > 4000 && kept_unit_1 < 6000, "{kept_unit_1}");
    assert_eq!(f32_run.nonfinite_trials, kept_unit_1);
    let loss = &f32_run.summaries[0].moments;
    assert!(!loss.mean.is_finite());
    // The spread of values that are not all finite is not a number either, never 0.
    assert!(loss.std().is_some_and(f64::is_nan), "{loss:?}");
    assert_eq!(run(Precision::F64).nonfinite_trials, 0);
}
