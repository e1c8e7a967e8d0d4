//! The notebook's single runs, reproduced exactly.
//!
//! Three independent references:
//! - float32 values checked by hand against TensorFlow (literal bit patterns below);
//! - `reference/tf_float32_reference.csv`: 585 runs computed by TensorFlow 2.21 itself (oneDNN
//!   kernels, fused multiply-adds), which `--arithmetic fma` must equal bit for bit;
//! - `reference/tf_float32_reference_onednn_off.csv`: the same runs with TensorFlow's Eigen
//!   kernels (separately rounded products), which `--arithmetic plain` must equal in value.
//! - the notebook's own printed cells (`fixtures/`), which `reproduce` must print verbatim.

use std::process::Command;

use dropout_study::arithmetic::Arithmetic;
use dropout_study::dropout::{Dropout, KeepProb, Mask, Scheme};
use dropout_study::network::Network;
use dropout_study::reproduce::{self, SingleRun};
use nalgebra::DMatrix;

/// Loss, output, hidden, grad_w1, grad_w2 of a run, flattened, in float32.
fn flat(run: &SingleRun<f32>) -> Vec<f32> {
    let mut v = vec![run.loss];
    v.extend(&run.output);
    v.extend(&run.hidden);
    v.extend(&run.grad_w1);
    v.extend(&run.grad_w2);
    v
}

fn notebook_run(keep_prob: f64, mask: &str, arithmetic: Arithmetic) -> Vec<f32> {
    let network = Network::notebook();
    let mask = Mask::parse(mask, 3).unwrap();
    flat(&reproduce::run::<f32>(
        &network,
        &Dropout::new(Scheme::Tf1, KeepProb::new(keep_prob).unwrap()),
        &mask,
        arithmetic,
    ))
}

fn assert_bits(got: &[f32], want: &[f32], what: &str) {
    let g: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
    let w: Vec<u32> = want.iter().map(|v| v.to_bits()).collect();
    assert_eq!(g, w, "{what}: got {got:?}, want {want:?}");
}

#[test]
fn hand_checked_float32_values_hold_bit_for_bit() {
    // Order: loss, output, hidden_0..2, grad_w1_0..2, grad_w2_0..2. Values checked by hand
    // against TensorFlow float32; where the two roundings differ both are given.
    let no_dropout = |output: f32| [4.0, output, 0.1, 0.0, 0.2, -0.8, 0.0, 0.4, -0.4, 0.0, -0.8];
    assert_bits(
        &notebook_run(1.0, "111", Arithmetic::Plain),
        &no_dropout(0.0),
        "no dropout, plain",
    );
    assert_bits(
        &notebook_run(1.0, "111", Arithmetic::Fma),
        &no_dropout(8.195_638_6e-10),
        "no dropout, fma",
    );
    for arithmetic in [Arithmetic::Plain, Arithmetic::Fma] {
        let half_100 = [
            3.841_600_2,
            0.040_000_003,
            0.2,
            0.0,
            0.0,
            -1.568_000_1,
            0.0,
            0.0,
            -0.784_000_04,
            0.0,
            0.0,
        ];
        assert_bits(
            &notebook_run(0.5, "100", arithmetic),
            &half_100,
            "keep 0.5 mask 100",
        );
        assert_bits(
            &notebook_run(0.5, "110", arithmetic),
            &half_100,
            "unit 2 is dead: 110 = 100",
        );
        let got = notebook_run(0.5, "001", arithmetic);
        assert_bits(
            &got[..2],
            &[4.161_599_6, -0.040_000_003],
            "keep 0.5 mask 001",
        );
        let nine_100 = [
            3.911_604_6,
            0.022_222_225,
            0.111_111_12,
            0.0,
            0.0,
            -0.879_012_35,
            0.0,
            0.0,
            -0.439_506_2,
            0.0,
            0.0,
        ];
        assert_bits(
            &notebook_run(0.9, "100", arithmetic),
            &nine_100,
            "keep 0.9 mask 100",
        );
    }
    let three_101 = [
        4.0,
        -9.934_107e-10,
        0.333_333_3,
        0.0,
        0.666_666_6,
        -2.666_666_5,
        0.0,
        1.333_333_3,
        -1.333_333_3,
        0.0,
        -2.666_666_5,
    ];
    assert_bits(
        &notebook_run(0.3, "101", Arithmetic::Fma),
        &three_101,
        "keep 0.3 mask 101, fma",
    );
}

/// One row of a TensorFlow reference file: the network, keep_prob, mask and the 11 results.
struct Reference {
    case: String,
    network: Network<f64>,
    keep_prob: KeepProb,
    mask: Mask,
    values: Vec<f32>,
}

fn read_reference(name: &str) -> Vec<Reference> {
    let path = format!("{}/tests/reference/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let bits = |s: &str| f32::from_bits(u32::from_str_radix(s, 16).expect("8 hex digits"));
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "case,x,y,w1_0,w1_1,w1_2,w2_0,w2_1,w2_2,keep_prob,mask,loss,output,hidden_0,hidden_1,\
         hidden_2,grad_w1_0,grad_w1_1,grad_w1_2,grad_w2_0,grad_w2_1,grad_w2_2"
    );
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let m = |r, c, cells: &[&str]| {
                let v: Vec<f64> = cells.iter().map(|s| f64::from(bits(s))).collect();
                DMatrix::from_row_slice(r, c, &v)
            };
            Reference {
                case: f[0].to_string(),
                network: Network::new(
                    m(1, 1, &f[1..2]),
                    m(1, 1, &f[2..3]),
                    m(1, 3, &f[3..6]),
                    m(3, 1, &f[6..9]),
                )
                .unwrap(),
                keep_prob: KeepProb::new(f64::from(bits(f[9]))).unwrap(),
                mask: Mask::parse(f[10], 3).unwrap(),
                values: f[11..].iter().map(|s| bits(s)).collect(),
            }
        })
        .collect()
}

#[test]
fn fma_equals_tensorflow_2_bit_for_bit_on_every_reference_run() {
    let rows = read_reference("tf_float32_reference.csv");
    assert_eq!(rows.len(), 585);
    for r in &rows {
        let run = reproduce::run::<f32>(
            &r.network,
            &Dropout::new(Scheme::Tf1, r.keep_prob),
            &r.mask,
            Arithmetic::Fma,
        );
        assert_bits(&flat(&run), &r.values, &r.case);
    }
}

#[test]
fn plain_equals_tensorflow_eigen_kernels_up_to_the_sign_of_zero() {
    // TensorFlow 2.21's Eigen kernels round each product, then add: the rounding `plain` follows.
    // Where a product has a single term Eigen returns the bare product, so `+0 * negative` is
    // -0.0 there, while `plain` accumulates from +0.0 and gives +0.0. The notebook (TensorFlow
    // 1.5) printed `0.` for exactly those entries (grad1[1] without dropout, grad2[1] and
    // grad2[2] with mask 100), and numpy prints -0.0 as `-0.`: so TensorFlow 1.5 gave +0.0 there,
    // as `plain` does. Every other bit must match.
    let rows = read_reference("tf_float32_reference_onednn_off.csv");
    let mut signed_zeros = 0;
    for r in &rows {
        let run = reproduce::run::<f32>(
            &r.network,
            &Dropout::new(Scheme::Tf1, r.keep_prob),
            &r.mask,
            Arithmetic::Plain,
        );
        for (got, want) in flat(&run).iter().zip(&r.values) {
            if got.to_bits() != want.to_bits() {
                assert!(
                    *got == 0.0 && *want == 0.0,
                    "{}: got {got:?}, TensorFlow (Eigen) {want:?}",
                    r.case
                );
                assert_eq!(got.to_bits(), 0, "{}: plain zeros are +0.0", r.case);
                signed_zeros += 1;
            }
        }
    }
    assert!(
        signed_zeros > 0,
        "the reference does hold -0.0 entries that plain writes as +0.0"
    );
}

#[test]
fn fma_and_plain_differ_only_where_products_cancel() {
    // On TensorFlow's oneDNN reference, plain matches every row whose readout sum has no
    // cancellation; the rows it misses must all differ from fma already in `output`.
    for r in read_reference("tf_float32_reference.csv") {
        let plain = flat(&reproduce::run::<f32>(
            &r.network,
            &Dropout::new(Scheme::Tf1, r.keep_prob),
            &r.mask,
            Arithmetic::Plain,
        ));
        if plain
            .iter()
            .zip(&r.values)
            .any(|(a, b)| a.to_bits() != b.to_bits())
        {
            assert_ne!(
                plain[1].to_bits(),
                r.values[1].to_bits(),
                "{}: differs before output",
                r.case
            );
        }
    }
}

fn reproduce_cli(args: &[&str]) -> (String, String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_dropout-study"))
        .arg("reproduce")
        .args(args)
        .output()
        .unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn reproduce_prints_the_notebook_cells_verbatim() {
    let fixture = |name: &str| {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    let (stdout, _, code) = reproduce_cli(&[]);
    assert_eq!(code, 0);
    let blocks: Vec<&str> = stdout.split("\n\n").collect();
    assert_eq!(blocks.len(), 2, "{stdout}");
    for (block, cell) in blocks
        .iter()
        .zip(["notebook_no_dropout.txt", "notebook_dropout.txt"])
    {
        let lines: Vec<&str> = block.lines().collect();
        // A title line, the seven lines the notebook printed, then the flow line.
        assert!(lines[0].starts_with("### "), "{block}");
        assert_eq!(lines[1..8].join("\n") + "\n", fixture(cell), "{cell}");
        assert!(
            lines[8].starts_with("gradients flow back through"),
            "{block}"
        );
    }
    assert!(blocks[1].contains("gradients flow back through hidden unit 1;"));

    // The same run asked for explicitly, and with 110 (unit 2 is inactive anyway).
    for mask in ["100", "110"] {
        let (one, _, code) = reproduce_cli(&["--keep-prob", "0.5", "--mask", mask]);
        assert_eq!(code, 0);
        let lines: Vec<&str> = one.lines().collect();
        assert_eq!(
            lines[1..8].join("\n") + "\n",
            fixture("notebook_dropout.txt")
        );
    }
}

#[test]
fn reproduce_json_has_every_field_in_shortest_text() {
    let (stdout, _, code) = reproduce_cli(&["--format", "json", "--arithmetic", "fma"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2);
    let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["keep_prob"], 1.0);
    assert_eq!(first["mask"], "111");
    assert!(
        lines[0].contains(r#""output":[8.1956386e-10]"#),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains(r#""loss":3.8416002"#), "{}", lines[1]);
    for key in [
        "keep_prob",
        "mask",
        "loss",
        "output",
        "hidden",
        "grad_w1",
        "grad_w2",
    ] {
        assert!(first.get(key).is_some(), "missing {key}");
    }
}

#[test]
fn reproduce_refuses_bad_masks_by_flag() {
    for (args, needle) in [
        (
            vec!["--mask", "10"],
            "has 2 characters but the network has 3 hidden units",
        ),
        (vec!["--mask", "1x0"], "has the character 'x'"),
        (vec!["--keep-prob", "0.5"], "--keep-prob 0.5 needs --mask"),
        (
            vec!["--keep-prob", "1", "--mask", "100"],
            "--keep-prob 1 keeps every unit",
        ),
        (vec!["--keep-prob", "0"], "outside (0, 1]"),
        (
            vec!["--precision", "f64"],
            "--format notebook prints float32",
        ),
    ] {
        let (stdout, stderr, code) = reproduce_cli(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
