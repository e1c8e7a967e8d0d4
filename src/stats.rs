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
//! It also owns the 95% interval: Student's t quantile for small samples, and for more than
//! 1000 degrees of freedom the Cornish-Fisher expansion of the t quantile around the normal one
//! (Abramowitz and Stegun 26.7.5), because statrs 0.19's `StudentsT::inverse_cdf` loses accuracy
//! at large degrees of freedom (off by 7e-6 at 1e5) and does not return at all beyond about 3e7.

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

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

/// The summary of one quantity over the trials, against its reference values.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantitySummary {
    /// The quantity's name (a trials.csv column).
    pub quantity: String,
    /// The trials' moments.
    pub moments: Moments,
    /// The value without dropout (keep_prob 1), in f64.
    pub no_dropout: f64,
    /// The exact expectation over masks, in f64.
    pub expected: f64,
}

impl QuantitySummary {
    /// The 95% interval of the mean, `mean ± t * std_error`; `None` when `count < 2`.
    pub fn ci95(&self) -> Option<(f64, f64)> {
        let se = self.moments.std_error()?;
        let t = t_quantile_975(self.moments.count)?;
        Some((self.moments.mean - t * se, self.moments.mean + t * se))
    }

    /// `(mean - expected) / std_error`: how many standard errors the Monte Carlo mean lies from
    /// the exact expectation. `None` when the standard error is undefined or zero (a quantity
    /// that never varies has no z).
    pub fn z_vs_expected(&self) -> Option<f64> {
        let se = self.moments.std_error()?;
        (se > 0.0).then(|| (self.moments.mean - self.expected) / se)
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
}
