//! Streaming statistics of the trials: running moments, their merge, and the interval and test
//! that summarise them.
//!
//! This module owns [`Moments`] (count, mean and sum of squared deviations of one quantity),
//! which every block of trials accumulates with Welford's update (Welford 1962, "Note on a method
//! for calculating corrected sums of squares and products", Technometrics 4(3)) and which blocks
//! combine with the pairwise update of Chan, Golub and LeVeque (1979, "Updating formulae and a
//! pairwise algorithm for computing sample variances", eq. 2.1). Merging blocks in a fixed order
//! makes every total independent of the thread count.
//!
//! It also owns the tests that summarise them:
//!
//! - the 95% interval: Student's t quantile with `n - 1` degrees of freedom at every `n`; above
//!   1000 degrees of freedom through the Cornish-Fisher expansion of the t quantile around the
//!   normal one (Abramowitz and Stegun 26.7.5), because statrs 0.19's `StudentsT::inverse_cdf`
//!   loses accuracy at large degrees of freedom (off by 7e-6 at 1e5) and does not return at all
//!   beyond about 3e7. As `n` grows the expansion tends to the normal quantile 1.959964;
//! - two-sided p-values of a mean against a reference, from Student's t with `n - 1` degrees of
//!   freedom, and Holm's step-down adjustment for testing many quantities at once (Holm 1979,
//!   "A simple sequentially rejective multiple test procedure", Scand. J. Statist. 6);
//! - the trials needed to detect a difference (two-sided z test, normal approximation);
//! - the chi-square goodness-of-fit test of mask counts, whose p-value comes from the survival
//!   function (statrs's `stats_tests::chisquare` computes `1 - cdf`, which is 0 for large
//!   statistics).

use statrs::distribution::{ChiSquared, Continuous, ContinuousCDF, Normal, StudentsT};

/// Count, mean and sum of squared deviations from the mean (`M2`) of a stream of values.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Moments {
    /// Number of values.
    pub count: u64,
    /// Their mean (0 when `count` is 0).
    pub mean: f64,
    /// Sum of squared deviations from `mean`.
    pub m2: f64,
}

impl Moments {
    /// Adds one value (Welford's update).
    #[inline]
    pub fn push(&mut self, value: f64) {
        self.count += 1;
        let delta = value - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (value - self.mean);
    }

    /// Combines two disjoint streams (Chan, Golub and LeVeque 1979). The result depends on the
    /// order of the operands only through rounding; callers merge in a fixed order.
    pub fn merge(&self, other: &Moments) -> Moments {
        if other.count == 0 {
            return *self;
        }
        if self.count == 0 {
            return *other;
        }
        let count = self.count + other.count;
        let (na, nb, n) = (self.count as f64, other.count as f64, count as f64);
        let delta = other.mean - self.mean;
        Moments {
            count,
            mean: self.mean + delta * (nb / n),
            m2: self.m2 + other.m2 + delta * delta * (na * nb / n),
        }
    }

    /// The sample standard deviation, with `count - 1` in the denominator.
    ///
    /// `None` when `count < 2`, where it is undefined.
    pub fn std(&self) -> Option<f64> {
        // max(0.0) clears a rounding below zero; a NaN (from non-finite values) stays NaN.
        let m2 = if self.m2.is_nan() {
            self.m2
        } else {
            self.m2.max(0.0)
        };
        (self.count >= 2).then(|| (m2 / (self.count - 1) as f64).sqrt())
    }

    /// The standard error of the mean, `std / sqrt(count)`; `None` when `count < 2`.
    pub fn std_error(&self) -> Option<f64> {
        self.std().map(|s| s / (self.count as f64).sqrt())
    }
}

/// The two-sided 95% quantile for a mean of `count` values: Student's t with `count - 1`
/// degrees of freedom. `None` when `count < 2`.
pub fn t_quantile_975(count: u64) -> Option<f64> {
    if count < 2 {
        return None;
    }
    Some(t_quantile(0.975, (count - 1) as f64))
}

/// The `prob` quantile of Student's t with `df` degrees of freedom (`df >= 1`).
///
/// Up to 1000 degrees of freedom it is statrs's inverse CDF; above, the Cornish-Fisher expansion
/// in `1/df` to the fourth order (Abramowitz and Stegun 26.7.5), whose first omitted term is below
/// `1e-15` there.
pub fn t_quantile(prob: f64, df: f64) -> f64 {
    if df <= 1000.0 {
        return StudentsT::new(0.0, 1.0, df)
            .expect("df >= 1")
            .inverse_cdf(prob);
    }
    let z = Normal::standard().inverse_cdf(prob);
    let z2 = z * z;
    let g1 = (z2 + 1.0) * z / 4.0;
    let g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0;
    let g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0;
    let g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0;
    z + g1 / df + g2 / df.powi(2) + g3 / df.powi(3) + g4 / df.powi(4)
}

/// The two-sided p-value of a t statistic `t` with `df` degrees of freedom.
///
/// Up to `1e6` degrees of freedom it is statrs's t survival function (within 4e-10 of SciPy's,
/// relative); above, where statrs drifts (1e-8 off at 1e7, 1e-6 at 1e9), the first-order
/// expansion `P(T > t) = P(Z > t) + phi(t) (t^3 + t) / (4 df)` (Abramowitz and Stegun 26.7.5's
/// companion for the distribution function), whose omitted term is below 2e-9 relative there
/// for |t| <= 4.
pub fn p_two_sided(t: f64, df: f64) -> f64 {
    let t = t.abs();
    let one_sided = if df <= 1e6 {
        StudentsT::new(0.0, 1.0, df).expect("df > 0").sf(t)
    } else {
        let normal = Normal::standard();
        normal.sf(t) + normal.pdf(t) * (t * t * t + t) / (4.0 * df)
    };
    (2.0 * one_sided).min(1.0)
}

/// Holm's step-down adjustment of p-values for testing all of them at once (Holm 1979). Missing
/// values (tests that are not defined) stay missing and do not count towards the family size.
pub fn holm(p_values: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut order: Vec<usize> = (0..p_values.len())
        .filter(|&i| p_values[i].is_some())
        .collect();
    order.sort_by(|&a, &b| p_values[a].unwrap().total_cmp(&p_values[b].unwrap()));
    let m = order.len();
    let mut adjusted = vec![None; p_values.len()];
    let mut running_max: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        let scaled = ((m - rank) as f64 * p_values[i].unwrap()).min(1.0);
        running_max = running_max.max(scaled);
        adjusted[i] = Some(running_max);
    }
    adjusted
}

/// The trials a two-sided test at level `alpha` needs to detect a difference `delta` in a mean
/// with power `power`, when one trial has standard deviation `std`:
/// `ceil(((z_{1-alpha/2} + z_power) std / |delta|)^2)`.
///
/// `None` when `delta` is 0 (nothing to detect); 1 when `std` is 0 and `delta` is not.
pub fn trials_to_detect(delta: f64, std: f64, alpha: f64, power: f64) -> Option<u64> {
    if delta == 0.0 || !delta.is_finite() {
        return None;
    }
    let normal = Normal::standard();
    let z = normal.inverse_cdf(1.0 - alpha / 2.0) + normal.inverse_cdf(power);
    Some(((z * std / delta.abs()).powi(2)).ceil().max(1.0) as u64)
}

/// A chi-square goodness-of-fit test.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ChiSquareTest {
    /// `sum (observed - expected)^2 / expected` over categories with positive probability.
    pub statistic: f64,
    /// Categories with positive probability, minus one.
    pub degrees_of_freedom: u64,
    /// `P(X >= statistic)` under the chi-square distribution (its survival function).
    pub p_value: f64,
}

/// Tests observed `counts` against `probabilities` (which sum to 1).
///
/// `None` when fewer than two categories have positive probability (nothing to test). A count in
/// a category of probability 0 makes the statistic infinite and the p-value 0.
pub fn chi_square_goodness_of_fit(counts: &[u64], probabilities: &[f64]) -> Option<ChiSquareTest> {
    let total: u64 = counts.iter().sum();
    let categories = probabilities.iter().filter(|&&p| p > 0.0).count();
    if categories < 2 || total == 0 {
        return None;
    }
    let mut statistic = 0.0;
    for (&observed, &p) in counts.iter().zip(probabilities) {
        let expected = p * total as f64;
        statistic += if p > 0.0 {
            (observed as f64 - expected).powi(2) / expected
        } else if observed > 0 {
            f64::INFINITY
        } else {
            0.0
        };
    }
    let df = (categories - 1) as u64;
    let p_value = ChiSquared::new(df as f64).expect("df >= 1").sf(statistic);
    Some(ChiSquareTest {
        statistic,
        degrees_of_freedom: df,
        p_value,
    })
}

/// A difference between two f64 reference values counts as rounding when it is at most this
/// fraction of their magnitude (or of 1 for values near zero). Enumeration sums at most 2^20
/// terms, each carrying a few units of 1.1e-16; 1e-12 is well above that and many orders below
/// any dropout penalty the study reports.
pub const ROUNDING_RELATIVE: f64 = 1e-12;

/// Whether two f64 reference values (an exact expectation and a no-dropout value) are equal up
/// to f64 rounding ([`ROUNDING_RELATIVE`]).
pub fn equal_up_to_rounding(a: f64, b: f64) -> bool {
    let scale = a.abs().max(b.abs()).max(1.0);
    (a - b).abs() <= ROUNDING_RELATIVE * scale
}

/// The summary of one quantity over the trials, against its reference values.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantitySummary {
    /// The quantity's name (a trials.csv column).
    pub quantity: String,
    /// The trials' moments.
    pub moments: Moments,
    /// The value without dropout (keep_prob 1), in f64.
    pub no_dropout: f64,
    /// The exact expectation over draws, in f64.
    pub expected: f64,
    /// The exact standard deviation of one trial, where the masks were enumerated.
    pub exact_std: Option<f64>,
    /// The gradient of the dropout penalty for this quantity (0 for quantities that are not
    /// weight gradients); `None` for schemes with no penalty form.
    pub penalty_gradient: Option<f64>,
}

impl QuantitySummary {
    /// The 95% interval of the mean, `mean ± t * std_error`; `None` when `count < 2`.
    pub fn ci95(&self) -> Option<(f64, f64)> {
        let se = self.moments.std_error()?;
        let t = t_quantile_975(self.moments.count)?;
        Some((self.moments.mean - t * se, self.moments.mean + t * se))
    }

    /// `(mean - reference) / std_error`; `None` when the standard error is undefined or zero (a
    /// quantity that never varies has no z).
    fn z_vs(&self, reference: f64) -> Option<f64> {
        let se = self.moments.std_error()?;
        (se > 0.0).then(|| (self.moments.mean - reference) / se)
    }

    /// How many standard errors the Monte Carlo mean lies from the exact expectation.
    pub fn z_vs_expected(&self) -> Option<f64> {
        self.z_vs(self.expected)
    }

    /// How many standard errors the Monte Carlo mean lies from the no-dropout value.
    pub fn z_vs_no_dropout(&self) -> Option<f64> {
        self.z_vs(self.no_dropout)
    }

    /// Two-sided p-value of H0 "the mean equals the exact expectation" (Student's t).
    pub fn p_vs_expected(&self) -> Option<f64> {
        Some(p_two_sided(
            self.z_vs_expected()?,
            (self.moments.count - 1) as f64,
        ))
    }

    /// Two-sided p-value of H0 "the mean equals the no-dropout value" (Student's t).
    pub fn p_vs_no_dropout(&self) -> Option<f64> {
        Some(p_two_sided(
            self.z_vs_no_dropout()?,
            (self.moments.count - 1) as f64,
        ))
    }

    /// Trials needed to detect `expected - no_dropout` at level 0.05 with power 0.8, from the
    /// exact standard deviation where it is known and the sample's otherwise; `None` where the
    /// two are equal up to f64 rounding (no gap to detect).
    pub fn trials_to_detect(&self) -> Option<u64> {
        if equal_up_to_rounding(self.expected, self.no_dropout) {
            return None;
        }
        let std = self.exact_std.or_else(|| self.moments.std())?;
        trials_to_detect(self.expected - self.no_dropout, std, 0.05, 0.8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welford_matches_the_two_pass_formula() {
        let values: Vec<f64> = (0..1000)
            .map(|i| ((i * 37 % 101) as f64).sin() * 1e3 + 1e6)
            .collect();
        let mut m = Moments::default();
        values.iter().for_each(|&v| m.push(v));
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let m2: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
        // Both are sums of 1000 terms: a few hundred ulps of the result bound their difference.
        assert!(
            (m.mean - mean).abs() <= 1e3 * f64::EPSILON * mean.abs(),
            "{} {}",
            m.mean,
            mean
        );
        assert!(
            (m.m2 - m2).abs() <= 1e3 * f64::EPSILON * m2,
            "{} {}",
            m.m2,
            m2
        );
    }

    #[test]
    fn merging_blocks_equals_one_stream() {
        let values: Vec<f64> = (0..999).map(|i| (i as f64 * 0.37).cos()).collect();
        let mut whole = Moments::default();
        values.iter().for_each(|&v| whole.push(v));
        let mut merged = Moments::default();
        for chunk in values.chunks(100) {
            let mut block = Moments::default();
            chunk.iter().for_each(|&v| block.push(v));
            merged = merged.merge(&block);
        }
        assert_eq!(merged.count, whole.count);
        assert!(
            (merged.mean - whole.mean).abs() <= 1e-14,
            "{} {}",
            merged.mean,
            whole.mean
        );
        assert!(
            (merged.m2 - whole.m2).abs() <= 1e-12 * whole.m2,
            "{} {}",
            merged.m2,
            whole.m2
        );
        assert_eq!(Moments::default().merge(&whole), whole);
    }

    #[test]
    fn undefined_spread_is_none_not_nan() {
        let mut m = Moments::default();
        assert_eq!(m.std(), None);
        m.push(1.0);
        assert_eq!(m.std_error(), None);
        assert_eq!(t_quantile_975(1), None);
        m.push(1.0);
        assert_eq!(m.std(), Some(0.0));
        let s = QuantitySummary {
            quantity: "q".into(),
            moments: m,
            no_dropout: 1.0,
            expected: 1.0,
            exact_std: None,
            penalty_gradient: None,
        };
        assert_eq!(s.z_vs_expected(), None, "zero spread: no z");
    }

    #[test]
    fn t_quantiles_match_published_tables() {
        // Two-sided 95% critical values of Student's t, printed by SciPy 1.17.1's
        // scipy.stats.t.ppf(0.975, df) (an independent implementation, Boost's).
        for (df, t) in [
            (1.0, 12.706204736174694),
            (10.0, 2.228138851986274),
            (100.0, 1.9839715185235518),
            (1000.0, 1.9623390808264083),
            (1001.0, 1.9623367052808798),
            (99_999.0, 1.9599877077718442),
            (1e5, 1.9599877075346095),
            (1e7, 1.959964221767205),
            (1e9, 1.959963986912325),
        ] {
            let got = t_quantile(0.975, df);
            assert!((got - t).abs() <= 1e-12 * t, "df {df}: {got} vs {t}");
        }
    }

    #[test]
    fn p_values_match_scipy() {
        // 2 * scipy.stats.t.sf(z, df), SciPy 1.17.1; agreement to 1e-8 relative (the bound the
        // documentation of p_two_sided derives, with room).
        for (df, z, p) in [
            (9.0, 2.0, 0.07655282377070101),
            (999.0, 1.5, 0.13393035471128495),
            (99_999.0, 3.0, 0.002700460890713429),
            (1e7, 2.5, 0.01241934653657847),
            (1e9, 4.0, 6.334248821646783e-05),
            (1e9, 0.5, 0.6170750775619943),
        ] {
            let got = p_two_sided(z, df);
            assert!((got - p).abs() <= 1e-8 * p, "df {df} z {z}: {got} vs {p}");
            assert_eq!(p_two_sided(-z, df), got);
        }
    }

    #[test]
    fn holm_adjusts_step_down_and_keeps_missing_values() {
        // m = 3 defined p-values 0.01, 0.04, 0.03: sorted 0.01*3, 0.03*2, 0.04*1 -> 0.03, 0.06,
        // then max(0.06, 0.04) = 0.06.
        let adjusted = holm(&[Some(0.01), None, Some(0.04), Some(0.03)]);
        let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-15;
        assert!(close(adjusted[0], 0.03));
        assert_eq!(adjusted[1], None);
        assert!(close(adjusted[2], 0.06));
        assert!(close(adjusted[3], 0.06));
        assert_eq!(holm(&[Some(0.9), Some(0.8)]), vec![Some(1.0), Some(1.0)]);
    }

    #[test]
    fn trials_to_detect_the_notebook_penalty_gradient() {
        // ((1.959964 + 0.841621) * 0.792 / 0.008)^2 = 76926.87 (SciPy quantiles) -> 76927.
        assert_eq!(trials_to_detect(0.008, 0.792, 0.05, 0.8), Some(76927));
        assert_eq!(trials_to_detect(0.0, 0.792, 0.05, 0.8), None);
        assert_eq!(trials_to_detect(0.1, 0.0, 0.05, 0.8), Some(1));
        // A gap of f64 rounding (an enumerated E[output] of 1e-18 against 0) is no gap: no
        // count of trials, rather than 1.8e19.
        let mut moments = Moments::default();
        [0.1, -0.1, 0.2].iter().for_each(|&v| moments.push(v));
        let rounding = QuantitySummary {
            quantity: "output".into(),
            moments,
            no_dropout: 0.0,
            expected: 1.3e-18,
            exact_std: Some(0.03),
            penalty_gradient: Some(0.0),
        };
        assert_eq!(rounding.trials_to_detect(), None);
    }

    #[test]
    fn chi_square_p_value_comes_from_the_survival_function() {
        // chi2.sf(x, df) from SciPy 1.17.1: 0.18857346751344997 at (10, 7), 1.1478e-39 at (200, 7).
        let probabilities = [0.125; 8];
        let test =
            chi_square_goodness_of_fit(&[125, 125, 125, 125, 125, 125, 125, 125], &probabilities)
                .unwrap();
        assert_eq!(
            (test.statistic, test.degrees_of_freedom, test.p_value),
            (0.0, 7, 1.0)
        );
        let sf = |x: f64| ChiSquared::new(7.0).unwrap().sf(x);
        assert!((sf(10.0) - 0.18857346751344997).abs() < 1e-12);
        assert!(
            (sf(200.0) / 1.147781224014262e-39 - 1.0).abs() < 1e-6,
            "{}",
            sf(200.0)
        );
        // Observed 1000 in one cell of eight: statistic 7000, p far below 1 - cdf's resolution.
        let skewed =
            chi_square_goodness_of_fit(&[1000, 0, 0, 0, 0, 0, 0, 0], &probabilities).unwrap();
        assert_eq!(skewed.statistic, 7000.0);
        assert!(skewed.p_value < 1e-300, "{}", skewed.p_value);
        assert_eq!(chi_square_goodness_of_fit(&[5, 0], &[1.0, 0.0]), None);
    }
}
