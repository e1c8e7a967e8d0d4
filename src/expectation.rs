//! The exact expectation of every per-trial quantity over dropout masks, two ways.
//!
//! This module owns the reference values a Monte Carlo mean is judged against:
//!
//! - [`enumerate`]: every one of the `2^n` masks run through the network in f64 and weighted by
//!   its probability `p^kept (1-p)^dropped`; exact up to f64 rounding, for any quantity, and
//!   feasible up to [`MAX_ENUMERATED_UNITS`] hidden units.
//! - [`closed_form`]: the same expectation from the algebra of inverted dropout (Srivastava et
//!   al. 2014, "Dropout: a simple way to prevent neural networks from overfitting", JMLR 15,
//!   section 9.1 on linear regression). With masks `m_i ~ Bernoulli(p)` and
//!   `output_j = sum_i h_i w2_ij m_i / p`:
//!
//!   ```text
//!   E[output_j]  = output_j without dropout            (exactly)
//!   E[hidden_i]  = h_i                                 (exactly)
//!   E[loss]      = loss without dropout + R,   R = ((1-p)/p) (1/k) sum_ij (h_i w2_ij)^2
//!   E[grad]      = grad(loss without dropout) + grad(R)
//!   ```
//!
//!   The last line holds because the mask does not depend on the weights: the expected gradient
//!   is the gradient of the expected loss, which carries the dropout penalty `R`. So the expected
//!   weight gradient is *not* the no-dropout gradient; it differs by [`penalty_gradient`].

use crate::arithmetic::Arithmetic;
use crate::dropout::{KeepProb, Mask};
use crate::network::{Layout, Network, Workspace};

/// The most hidden units [`enumerate`] accepts: `2^20` masks, about a second of work.
pub const MAX_ENUMERATED_UNITS: usize = 20;

/// Why the masks cannot be enumerated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "the network has {units} hidden units; enumerating 2^{units} masks is limited to {MAX_ENUMERATED_UNITS} units"
)]
pub struct TooManyUnits {
    /// The network's hidden units.
    pub units: usize,
}

/// Every quantity (in [`Layout`] order) without dropout, in f64.
pub fn no_dropout(network: &Network<f64>) -> Vec<f64> {
    let mut workspace = Workspace::new(network, Arithmetic::Plain);
    workspace
        .run_mask(network, 1.0, &Mask::all_kept(network.shape().hidden))
        .to_vec()
}

/// The exact expectation of every quantity (in [`Layout`] order) by enumerating all masks.
///
/// Each term is computed in f64, so the result carries f64 rounding: at most about
/// `2^n * 1e-16` of the largest term.
///
/// # Errors
/// [`TooManyUnits`] above [`MAX_ENUMERATED_UNITS`] hidden units.
pub fn enumerate(network: &Network<f64>, keep_prob: KeepProb) -> Result<Vec<f64>, TooManyUnits> {
    let units = network.shape().hidden;
    if units > MAX_ENUMERATED_UNITS {
        return Err(TooManyUnits { units });
    }
    let mut workspace = Workspace::new(network, Arithmetic::Plain);
    let mut expected = vec![0.0; workspace.layout().len()];
    for index in 0..1u64 << units {
        let mask = Mask::from_pattern_index(index, units);
        let weight = mask.probability(keep_prob);
        let values = workspace.run_mask(network, keep_prob.get(), &mask);
        for (e, v) in expected.iter_mut().zip(values) {
            *e += weight * v;
        }
    }
    Ok(expected)
}

/// The dropout penalty `R = ((1-p)/p) (1/k) sum_ij (h_i w2_ij)^2`: `E[loss]` minus the loss
/// without dropout.
pub fn penalty(network: &Network<f64>, keep_prob: KeepProb) -> f64 {
    let parts = Parts::new(network, keep_prob);
    let mut sum = 0.0;
    for i in 0..parts.h.len() {
        for j in 0..parts.k {
            sum += (parts.h[i] * network.w2()[(i, j)]).powi(2);
        }
    }
    parts.c * sum / parts.k as f64
}

/// The gradient of the penalty `R` for every quantity in [`Layout`] order: zero for the loss,
/// the outputs and the hidden units, `dR/dw1` and `dR/dw2` for the weight gradients. Expected
/// gradient = no-dropout gradient + this.
pub fn penalty_gradient(network: &Network<f64>, keep_prob: KeepProb) -> Vec<f64> {
    let parts = Parts::new(network, keep_prob);
    let layout = Layout::new(network.shape());
    let (w1, w2, x) = (network.w1(), network.w2(), network.x());
    let (k, n) = (parts.k, parts.h.len());
    let scale = 2.0 * parts.c / k as f64;
    let mut out = vec![0.0; layout.len()];

    // dR/dw2_ij = ((1-p)/p) (2/k) h_i^2 w2_ij
    for i in 0..n {
        for j in 0..k {
            out[layout.grad_w2() + i * k + j] = scale * parts.h[i].powi(2) * w2[(i, j)];
        }
    }

    // dR/dw1_li = ((1-p)/p) (2/k) h_i sum_j w2_ij^2 * x_l [a_i > 0]
    for l in 0..w1.nrows() {
        for i in 0..n {
            let active = if parts.h[i] > 0.0 { 1.0 } else { 0.0 };
            let sum_w2_sq: f64 = (0..k).map(|j| w2[(i, j)].powi(2)).sum();
            out[layout.grad_w1() + l * n + i] = scale * parts.h[i] * sum_w2_sq * x[(0, l)] * active;
        }
    }
    out
}

/// The exact expectation of every quantity (in [`Layout`] order) from the closed form: the
/// no-dropout values plus `R` on the loss and the penalty gradient on the weight gradients.
pub fn closed_form(network: &Network<f64>, keep_prob: KeepProb) -> Vec<f64> {
    let mut expected = no_dropout(network);
    expected[Layout::LOSS] += penalty(network, keep_prob);
    for (e, g) in expected
        .iter_mut()
        .zip(penalty_gradient(network, keep_prob))
    {
        *e += g;
    }
    expected
}

/// The pieces every closed-form term uses.
struct Parts {
    /// relu(x w1).
    h: Vec<f64>,
    /// The number of outputs.
    k: usize,
    /// `(1-p)/p`, the variance of `m / p`.
    c: f64,
}

impl Parts {
    fn new(network: &Network<f64>, keep_prob: KeepProb) -> Self {
        let workspace = Workspace::new(network, Arithmetic::Plain);
        let p = keep_prob.get();
        Parts {
            h: workspace.hidden_before_dropout().to_vec(),
            k: network.shape().outputs,
            c: (1.0 - p) / p,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expectation worked out by hand for the notebook's network at keep_prob 0.5:
    /// h = [0.1, 0, 0.2], h*w2 = [0.02, 0, -0.02], R = 1 * (0.0004 + 0.0004) = 0.0008.
    #[test]
    fn notebook_expectation_matches_the_hand_calculation() {
        let network = Network::notebook();
        let p = KeepProb::new(0.5).unwrap();
        let expected = enumerate(&network, p).unwrap();
        let by_hand = [
            4.0008, 0.0, 0.1, 0.0, 0.2, -0.792, 0.0, 0.404, -0.396, 0.0, -0.808,
        ];
        for (name, (got, want)) in Layout::new(network.shape())
            .names()
            .iter()
            .zip(expected.iter().zip(by_hand))
        {
            // Eight f64 terms of size ~4: a few ulps of 4 bound the rounding.
            assert!((got - want).abs() <= 1e-14, "{name}: {got} vs {want}");
        }
        assert!((penalty(&network, p) - 0.0008).abs() <= 1e-17);
    }

    #[test]
    fn keep_prob_one_expectation_is_the_no_dropout_run() {
        let network = Network::notebook();
        assert_eq!(
            enumerate(&network, KeepProb::ONE).unwrap(),
            no_dropout(&network)
        );
        assert!(
            penalty_gradient(&network, KeepProb::ONE)
                .iter()
                .all(|&g| g == 0.0)
        );
    }

    #[test]
    fn enumeration_is_refused_beyond_its_limit() {
        use nalgebra::DMatrix;
        let n = MAX_ENUMERATED_UNITS + 1;
        let network = Network::new(
            DMatrix::from_element(1, 1, 1.0),
            DMatrix::from_element(1, 1, 1.0),
            DMatrix::from_element(1, n, 0.5),
            DMatrix::from_element(n, 1, 0.5),
        )
        .unwrap();
        assert_eq!(
            enumerate(&network, KeepProb::new(0.5).unwrap()),
            Err(TooManyUnits { units: n })
        );
    }
}
