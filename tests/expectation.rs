//! The exact expectation: enumeration against the closed form, the forward pass preserved in
//! expectation, and Monte Carlo means that agree with it within their standard error.

use dropout_study::arithmetic::{Arithmetic, Precision};
use dropout_study::dropout::KeepProb;
use dropout_study::expectation::{closed_form, enumerate, no_dropout, penalty_gradient};
use dropout_study::network::{Layout, Network};
use dropout_study::study::{self, StudyConfig};
use nalgebra::DMatrix;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use statrs::distribution::{ContinuousCDF, Normal};

fn random_network(rng: &mut ChaCha8Rng) -> Network<f64> {
    let (d, n, k) = (
        rng.random_range(1..4),
        rng.random_range(1..9),
        rng.random_range(1..3),
    );
    let mut m = |r, c| DMatrix::from_fn(r, c, |_, _| rng.random_range(-2.0..2.0));
    Network::new(m(1, d), m(1, k), m(d, n), m(n, k)).unwrap()
}

#[test]
fn enumeration_equals_the_closed_form() {
    // Enumeration sums at most 2^8 terms here, each within a few ulps of its value; the sum's
    // rounding is at most about 2^8 * 2.2e-16 = 6e-14 of the largest term. 1e-12 of the result's
    // magnitude (or of 1) leaves room for terms up to ~17 times the result (seen here: 5e-15).
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for _ in 0..200 {
        let network = random_network(&mut rng);
        let p = KeepProb::new(rng.random_range(0.05..1.0)).unwrap();
        let by_enumeration = enumerate(&network, p).unwrap();
        let by_formula = closed_form(&network, p);
        let names = Layout::new(network.shape()).names();
        for ((name, e), f) in names.iter().zip(&by_enumeration).zip(&by_formula) {
            let scale = e.abs().max(f.abs()).max(1.0);
            assert!(
                (e - f).abs() <= 1e-12 * scale,
                "{name}: {e} vs {f} at p {p}"
            );
        }
    }
}

#[test]
fn expected_output_and_hidden_equal_no_dropout_but_gradients_carry_the_penalty() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    for _ in 0..100 {
        let network = random_network(&mut rng);
        let layout = Layout::new(network.shape());
        let p = KeepProb::new(rng.random_range(0.05..0.95)).unwrap();
        let expected = enumerate(&network, p).unwrap();
        let plain = no_dropout(&network);
        let gradient = penalty_gradient(&network, p);
        // Output and hidden units: equal up to the rounding of the enumeration.
        for i in layout.output()..layout.grad_w1() {
            assert!((expected[i] - plain[i]).abs() <= 1e-12 * plain[i].abs().max(1.0));
        }
        // Gradients: expected = no dropout + penalty gradient, to 1e-12.
        for i in layout.grad_w1()..layout.len() {
            let want = plain[i] + gradient[i];
            assert!((expected[i] - want).abs() <= 1e-12 * want.abs().max(1.0));
        }
    }
    // And on the notebook the penalty gradient is not zero: the expectation is not the
    // no-dropout gradient.
    let notebook = Network::notebook();
    let g = penalty_gradient(&notebook, KeepProb::new(0.5).unwrap());
    let layout = Layout::new(notebook.shape());
    assert!(
        (g[layout.grad_w1()] - 0.008).abs() < 1e-12,
        "{}",
        g[layout.grad_w1()]
    );
}

/// z for a two-sided family-wise error `alpha` over `m` comparisons (Bonferroni).
fn bonferroni_z(alpha: f64, m: usize) -> f64 {
    Normal::standard().inverse_cdf(1.0 - alpha / (2.0 * m as f64))
}

#[test]
fn monte_carlo_means_agree_with_the_exact_expectation_for_several_seeds() {
    // 5 seeds x 8 varying quantities, family-wise false-alarm rate 1e-4: |z| <= 4.75 (Bonferroni).
    // The seeds are fixed, so the outcome is deterministic; the bound says how surprising a
    // failure would be if the harness were right.
    let seeds = [0u64, 1, 2, 3, 4];
    let z_max = bonferroni_z(1e-4, seeds.len() * 8);
    for seed in seeds {
        for (precision, arithmetic) in [
            (Precision::F32, Arithmetic::Plain),
            (Precision::F64, Arithmetic::Fma),
        ] {
            let config = StudyConfig {
                trials: 40_000,
                keep_prob: KeepProb::new(0.5).unwrap(),
                seed,
                precision,
                arithmetic,
            };
            let result = study::run(&Network::notebook(), &config, None, &|_| {}).unwrap();
            let mut tested = 0;
            for s in &result.summaries {
                match s.z_vs_expected() {
                    Some(z) => {
                        assert!(z.abs() <= z_max, "seed {seed} {}: z = {z}", s.quantity);
                        tested += 1;
                    }
                    // Only the dead unit's quantities never vary: exactly their expectation.
                    None => assert_eq!(s.moments.mean, s.expected, "{}", s.quantity),
                }
            }
            assert_eq!(tested, 8);
        }
    }
}

#[test]
fn enough_trials_tell_the_expected_gradient_from_the_no_dropout_gradient() {
    // At 2e6 trials the standard error of grad_w1_0 is about 0.79 / sqrt(2e6) = 5.6e-4, so the
    // 0.008 penalty gradient is about 14 standard errors: the no-dropout value must fall outside
    // the 99.99% interval, and the exact expectation inside the Bonferroni bound.
    let config = StudyConfig {
        trials: 2_000_000,
        keep_prob: KeepProb::new(0.5).unwrap(),
        seed: 9,
        precision: Precision::F32,
        arithmetic: Arithmetic::Plain,
    };
    let result = study::run(&Network::notebook(), &config, None, &|_| {}).unwrap();
    let layout = Layout::new(Network::notebook().shape());
    let g = &result.summaries[layout.grad_w1()];
    let se = g.moments.std_error().unwrap();
    let z_no_dropout = (g.moments.mean - g.no_dropout) / se;
    assert!(
        z_no_dropout.abs() > bonferroni_z(1e-4, 1),
        "z vs no dropout = {z_no_dropout}"
    );
    assert!(g.z_vs_expected().unwrap().abs() <= bonferroni_z(1e-4, 1));
}
