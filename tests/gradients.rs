//! Backpropagation against central finite differences, in f64, on random networks and draws of
//! every dropout scheme.
//!
//! The loss is piecewise quadratic in every weight (a relu network with a squared loss), so a
//! central difference with step `h` is exact up to rounding as long as no relu changes state
//! within `h` of the weights; cases that near a kink are skipped. The rounding bound: each loss
//! evaluation carries a relative error of at most about `16 * eps` (a few dozen f64 operations),
//! so the difference quotient is off by at most `2 * 16 * eps * |loss| / (2h)`, and the tolerance
//! below is four times that, plus the same for the gradient's own rounding.

use dropout_study::arithmetic::Arithmetic;
use dropout_study::dropout::{Draw, Dropout, KeepProb, Scheme};
use dropout_study::network::{Layout, Network, Workspace};
use nalgebra::DMatrix;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

const STEP: f64 = 1e-4;

fn random_matrix(rng: &mut ChaCha8Rng, rows: usize, cols: usize) -> DMatrix<f64> {
    DMatrix::from_fn(rows, cols, |_, _| rng.random_range(-2.0..2.0))
}

/// A trial's draw: a mask for mask schemes, noise multipliers for the Gaussian one.
struct Trial {
    dropout: Dropout,
    keep: Vec<bool>,
    noise: Vec<f64>,
}

impl Trial {
    fn draw(&self) -> Draw<'_, f64> {
        if self.dropout.scheme.uses_mask() {
            Draw::Mask(&self.keep)
        } else {
            Draw::Noise(&self.noise)
        }
    }
}

fn loss(network: &Network<f64>, trial: &Trial) -> f64 {
    let mut workspace = Workspace::new(network, Arithmetic::Plain);
    workspace.run(network, &trial.dropout, trial.draw())[Layout::LOSS]
}

#[test]
fn backprop_matches_central_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let mut checked = 0;
    for case in 0..300 {
        // A random shape, network, keep probability and mask.
        let (d, n, k) = (
            rng.random_range(1..4),
            rng.random_range(1..6),
            rng.random_range(1..3),
        );
        let (x, y) = (random_matrix(&mut rng, 1, d), random_matrix(&mut rng, 1, k));
        let (w1, w2) = (random_matrix(&mut rng, d, n), random_matrix(&mut rng, n, k));
        let keep_prob = if case % 5 == 0 {
            1.0
        } else {
            rng.random_range(0.05..1.0)
        };
        let scheme = [
            Scheme::Tf1,
            Scheme::Scale,
            Scheme::Gaussian,
            Scheme::Unscaled,
        ][case % 4];
        let trial = Trial {
            dropout: Dropout::new(scheme, KeepProb::new(keep_prob).unwrap()),
            keep: (0..n).map(|_| rng.random_bool(0.5)).collect(),
            noise: (0..n).map(|_| rng.random_range(-1.0..3.0)).collect(),
        };
        let network = Network::new(x.clone(), y.clone(), w1.clone(), w2.clone()).unwrap();

        // Skip cases with a relu input within a few steps of its kink.
        let a = &x * &w1;
        if a.iter().any(|v| v.abs() < 10.0 * STEP * x.amax().max(1.0)) {
            continue;
        }

        // The analytic gradient.
        let mut workspace = Workspace::new(&network, Arithmetic::Plain);
        let layout = workspace.layout();
        let record = workspace
            .run(&network, &trial.dropout, trial.draw())
            .to_vec();
        let base = record[Layout::LOSS].abs();
        let tolerance = 4.0 * 2.0 * 16.0 * f64::EPSILON * (base + 1.0) / (2.0 * STEP);

        // Central differences over every weight of w1, then of w2.
        for (first, rows, cols, which) in [(layout.grad_w1(), d, n, 1), (layout.grad_w2(), n, k, 2)]
        {
            for r in 0..rows {
                for c in 0..cols {
                    let shifted = |delta: f64| {
                        let (mut w1, mut w2) = (w1.clone(), w2.clone());
                        if which == 1 {
                            w1[(r, c)] += delta
                        } else {
                            w2[(r, c)] += delta
                        }
                        let net = Network::new(x.clone(), y.clone(), w1, w2).unwrap();
                        loss(&net, &trial)
                    };
                    let numeric = (shifted(STEP) - shifted(-STEP)) / (2.0 * STEP);
                    let analytic = record[first + r * cols + c];
                    assert!(
                        (numeric - analytic).abs() <= tolerance,
                        "case {case}: grad_w{which}[{r},{c}] analytic {analytic} numeric {numeric} \
                         (tolerance {tolerance:e})"
                    );
                }
            }
        }
        checked += 1;
    }
    assert!(
        checked >= 200,
        "only {checked} cases were away from a relu kink"
    );
}
