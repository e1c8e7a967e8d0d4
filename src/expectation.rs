//! The exact expectation of every per-trial quantity over dropout draws, two ways.
//!
//! This module owns the reference values a Monte Carlo mean is judged against:
//!
//! - [`enumerate`]: every one of the `2^n` masks run through the network in f64 and weighted by
//!   its probability `p^kept (1-p)^dropped`; exact up to f64 rounding, for any quantity of a mask
//!   scheme, and feasible up to [`MAX_ENUMERATED_UNITS`] hidden units. It also gives each
//!   quantity's exact second moment, hence its exact standard deviation over masks.
//! - [`closed_form`]: the expectation from the algebra of multiplicative dropout, exact for this
//!   network and loss under every scheme (Srivastava et al. 2014, "Dropout: a simple way to prevent
//!   neural networks from overfitting", JMLR 15, section 9.1, for the linear-regression case). Each
//!   hidden unit `i` is scaled by an independent multiplier `xi_i` with mean `mu` and second moment
//!   `nu` (see `Dropout::multiplier_moments`); with `v = nu - mu^2`, `o_j` the no-dropout
//!   output and `S_j = sum_i (h_i w2_ij)^2`:
//!
//!   ```text
//!   E[output_j]   = mu o_j
//!   E[hidden_i]   = mu h_i
//!   E[loss]       = (1/k) sum_j (mu^2 o_j^2 + v S_j - 2 mu o_j y_j + y_j^2)
//!   E[d_output_j] = (2/k) (mu o_j - y_j)
//!   E[xi_i output_j] = mu^2 o_j + v h_i w2_ij
//!   E[grad_w2_ij] = (2/k) h_i (E[xi_i output_j] - mu y_j)
//!   E[grad_w1_li] = x_l [a_i > 0] (2/k) sum_j w2_ij (E[xi_i output_j] - mu y_j)
//!   ```
//!
//! For the schemes that keep the mean (`mu = 1`: `tf1`, `gaussian`, and `scale` up to the rounding
//! of `1/p`), this says: the expected output, `d_output` and hidden units equal their no-dropout
//! values exactly, the expected loss is the no-dropout loss plus the penalty
//! `R = (v/k) sum_j S_j` (with `v = (1-p)/p`), and, because the draw does not depend on the
//! weights, the expected weight gradient is the no-dropout gradient *plus the gradient of `R`*
//! ([`penalty_gradient`]). It is not the no-dropout gradient.

use crate::arithmetic::Arithmetic;
use crate::dropout::{Dropout, KeepProb, Mask, Scheme};
use crate::network::{Layout, Network, Workspace};

/// The most hidden units [`enumerate`] accepts: `2^20` masks, about a second of work.
pub const MAX_ENUMERATED_UNITS: usize = 20;

/// Why the masks cannot be enumerated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnumerationError {
    /// Too many hidden units.
    #[error(
        "the network has {units} hidden units; enumerating 2^{units} masks is limited to {MAX_ENUMERATED_UNITS} units"
    )]
    TooManyUnits {
        /// The network's hidden units.
        units: usize,
    },
    /// The scheme draws noise, not masks.
    #[error("the {0} scheme draws continuous noise, which has no masks to enumerate")]
    NoMasks(&'static str),
}

/// How an expectation was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Every mask enumerated.
    Enumeration,
    /// The closed form.
    ClosedForm,
}

impl Method {
    /// The name recorded in `run.json`.
    pub fn name(self) -> &'static str {
        match self {
            Method::Enumeration => "enumeration",
            Method::ClosedForm => "closed_form",
        }
    }
}

/// The exact expectation of every quantity, in [`Layout`] order.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// `E[q]` for each quantity.
    pub mean: Vec<f64>,
    /// `E[q^2]` for each quantity, where the masks were enumerated.
    pub second_moment: Option<Vec<f64>>,
    /// How it was computed.
    pub method: Method,
}

impl Expectation {
    /// The exact standard deviation of quantity `i` over draws, where it is known.
    pub fn std(&self, i: usize) -> Option<f64> {
        let second = self.second_moment.as_ref()?[i];
        Some((second - self.mean[i] * self.mean[i]).max(0.0).sqrt())
    }
}

/// The exact expectation: by enumeration for mask schemes up to [`MAX_ENUMERATED_UNITS`] hidden
/// units, by the closed form otherwise.
pub fn exact(network: &Network<f64>, dropout: &Dropout) -> Expectation {
    match enumerate(network, dropout) {
        Ok((mean, second)) => Expectation {
            mean,
            second_moment: Some(second),
            method: Method::Enumeration,
        },
        Err(_) => Expectation {
            mean: closed_form(network, dropout),
            second_moment: None,
            method: Method::ClosedForm,
        },
    }
}

/// Every quantity (in [`Layout`] order) without dropout, in f64.
pub fn no_dropout(network: &Network<f64>) -> Vec<f64> {
    let mut workspace = Workspace::new(network, Arithmetic::Plain);
    let identity = Dropout::new(Scheme::Tf1, KeepProb::ONE);
    workspace
        .run_mask(network, &identity, &Mask::all_kept(network.shape().hidden))
        .to_vec()
}

/// The exact first and second moments of every quantity (in [`Layout`] order) by enumerating
/// all masks of a mask scheme.
///
/// Each term is computed in f64, so the result carries f64 rounding: at most about
/// `2^n * 1e-16` of the largest term.
///
/// # Errors
/// [`EnumerationError`] above [`MAX_ENUMERATED_UNITS`] hidden units, or for the Gaussian scheme.
pub fn enumerate(
    network: &Network<f64>,
    dropout: &Dropout,
) -> Result<(Vec<f64>, Vec<f64>), EnumerationError> {
    let units = network.shape().hidden;
    if !dropout.scheme.uses_mask() && !dropout.is_identity() {
        return Err(EnumerationError::NoMasks(dropout.scheme.name()));
    }
    if units > MAX_ENUMERATED_UNITS {
        return Err(EnumerationError::TooManyUnits { units });
    }
    let mut workspace = Workspace::new(network, Arithmetic::Plain);
    let len = workspace.layout().len();
    let (mut mean, mut second) = (vec![0.0; len], vec![0.0; len]);
    for index in 0..1u64 << units {
        let mask = Mask::from_pattern_index(index, units);
        let weight = mask.probability(dropout.keep_prob);
        if weight == 0.0 {
            continue;
        }
        let values = workspace.run_mask(network, dropout, &mask);
        for ((m, s), v) in mean.iter_mut().zip(second.iter_mut()).zip(values) {
            *m += weight * v;
            *s += weight * v * v;
        }
    }
    Ok((mean, second))
}

/// The pieces every closed-form term uses.
struct Parts {
    /// relu(x w1).
    h: Vec<f64>,
    /// The no-dropout output row.
    o: Vec<f64>,
    /// Mean and variance of the multiplier.
    mu: f64,
    v: f64,
}

impl Parts {
    fn new(network: &Network<f64>, dropout: &Dropout) -> Self {
        let workspace = Workspace::new(network, Arithmetic::Plain);
        let h = workspace.hidden_before_dropout().to_vec();
        let w2 = network.w2();
        let o = (0..w2.ncols())
            .map(|j| (0..h.len()).map(|i| h[i] * w2[(i, j)]).sum())
            .collect();
        let (mu, nu) = dropout.multiplier_moments();
        Parts {
            h,
            o,
            mu,
            v: nu - mu * mu,
        }
    }
}

/// The exact expectation of every quantity (in [`Layout`] order) from the closed form (module
/// documentation), for any scheme and any number of hidden units.
pub fn closed_form(network: &Network<f64>, dropout: &Dropout) -> Vec<f64> {
    let Parts { h, o, mu, v } = Parts::new(network, dropout);
    let layout = Layout::new(network.shape());
    let (x, y, w2) = (network.x(), network.y(), network.w2());
    let (d, n, k) = (x.ncols(), h.len(), o.len());
    let kf = k as f64;
    let mut out = vec![0.0; layout.len()];
    // E[xi_i output_j] - mu y_j, the factor every gradient shares.
    let residual = |i: usize, j: usize| mu * mu * o[j] + v * h[i] * w2[(i, j)] - mu * y[(0, j)];

    // Loss, outputs, d_output, hidden units.
    out[Layout::LOSS] = (0..k)
        .map(|j| {
            let s: f64 = (0..n).map(|i| (h[i] * w2[(i, j)]).powi(2)).sum();
            mu * mu * o[j] * o[j] + v * s - 2.0 * mu * o[j] * y[(0, j)] + y[(0, j)].powi(2)
        })
        .sum::<f64>()
        / kf;
    for j in 0..k {
        out[layout.output() + j] = mu * o[j];
        out[layout.d_output() + j] = 2.0 / kf * (mu * o[j] - y[(0, j)]);
    }
    for i in 0..n {
        out[layout.hidden() + i] = mu * h[i];
    }

    // Weight gradients.
    for i in 0..n {
        for j in 0..k {
            out[layout.grad_w2() + i * k + j] = 2.0 / kf * h[i] * residual(i, j);
        }
        let active = if h[i] > 0.0 { 1.0 } else { 0.0 };
        let through: f64 = (0..k).map(|j| w2[(i, j)] * residual(i, j)).sum();
        for l in 0..d {
            out[layout.grad_w1() + l * n + i] = x[(0, l)] * active * 2.0 / kf * through;
        }
    }
    out
}

/// The dropout penalty `R = (v/k) sum_ij (h_i w2_ij)^2`, `E[loss]` minus the no-dropout loss, for
/// the schemes that keep the mean; `None` for `unscaled`, whose expected loss also moves with
/// its shrunken output.
pub fn penalty(network: &Network<f64>, dropout: &Dropout) -> Option<f64> {
    if !dropout.scheme.preserves_mean() {
        return None;
    }
    let Parts { h, v, .. } = Parts::new(network, dropout);
    let w2 = network.w2();
    let sum: f64 = (0..h.len())
        .flat_map(|i| (0..w2.ncols()).map(move |j| (i, j)))
        .map(|(i, j)| (h[i] * w2[(i, j)]).powi(2))
        .sum();
    Some(v * sum / w2.ncols() as f64)
}

/// The gradient of the penalty `R` for every quantity in [`Layout`] order: zero for the loss,
/// the outputs, `d_output` and the hidden units, `dR/dw1` and `dR/dw2` for the weight gradients.
/// For the schemes that keep the mean, expected gradient = no-dropout gradient + this; `None` for
/// `unscaled`.
pub fn penalty_gradient(network: &Network<f64>, dropout: &Dropout) -> Option<Vec<f64>> {
    if !dropout.scheme.preserves_mean() {
        return None;
    }
    let Parts { h, v, .. } = Parts::new(network, dropout);
    let layout = Layout::new(network.shape());
    let (x, w2) = (network.x(), network.w2());
    let (n, k) = (h.len(), w2.ncols());
    let scale = 2.0 * v / k as f64;
    let mut out = vec![0.0; layout.len()];

    // dR/dw2_ij = (2v/k) h_i^2 w2_ij; dR/dw1_li = (2v/k) h_i sum_j w2_ij^2 x_l [a_i > 0].
    for i in 0..n {
        for j in 0..k {
            out[layout.grad_w2() + i * k + j] = scale * h[i] * h[i] * w2[(i, j)];
        }
        let active = if h[i] > 0.0 { 1.0 } else { 0.0 };
        let sum_w2_sq: f64 = (0..k).map(|j| w2[(i, j)].powi(2)).sum();
        for l in 0..x.ncols() {
            out[layout.grad_w1() + l * n + i] = scale * h[i] * sum_w2_sq * x[(0, l)] * active;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tf1(p: f64) -> Dropout {
        Dropout::new(Scheme::Tf1, KeepProb::new(p).unwrap())
    }

    /// The expectation worked out by hand for the notebook's network at keep_prob 0.5:
    /// h = [0.1, 0, 0.2], h*w2 = [0.02, 0, -0.02], R = 1 * (0.0004 + 0.0004) = 0.0008.
    #[test]
    fn notebook_expectation_matches_the_hand_calculation() {
        let network = Network::notebook();
        let (expected, _) = enumerate(&network, &tf1(0.5)).unwrap();
        let by_hand = [
            4.0008, 0.0, -4.0, 0.1, 0.0, 0.2, -0.792, 0.0, 0.404, -0.396, 0.0, -0.808,
        ];
        for (name, (got, want)) in Layout::new(network.shape())
            .names()
            .iter()
            .zip(expected.iter().zip(by_hand))
        {
            // Eight f64 terms of size ~4: a few ulps of 4 bound the rounding.
            assert!((got - want).abs() <= 1e-14, "{name}: {got} vs {want}");
        }
        assert!((penalty(&network, &tf1(0.5)).unwrap() - 0.0008).abs() <= 1e-17);
    }

    #[test]
    fn keep_prob_one_expectation_is_the_no_dropout_run() {
        let network = Network::notebook();
        assert_eq!(
            enumerate(&network, &tf1(1.0)).unwrap().0,
            no_dropout(&network)
        );
        assert!(
            penalty_gradient(&network, &tf1(1.0))
                .unwrap()
                .iter()
                .all(|&g| g == 0.0)
        );
    }

    #[test]
    fn unscaled_dropout_shrinks_the_expected_output_by_p() {
        let network = Network::notebook();
        let p = KeepProb::new(0.25).unwrap();
        let unscaled = Dropout::new(Scheme::Unscaled, p);
        let layout = Layout::new(network.shape());
        let (e, _) = enumerate(&network, &unscaled).unwrap();
        let plain = no_dropout(&network);
        for i in layout.hidden()..layout.grad_w1() {
            assert!((e[i] - 0.25 * plain[i]).abs() <= 1e-15, "{i}");
        }
        assert_eq!(penalty(&network, &unscaled), None);
    }

    #[test]
    fn gaussian_noise_is_not_enumerable_and_every_wide_network_falls_back() {
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
            enumerate(&network, &tf1(0.5)).unwrap_err(),
            EnumerationError::TooManyUnits { units: n }
        );
        assert_eq!(exact(&network, &tf1(0.5)).method, Method::ClosedForm);
        let gaussian = Dropout::new(Scheme::Gaussian, KeepProb::new(0.5).unwrap());
        assert_eq!(
            exact(&Network::notebook(), &gaussian).method,
            Method::ClosedForm
        );
        assert_eq!(
            exact(&Network::notebook(), &tf1(0.5)).method,
            Method::Enumeration
        );
    }
}
