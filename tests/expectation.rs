//! The exact expectation: enumeration against the closed form for every mask scheme, the forward
//! pass preserved in expectation, the penalty decomposition, and Monte Carlo means that agree with
//! the exact expectation within their standard error.

use dropout_study::arithmetic::{Arithmetic, Precision};
use dropout_study::dropout::{Dropout, KeepProb, Scheme};
use dropout_study::expectation::{closed_form, enumerate, no_dropout, penalty, penalty_gradient};
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

fn close(a: f64, b: f64, relative: f64) -> bool {
    (a - b).abs() <= relative * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn enumeration_equals_the_closed_form_for_every_mask_scheme() {
    // Enumeration sums at most 2^8 terms here, each within a few ulps of its value; the sum's
    // rounding is at most about 2^8 * 2.2e-16 = 6e-14 of the largest term. 1e-12 of the result's
    // magnitude (or of 1) leaves room for terms up to ~17 times the result (seen: 5e-15).
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for case in 0..300 {
        let network = random_network(&mut rng);
        let scheme = [Scheme::Tf1, Scheme::Scale, Scheme::Unscaled][case % 3];
        let dropout = Dropout::new(scheme, KeepProb::new(rng.random_range(0.05..1.0)).unwrap());
        let (by_enumeration, _) = enumerate(&network, &dropout).unwrap();
        let by_formula = closed_form(&network, &dropout);
        let names = Layout::new(network.shape()).names();
        for ((name, e), f) in names.iter().zip(&by_enumeration).zip(&by_formula) {
            assert!(close(*e, *f, 1e-12), "{name}: {e} vs {f}, {dropout:?}");
        }
    }
}

#[test]
fn the_expectation_is_no_dropout_plus_the_penalty_and_its_gradient() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    for case in 0..150 {
        let network = random_network(&mut rng);
        let layout = Layout::new(network.shape());
        let scheme = [Scheme::Tf1, Scheme::Scale, Scheme::Gaussian][case % 3];
        let dropout = Dropout::new(scheme, KeepProb::new(rng.random_range(0.05..0.95)).unwrap());
        let expected = closed_form(&network, &dropout);
        let plain = no_dropout(&network);
        let gradient = penalty_gradient(&network, &dropout).unwrap();
        let r = penalty(&network, &dropout).unwrap();
        // Loss: E[loss] = loss without dropout + R.
        assert!(close(
            expected[Layout::LOSS],
            plain[Layout::LOSS] + r,
            1e-12
        ));
        // Output, d_output and hidden units: equal to their no-dropout values.
        for i in layout.output()..layout.grad_w1() {
            assert!(
                close(expected[i], plain[i], 1e-12),
                "{i}: {} vs {}",
                expected[i],
                plain[i]
            );
        }
        // Gradients: expected = no dropout + penalty gradient.
        for i in layout.grad_w1()..layout.len() {
            assert!(close(expected[i], plain[i] + gradient[i], 1e-12));
        }
    }
    // And on the notebook the penalty gradient is not zero: the expectation is not the
    // no-dropout gradient.
    let notebook = Network::notebook();
    let g = penalty_gradient(
        &notebook,
        &Dropout::new(Scheme::Tf1, KeepProb::new(0.5).unwrap()),
    );
    let layout = Layout::new(notebook.shape());
    assert!((g.unwrap()[layout.grad_w1()] - 0.008).abs() < 1e-12);
}

#[test]
fn gaussian_dropout_has_the_same_expectation_as_tf1_but_unscaled_does_not() {
    let network = Network::notebook();
    let p = KeepProb::new(0.3).unwrap();
    let tf1 = closed_form(&network, &Dropout::new(Scheme::Tf1, p));
    let gaussian = closed_form(&network, &Dropout::new(Scheme::Gaussian, p));
    let unscaled = closed_form(&network, &Dropout::new(Scheme::Unscaled, p));
    let plain = no_dropout(&network);
    let layout = Layout::new(network.shape());
    for i in 0..layout.len() {
        assert!(close(tf1[i], gaussian[i], 1e-15), "{i}");
    }
    // Unscaled: E[hidden] = p h, not h.
    for i in layout.hidden()..layout.grad_w1() {
        assert!(close(unscaled[i], 0.3 * plain[i], 1e-15));
    }
    assert!(!close(
        unscaled[layout.hidden()],
        plain[layout.hidden()],
        1e-3
    ));
}

/// z for a two-sided family-wise error `alpha` over `m` comparisons (Bonferroni).
fn bonferroni_z(alpha: f64, m: usize) -> f64 {
    Normal::standard().inverse_cdf(1.0 - alpha / (2.0 * m as f64))
}

fn notebook_study(
    trials: u64,
    seed: u64,
    scheme: Scheme,
    precision: Precision,
) -> study::StudyResult {
    let config = StudyConfig {
        trials,
        keep_prob: KeepProb::new(0.5).unwrap(),
        scheme,
        seed,
        run_stream: 0,
        precision,
        arithmetic: if precision == Precision::F32 {
            Arithmetic::Plain
        } else {
            Arithmetic::Fma
        },
    };
    study::run(&Network::notebook(), &config, None, &|_| {}).unwrap()
}

#[test]
fn monte_carlo_means_agree_with_the_exact_expectation_for_several_seeds_and_schemes() {
    // 5 seeds x 2 precisions x 4 schemes x at most 9 varying quantities, family-wise false-alarm
    // rate 1e-4: |z| <= 5.3 (Bonferroni). The seeds are fixed, so the outcome is deterministic;
    // the bound says how surprising a failure would be if the harness were right.
    let seeds = [0u64, 1, 2, 3, 4];
    let z_max = bonferroni_z(1e-4, seeds.len() * 2 * 4 * 9);
    for seed in seeds {
        for precision in [Precision::F32, Precision::F64] {
            for scheme in [
                Scheme::Tf1,
                Scheme::Scale,
                Scheme::Gaussian,
                Scheme::Unscaled,
            ] {
                let result = notebook_study(20_000, seed, scheme, precision);
                let mut tested = 0;
                for s in &result.summaries {
                    match s.z_vs_expected() {
                        Some(z) => {
                            assert!(
                                z.abs() <= z_max,
                                "seed {seed} {scheme:?} {}: z = {z}",
                                s.quantity
                            );
                            tested += 1;
                        }
                        // Only the inactive unit's quantities never vary: exactly their expectation.
                        None => assert_eq!(s.moments.mean, s.expected, "{}", s.quantity),
                    }
                }
                assert_eq!(tested, 9, "{scheme:?}");
            }
        }
    }
}

#[test]
fn enough_trials_tell_the_expected_gradient_from_the_no_dropout_gradient() {
    // At 2e6 trials the standard error of grad_w1_0 is about 0.79 / sqrt(2e6) = 5.6e-4, so the
    // 0.008 penalty gradient is about 14 standard errors: the no-dropout value must be rejected at
    // a 1e-4 level, and the exact expectation not.
    let result = notebook_study(2_000_000, 9, Scheme::Tf1, Precision::F32);
    let layout = Layout::new(Network::notebook().shape());
    let g = &result.summaries[layout.grad_w1()];
    assert_eq!(g.quantity, "grad_w1_0");
    assert!(g.z_vs_no_dropout().unwrap().abs() > bonferroni_z(1e-4, 1));
    assert!(g.z_vs_expected().unwrap().abs() <= bonferroni_z(1e-4, 1));
    assert!(g.p_vs_no_dropout().unwrap() < 1e-4);
}

#[test]
fn convergence_checkpoints_come_from_the_same_single_pass() {
    // The moments at a checkpoint equal those of a shorter run with the same seed: trial t's
    // draw depends on (seed, t) alone, and the engine snapshots the running moments in place.
    let long = notebook_study(30_000, 4, Scheme::Tf1, Precision::F32);
    let short = notebook_study(20_000, 4, Scheme::Tf1, Precision::F32);
    let at = long
        .checkpoints
        .iter()
        .find(|c| c.trials == 20_000)
        .unwrap();
    for (a, b) in at.summaries.iter().zip(&short.summaries) {
        assert_eq!(a.moments.count, b.moments.count);
        // Both merge the same blocks in the same order: bit-identical.
        assert_eq!(a.moments, b.moments, "{}", a.quantity);
    }
    let last = long.checkpoints.last().unwrap();
    assert_eq!(last.trials, 30_000);
    assert_eq!(last.summaries, long.summaries);
}
