//! Property tests (proptest): the harness's arithmetic on random networks, and its readers of user
//! input on arbitrary and near-miss text.
//!
//! `tests/expectation.rs` and `tests/gradients.rs` check some of the same facts on fixed random
//! draws; here proptest draws the shapes (1 to 3 inputs, 1 to 8 hidden units, 1 or 2 outputs), the
//! weights, every dropout scheme, keep probabilities in [0.001, 1], masks and noise, and shrinks a
//! failure to a small case. Checked:
//!
//! 1. the expectation by enumerating every mask equals the closed form, for every mask scheme;
//! 2. backpropagation (`Workspace::run`, f64) equals central differences of the loss, every weight;
//! 3. a float32 run and an f64 run of the same trial agree to float32 rounding;
//! 4. `network_file::parse`, `Mask::parse` and `KeepProb`'s parser return `Ok` or `Err` on any
//!    text, never panic, and accept exactly what they document.
//!
//! Every tolerance is a rounding-error bound derived in a comment, never a number tuned to pass.
//! They share one device, the *magnitude case*: the same trial with `|x|`, `|w1|`, `|w2|`, `-|y|`
//! and `|noise|`. Run through the same code, each of its intermediates bounds the absolute value of
//! the corresponding exact intermediate of the original *and* of every partial sum and product that
//! led to it (no cancellation can happen between non-negative terms, and `o - y` becomes
//! `|o| + |y|`). The standard bound for a dot product of length m, `|fl(a.b) - a.b| <= gamma_m |a|.|b|`
//! with `gamma_m = m u / (1 - m u)` (u the unit roundoff), then chains step by step: a quantity
//! computed through c roundings is within `gamma_c` times its magnitude-case value `M` of its exact
//! value. Each test counts c for its quantities; `gamma_c <= 1.001 c u` for every `c u < 1e-3`.
//!
//! Inputs are multiples of 2^-20 in [-3, 3] (22 significant bits), so they are exact in float32
//! and in f64, and a weight plus a finite-difference step of 2^-8 is exact too.
//!
//! Proptest draws new cases on every run (failures print the shrunk case; nothing is persisted),
//! and the case counts keep the whole file to a few seconds.

use std::path::Path;

use dropout_study::arithmetic::{Arithmetic, Float};
use dropout_study::dropout::{Draw, Dropout, KeepProb, Mask, MaskError, Scheme};
use dropout_study::expectation::{EnumerationError, closed_form, enumerate};
use dropout_study::network::{Layout, Network, Workspace};
use dropout_study::network_file;
use nalgebra::DMatrix;
use proptest::collection::vec;
use proptest::prelude::*;

/// The unit roundoff of f64 (round to nearest): half the machine epsilon.
const U64: f64 = f64::EPSILON / 2.0;
/// The unit roundoff of float32.
const U32: f64 = f32::EPSILON as f64 / 2.0;
/// `gamma_c <= GAMMA * c * u` while `c u < 1e-3`, which holds for every count below (c < 300).
const GAMMA: f64 = 1.001;

/// `cases` cases, no failure files.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Grid points per unit: inputs are multiples of 2^-20.
const ONE: i32 = 1 << 20;

fn on_grid(i: i32) -> f64 {
    f64::from(i) / f64::from(ONE)
}

/// A weight or input: mostly a grid point of [-3, 3], sometimes 0 or a small integer.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => (-3 * ONE..=3 * ONE).prop_map(on_grid),
        1 => Just(0.0),
        1 => (-3i32..=3).prop_map(f64::from),
    ]
}

fn scheme() -> impl Strategy<Value = Scheme> {
    prop_oneof![
        Just(Scheme::Tf1),
        Just(Scheme::Scale),
        Just(Scheme::Gaussian),
        Just(Scheme::Unscaled),
    ]
}

/// Keep probabilities in [0.001, 1], with 1 (the identity) and 0.5 (exact in binary) on their own.
fn keep_prob() -> impl Strategy<Value = f64> {
    prop_oneof![Just(1.0), Just(0.5), 1e-3..=1.0f64]
}

fn arithmetic() -> impl Strategy<Value = Arithmetic> {
    prop_oneof![Just(Arithmetic::Plain), Just(Arithmetic::Fma)]
}

/// One trial: a network, a scheme at a keep probability, and its draw (a mask, and the noise the
/// Gaussian scheme uses instead, multiples of 2^-20 in [-1, 3]).
#[derive(Debug, Clone)]
struct Case {
    x: DMatrix<f64>,
    y: DMatrix<f64>,
    w1: DMatrix<f64>,
    w2: DMatrix<f64>,
    scheme: Scheme,
    keep_prob: f64,
    keep: Vec<bool>,
    noise: Vec<f64>,
}

fn case() -> impl Strategy<Value = Case> {
    (1..4usize, 1..9usize, 1..3usize).prop_flat_map(|(d, n, k)| {
        (
            (
                vec(value(), d),
                vec(value(), k),
                vec(value(), d * n),
                vec(value(), n * k),
            ),
            scheme(),
            keep_prob(),
            vec(any::<bool>(), n),
            vec((-ONE..=3 * ONE).prop_map(on_grid), n),
        )
            .prop_map(
                move |((x, y, w1, w2), scheme, keep_prob, keep, noise)| Case {
                    x: DMatrix::from_row_slice(1, d, &x),
                    y: DMatrix::from_row_slice(1, k, &y),
                    w1: DMatrix::from_row_slice(d, n, &w1),
                    w2: DMatrix::from_row_slice(n, k, &w2),
                    scheme,
                    keep_prob,
                    keep,
                    noise,
                },
            )
    })
}

impl Case {
    fn network(&self) -> Network<f64> {
        Network::new(
            self.x.clone(),
            self.y.clone(),
            self.w1.clone(),
            self.w2.clone(),
        )
        .expect("the strategy builds well-formed networks")
    }

    /// (d, n, k) as floats, for the rounding counts.
    fn sizes(&self) -> (f64, f64, f64) {
        (
            self.x.ncols() as f64,
            self.w1.ncols() as f64,
            self.w2.ncols() as f64,
        )
    }

    fn dropout(&self) -> Dropout {
        Dropout::new(self.scheme, KeepProb::new(self.keep_prob).unwrap())
    }

    /// The magnitude case (module documentation), with every weight's magnitude raised by
    /// `widen`, so that it also bounds the network with any one weight moved by up to `widen`.
    fn magnitudes(&self, widen: f64) -> Case {
        let widened = |m: &DMatrix<f64>| m.map(|v| v.abs() + widen);
        Case {
            x: self.x.abs(),
            y: -self.y.abs(),
            w1: widened(&self.w1),
            w2: widened(&self.w2),
            noise: self.noise.iter().map(|v| v.abs()).collect(),
            ..self.clone()
        }
    }

    /// The pre-activations `x w1` and their magnitudes `|x| |w1|`, exactly: each is a sum of at
    /// most 3 products of multiples of 2^-20 below 9, hence a multiple of 2^-40 below 27, which
    /// fits f64's 53 bits.
    fn pre_activations(&self) -> (DMatrix<f64>, DMatrix<f64>) {
        (&self.x * &self.w1, self.x.abs() * self.w1.abs())
    }
}

/// One trial of `case` in precision `T` with `dropout`, every quantity widened to f64.
fn run<T: Float>(case: &Case, dropout: &Dropout, arithmetic: Arithmetic) -> Vec<f64> {
    let network = case.network().cast::<T>();
    let noise: Vec<T> = case.noise.iter().map(|&v| T::from_f64(v)).collect();
    let draw = if dropout.scheme.uses_mask() {
        Draw::Mask(&case.keep)
    } else {
        Draw::Noise(&noise)
    };
    let mut workspace = Workspace::new(&network, arithmetic);
    workspace
        .run(&network, dropout, draw)
        .iter()
        .map(|v| v.to_f64())
        .collect()
}

proptest! {
    #![proptest_config(config(256))]

    /// Enumerating every mask gives the closed form, for every mask scheme; the Gaussian scheme,
    /// which has no masks, is refused (unless its keep probability is 1, the identity).
    #[test]
    fn enumeration_equals_the_closed_form(case in case()) {
        let (network, dropout) = (case.network(), case.dropout());
        if case.scheme == Scheme::Gaussian && !dropout.is_identity() {
            prop_assert_eq!(
                enumerate(&network, &dropout).unwrap_err(),
                EnumerationError::NoMasks("gaussian")
            );
            return Ok(());
        }
        let (by_enumeration, _) = enumerate(&network, &dropout).unwrap();
        let by_formula = closed_form(&network, &dropout);
        // M_q: the expectation of the magnitude case, by enumeration (every term non-negative).
        let (magnitude, _) = enumerate(&case.magnitudes(0.0).network(), &dropout).unwrap();

        // Rounding counts (module documentation), for the largest, the loss:
        // - one mask's quantity: relu(x w1) gamma_d, the dropout multiplier 1, the readout sum
        //   gamma_n, output - y 1, so |o - y| is within gamma_(d+n+2) of its magnitude B; the
        //   square adds 2 (d+n+2) + 1 relative to B^2, the sum over k outputs k - 1, the division
        //   by k (1 or 2) none: at most 2(d+n+k) + 5 roundings. (A gradient takes d+n+k+4.)
        // - the mask's probability p^kept (1-p)^dropped: at most n + 2 roundings (1 - p is exact
        //   for p >= 1/2 and relative-u otherwise); the product weight * value 1; the sum of 2^n
        //   terms gamma_(2^n - 1): enumeration is within (2^n + 2(d+n+k) + n + 8) u of M_q.
        // - the closed form: each of its terms (mu^2 o^2, v S, 2 mu o y, y^2 for the loss; the
        //   same with h_i or w2_ij for the rest) is bounded by the matching term of M_q, since
        //   v = nu - mu^2 >= 0 for every scheme, and goes through relu(x w1) d, o or S n, the
        //   moments mu, nu, v 3 (v's rounding is relative to nu + mu^2, whose terms M_q also
        //   bounds), at most 6 products and n + 4 additions: within (d + 2n + 16) u of M_q.
        let (d, n, k) = case.sizes();
        let count = 2f64.powf(n) + 2.0 * (d + n + k) + n + 8.0 + d + 2.0 * n + 16.0;
        let names = Layout::new(network.shape()).names();
        for (i, name) in names.iter().enumerate() {
            let tolerance = GAMMA * count * U64 * magnitude[i];
            prop_assert!(
                (by_enumeration[i] - by_formula[i]).abs() <= tolerance,
                "{}: enumeration {} closed form {} (tolerance {:e})",
                name, by_enumeration[i], by_formula[i], tolerance
            );
        }
    }
}

/// The finite-difference step: a power of two, so that weight +- step is exact on the grid.
const STEP: f64 = 1.0 / 256.0;

proptest! {
    #![proptest_config(config(256))]

    /// Backpropagation equals central differences of the loss, for every weight, every scheme and
    /// both arithmetics, in f64.
    ///
    /// The loss is quadratic in any one weight while no relu changes state (the output is linear
    /// in w2_ij, and in w1_li while unit i stays on one side of its kink), and a central
    /// difference of a quadratic is its exact derivative. A relu input moves by STEP |x_l| when
    /// w1_li does, so cases with a pre-activation |a_i| <= STEP max|x| are skipped (a_i is exact,
    /// see `pre_activations`). What is left is rounding:
    /// - each loss evaluation is within gamma_(2(d+n+k)+5) of M_L (the count in
    ///   `enumeration_equals_the_closed_form`), where M_L is the magnitude case's loss with every
    ///   weight widened by STEP, which bounds both shifted networks;
    /// - the difference of the two losses rounds once (u of the result), the division by the
    ///   power of two 2 STEP is exact: |numeric - derivative| <= 2 gamma M_L / (2 STEP) + u |numeric|;
    /// - the analytic gradient is within gamma_(d+n+k+4) of its magnitude-case value M_g.
    /// No intermediate comes near f64's subnormal range (inputs are multiples of 2^-20, p >=
    /// 0.001), so no underflow term is needed.
    #[test]
    fn backprop_equals_central_differences(case in case(), arithmetic in arithmetic()) {
        let (a, _) = case.pre_activations();
        let x_max = case.x.amax();
        prop_assume!(a.iter().all(|v| v.abs() > STEP * x_max));

        let dropout = case.dropout();
        let record = run::<f64>(&case, &dropout, arithmetic);
        let magnitude = run::<f64>(&case.magnitudes(0.0), &dropout, arithmetic);
        let loss_magnitude = run::<f64>(&case.magnitudes(STEP), &dropout, arithmetic)[Layout::LOSS];

        let (d, n, k) = case.sizes();
        let (loss_count, gradient_count) = (2.0 * (d + n + k) + 5.0, d + n + k + 4.0);
        let layout = Layout::new(case.network().shape());
        let (d, n, k) = (d as usize, n as usize, k as usize);
        let weights = (0..d * n).map(|i| (1, i / n, i % n, layout.grad_w1() + i))
            .chain((0..n * k).map(|i| (2, i / k, i % k, layout.grad_w2() + i)));
        for (layer, r, c, index) in weights {
            let loss_at = |delta: f64| {
                let mut shifted = case.clone();
                let w = if layer == 1 { &mut shifted.w1 } else { &mut shifted.w2 };
                w[(r, c)] += delta;
                run::<f64>(&shifted, &dropout, arithmetic)[Layout::LOSS]
            };
            let numeric = (loss_at(STEP) - loss_at(-STEP)) / (2.0 * STEP);
            let analytic = record[index];
            let tolerance = GAMMA * U64
                * (2.0 * loss_count * loss_magnitude / (2.0 * STEP)
                    + gradient_count * magnitude[index])
                + U64 * numeric.abs();
            prop_assert!(
                (numeric - analytic).abs() <= tolerance,
                "grad_w{}[{},{}]: analytic {} numeric {} (tolerance {:e})",
                layer, r, c, analytic, numeric, tolerance
            );
        }
    }
}

/// The absolute error that float32 underflow can add to any quantity. A rounding into the
/// subnormal range errs by at most 2^-150 absolute instead of u times the value. Such an error is
/// carried to a quantity through at most: the dropout multiplier (1/p <= 1000.0001, the rounded
/// 1/p <= 1001, or noise <= 3), w2 (<= 3), 2/k (<= 2), w2 again, the multiplier again and x
/// (<= 3) for grad_w1, or through the square's derivative 2 |o - y| <= 2 (8 * 9 * 1001 * 3 + 3)
/// < 5e5 for the loss: a factor below 1001 * 3 * 5e5 < 2e9. A trial makes fewer than 1000
/// roundings, so underflow adds less than 1000 * 2e9 * 2^-150 < 2e-33 (f64's own 2^-1075 terms
/// are smaller still).
const UNDERFLOW: f64 = 2e-33;

proptest! {
    #![proptest_config(config(256))]

    /// A float32 run and an f64 run of the same trial agree to float32 rounding, for every scheme
    /// and both arithmetics.
    ///
    /// The inputs and the noise are exact in float32, and both runs use the keep probability and
    /// the scale rounded to float32 (`Dropout::in_precision::<f32>`), so both compute the same
    /// exact function and differ by rounding alone: each is within gamma_c of the magnitude-case
    /// value M_q, with c <= 2(d+n+k) + 5 for every quantity (the loss's count in
    /// `enumeration_equals_the_closed_form`; the others take fewer), and u the unit roundoff of
    /// its own precision, plus `UNDERFLOW`. A relu's state must agree between the two runs:
    /// float32's a_i is within gamma_d |x| |w1| <= 3.1 * 2^-24 |x| |w1| of the exact a_i, so a
    /// case is skipped only when some |a_i| <= 2^-12 |x| |w1| (with |x| |w1| > 0; where it is 0
    /// every product is an exact 0 in both).
    #[test]
    fn float32_and_f64_runs_agree(case in case(), arithmetic in arithmetic()) {
        let (a, bound) = case.pre_activations();
        prop_assume!(a
            .iter()
            .zip(bound.iter())
            .all(|(a, bound)| *bound == 0.0 || a.abs() > bound / 4096.0));

        let dropout = case.dropout().in_precision::<f32>();
        let single = run::<f32>(&case, &dropout, arithmetic);
        let double = run::<f64>(&case, &dropout, arithmetic);
        let magnitude = run::<f64>(&case.magnitudes(0.0), &dropout, arithmetic);

        let (d, n, k) = case.sizes();
        let count = 2.0 * (d + n + k) + 5.0;
        let names = Layout::new(case.network().shape()).names();
        for (i, name) in names.iter().enumerate() {
            let tolerance = GAMMA * count * (U32 + U64) * magnitude[i] + 2.0 * UNDERFLOW;
            prop_assert!(
                (single[i] - double[i]).abs() <= tolerance,
                "{}: float32 {} f64 {} (tolerance {:e})",
                name, single[i], double[i], tolerance
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Readers of user input.

/// Number texts: grid values, and the edges of f64 and float32 (1e309 and -1e309 overflow f64,
/// 2e-400 underflows to 0, a 30-digit integer, 1e39 is beyond float32), and JSON's non-numbers.
fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => value().prop_map(|v| v.to_string()),
        1 => any::<f64>().prop_map(|v| format!("{v:e}")),
        3 => prop::sample::select(vec![
            "1e308", "1e309", "-1e309", "1.7976931348623157e308", "1.7976931348623159e308",
            "2e-400", "-0", "0", "0.0", "1e39", "-3.4028236e38", "123456789012345678901234567890",
            "NaN", "Infinity", "-", "1.", ".5", "01", "1e", "+1", "0x10",
        ])
        .prop_map(str::to_string),
    ]
}

/// Any JSON-ish value: numbers, literals, strings, and arrays and objects nested up to 4 deep.
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        4 => number_text(),
        1 => prop::sample::select(vec!["null", "true", "false", "\"x\"", "\"\"", "[]", "{}"])
            .prop_map(str::to_string),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(|items| format!("[{}]", items.join(", "))),
            vec((field_name(), inner), 0..5).prop_map(|fields| object(&fields)),
        ]
    })
}

fn field_name() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["x", "y", "w1", "w2", "b", "", "X", "w3"]).prop_map(str::to_string)
}

fn object(fields: &[(String, String)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(name, value)| format!("\"{name}\": {value}"))
        .collect();
    format!("{{{}}}", body.join(", "))
}

fn rows_text(rows: &[Vec<String>]) -> String {
    let rows: Vec<String> = rows.iter().map(|r| format!("[{}]", r.join(", "))).collect();
    format!("[{}]", rows.join(", "))
}

/// A matrix of random, possibly ragged or empty, rows of numbers.
fn matrix_text() -> impl Strategy<Value = String> {
    vec(vec(number_text(), 0..5), 0..5).prop_map(|rows| rows_text(&rows))
}

/// A network object whose fields are mostly matrices, sometimes anything, sometimes missing,
/// repeated or unknown.
fn near_miss_network() -> impl Strategy<Value = String> {
    let field_value = prop_oneof![4 => matrix_text(), 1 => json_value()];
    vec((field_name(), field_value), 0..7).prop_map(|fields| object(&fields))
}

/// A network object whose shapes chain, with numbers that may still be out of range.
fn shaped_network() -> impl Strategy<Value = (String, bool)> {
    (1..4usize, 1..9usize, 1..3usize).prop_flat_map(|(d, n, k)| {
        let matrix = |rows: usize, cols: usize, finite: bool| {
            let number = if finite {
                value().prop_map(|v| v.to_string()).boxed()
            } else {
                number_text().boxed()
            };
            vec(vec(number, cols), rows).prop_map(|rows| rows_text(&rows))
        };
        any::<bool>().prop_flat_map(move |finite| {
            (
                matrix(1, d, finite),
                matrix(1, k, finite),
                matrix(d, n, finite),
                matrix(n, k, finite),
            )
                .prop_map(move |(x, y, w1, w2)| {
                    let text = object(&[
                        ("x".into(), x),
                        ("y".into(), y),
                        ("w1".into(), w1),
                        ("w2".into(), w2),
                    ]);
                    (text, finite)
                })
        })
    })
}

/// The example network files, cut short, or with one character deleted or inserted.
fn mangled_example() -> impl Strategy<Value = String> {
    let examples: Vec<String> = ["notebook.json", "two_outputs.json", "wide_24_hidden.json"]
        .iter()
        .map(|f| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples")
                .join(f);
            std::fs::read_to_string(path).expect("the example files are in the repository")
        })
        .collect();
    (
        prop::sample::select(examples),
        any::<prop::sample::Index>(),
        0..3u8,
        any::<char>(),
    )
        .prop_map(|(text, at, edit, c)| {
            let chars: Vec<char> = text.chars().collect();
            let at = at.index(chars.len() + 1);
            let mut out: Vec<char> = chars[..at].to_vec();
            match edit {
                0 => {}
                1 => out.extend(chars.iter().skip(at + 1)),
                _ => {
                    out.push(c);
                    out.extend(&chars[at..]);
                }
            }
            out.into_iter().collect()
        })
}

/// What `network_file::parse` promises: an accepted network is well formed and finite, and every
/// refusal names the file.
fn check_network_text(text: &str) -> Result<Option<Network<f64>>, TestCaseError> {
    let path = Path::new("prop.json");
    match network_file::parse(text, path) {
        Ok(network) => {
            let s = network.shape();
            prop_assert_eq!(network.x().shape(), (1, s.inputs));
            prop_assert_eq!(network.w1().shape(), (s.inputs, s.hidden));
            prop_assert_eq!(network.w2().shape(), (s.hidden, s.outputs));
            prop_assert_eq!(network.y().shape(), (1, s.outputs));
            for m in [network.x(), network.y(), network.w1(), network.w2()] {
                prop_assert!(m.iter().all(|v| v.is_finite()));
            }
            let _ = network_file::check_fits::<f32>(&network, path);
            prop_assert!(network_file::check_fits::<f64>(&network, path).is_ok());
            Ok(Some(network))
        }
        Err(e) => {
            let message = e.to_string();
            prop_assert!(message.starts_with("--network prop.json: "), "{}", message);
            Ok(None)
        }
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn network_files_never_panic_on_arbitrary_text(text in any::<String>()) {
        check_network_text(&text)?;
    }

    #[test]
    fn network_files_never_panic_on_near_miss_json(text in prop_oneof![
        near_miss_network(),
        json_value(),
        mangled_example(),
    ]) {
        check_network_text(&text)?;
    }

    /// Chained shapes with finite grid numbers are accepted with that shape; with edge numbers
    /// (1e309, NaN, ...) the answer is Ok or Err, never a panic.
    #[test]
    fn network_files_with_chained_shapes_parse((text, finite) in shaped_network()) {
        let parsed = check_network_text(&text)?;
        if finite {
            prop_assert!(parsed.is_some(), "refused: {}", text);
        }
    }

    /// A mask is accepted exactly when it is one 0/1 character per unit, and writes back as given.
    #[test]
    fn masks_parse_exactly_the_documented_texts(
        text in prop_oneof![
            any::<String>(),
            "[01]{0,12}",
            "[01 x\u{0}\u{e9}\u{20ac}]{0,12}",
        ],
        units in 0..=64usize,
    ) {
        let chars: Vec<char> = text.chars().collect();
        match Mask::parse(&text, units) {
            Ok(mask) => {
                prop_assert!(chars.iter().all(|c| *c == '0' || *c == '1'));
                prop_assert_eq!(mask.len(), units);
                prop_assert_eq!(mask.to_string(), text);
            }
            Err(MaskError::BadCharacter { found, .. }) => {
                let first = chars.iter().find(|c| **c != '0' && **c != '1');
                prop_assert_eq!(first, Some(&found));
            }
            Err(MaskError::WrongLength { found, expected, .. }) => {
                prop_assert!(chars.iter().all(|c| *c == '0' || *c == '1'));
                prop_assert_eq!((found, expected), (chars.len(), units));
                prop_assert!(found != units);
            }
        }
    }

    /// A keep probability is accepted exactly when the trimmed text is a number in (0, 1], and
    /// then holds that number and prints back to it.
    #[test]
    fn keep_probabilities_parse_exactly_the_unit_interval(text in prop_oneof![
        any::<String>(),
        "[ +-]?[0-9]{0,3}(\\.[0-9]{0,20})?([eE][+-]?[0-9]{1,4})? ?",
        prop::sample::select(vec![
            "1", "1.0", "0", "-0", "0.5", " 0.5\n", "1.0000000000000001", "1.000000000000001",
            "1e-400", "4.9e-324", "inf", "-inf", "NaN", "infinity", "0x1p-1", "", " ",
        ])
        .prop_map(str::to_string),
        any::<f64>().prop_map(|v| v.to_string()),
    ]) {
        let oracle = text.trim().parse::<f64>().ok().filter(|v| *v > 0.0 && *v <= 1.0);
        match text.parse::<KeepProb>() {
            Ok(p) => {
                prop_assert!(p.get() > 0.0 && p.get() <= 1.0, "{}", p.get());
                prop_assert_eq!(Some(p.get()), oracle);
                prop_assert_eq!(p.to_string().parse::<KeepProb>().ok(), Some(p));
            }
            Err(_) => prop_assert_eq!(oracle, None),
        }
    }

    #[test]
    fn keep_prob_new_accepts_exactly_the_unit_interval(v in any::<f64>()) {
        match KeepProb::new(v) {
            Ok(p) => prop_assert!(v > 0.0 && v <= 1.0 && p.get() == v),
            Err(_) => prop_assert!(!(v > 0.0 && v <= 1.0)),
        }
    }
}
