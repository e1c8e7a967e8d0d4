//! Dropout: the keep probability, the mask, and the four dropout schemes a study can apply to
//! the hidden units.
//!
//! This module owns [`KeepProb`], [`Mask`], [`Scheme`] and [`Dropout`] (a scheme with its
//! parameters in a working precision), and the forward and backward dropout operations of one
//! trial. With keep probability `p` and hidden row `h`:
//!
//! | scheme | forward | backward | mean / second moment of the multiplier |
//! |---|---|---|---|
//! | `tf1` (default) | `(h / p) * m` | `(g * m) / p` | 1 / `1/p` |
//! | `scale` | `(h * s) * m`, `s` = `1/p` rounded to the precision | `(g * m) * s` | `p s` / `p s^2` |
//! | `gaussian` | `h * xi`, `xi ~ N(1, (1-p)/p)` | `g * xi` | 1 / `1/p` |
//! | `unscaled` | `h * m` | `g * m` | `p` / `p` |
//!
//! where `m` is a Bernoulli(`p`) mask. `tf1` is TensorFlow 1.x's `tf.nn.dropout`: a true
//! division first, then the 0/1 multiplication, and TensorFlow differentiates the two operations
//! separately. `scale` is TensorFlow 2.x's and PyTorch's form, a multiplication by a precomputed
//! reciprocal; it differs from `tf1` in the last bit for most keep probabilities, and its
//! expectation is off by the rounding of `1/p` (`p s - 1`, about `1e-8` in float32). `gaussian` is
//! the multiplicative Gaussian noise of Srivastava et al. 2014 (section 10), with the same first
//! two moments as `tf1`. `unscaled` is the original dropout, which scales at test time instead, so
//! its expected output is `p` times the no-dropout output. At `p = 1` every scheme is the
//! identity (TensorFlow adds no operation at all).

use std::fmt;

use crate::arithmetic::Float;

/// A keep probability in `(0, 1]`: the probability that a hidden unit survives dropout.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, serde::Serialize)]
#[serde(transparent)]
pub struct KeepProb(f64);

/// Why a keep probability was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KeepProbError {
    /// The text is not a number.
    #[error("'{0}' is not a number; give a keep probability in (0, 1], such as 0.5")]
    NotANumber(String),
    /// The number is outside `(0, 1]` or NaN.
    #[error("{0} is outside (0, 1]; a keep probability must be above 0 and at most 1, such as 0.5")]
    OutOfRange(String),
}

impl KeepProb {
    /// No dropout at all.
    pub const ONE: KeepProb = KeepProb(1.0);

    /// Accepts `value` when `0 < value <= 1`.
    ///
    /// # Errors
    /// [`KeepProbError::OutOfRange`] for 0, negative values, values above 1 and NaN.
    pub fn new(value: f64) -> Result<Self, KeepProbError> {
        if value > 0.0 && value <= 1.0 {
            Ok(KeepProb(value))
        } else {
            Err(KeepProbError::OutOfRange(value.to_string()))
        }
    }

    /// The value as an `f64`.
    pub fn get(self) -> f64 {
        self.0
    }

    /// Whether this keep probability is 1, where dropout is the identity.
    pub fn is_one(self) -> bool {
        self.0 == 1.0
    }

    /// The keep probability rounded to a working precision and widened back: the value a run in
    /// that precision actually divides by, which the exact expectation must use too.
    pub fn in_precision<T: Float>(self) -> KeepProb {
        KeepProb(T::from_f64(self.0).to_f64())
    }
}

impl std::str::FromStr for KeepProb {
    type Err = KeepProbError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let value: f64 = text
            .trim()
            .parse()
            .map_err(|_| KeepProbError::NotANumber(text.to_string()))?;
        if value > 0.0 && value <= 1.0 {
            Ok(KeepProb(value))
        } else {
            Err(KeepProbError::OutOfRange(text.to_string()))
        }
    }
}

impl fmt::Display for KeepProb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Which hidden units a dropout mask keeps, unit 1 first.
///
/// Written as a string of `0`/`1` characters, first unit first: `100` keeps unit 1 and drops
/// units 2 and 3.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mask {
    keep: Vec<bool>,
}

/// Why a mask text was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MaskError {
    /// A character other than `0` or `1`.
    #[error(
        "'{text}' has the character '{found}'; a mask is made of 0 (dropped) and 1 (kept) only, first unit first, such as 100"
    )]
    BadCharacter {
        /// The mask as given.
        text: String,
        /// The first offending character.
        found: char,
    },
    /// The mask does not have one character per hidden unit.
    #[error(
        "'{text}' has {found} characters but the network has {expected} hidden units; give one 0/1 character per unit, such as {example}"
    )]
    WrongLength {
        /// The mask as given.
        text: String,
        /// Its length.
        found: usize,
        /// The number of hidden units.
        expected: usize,
        /// A valid mask of the right length.
        example: String,
    },
}

impl Mask {
    /// The mask that keeps every one of `units` units.
    pub fn all_kept(units: usize) -> Self {
        Mask {
            keep: vec![true; units],
        }
    }

    /// Builds a mask from one flag per unit, unit 1 first.
    pub fn from_flags(keep: Vec<bool>) -> Self {
        Mask { keep }
    }

    /// The mask whose pattern index (see [`Mask::pattern_index`]) is `index`, over `units` units.
    ///
    /// # Panics
    /// When `units > 63`.
    pub fn from_pattern_index(index: u64, units: usize) -> Self {
        assert!(units < 64, "pattern indices cover at most 63 units");
        let keep = (0..units)
            .map(|i| (index >> (units - 1 - i)) & 1 == 1)
            .collect();
        Mask { keep }
    }

    /// Parses a 0/1 string with one character per unit, first unit first.
    ///
    /// # Errors
    /// [`MaskError`] for other characters or the wrong length.
    pub fn parse(text: &str, units: usize) -> Result<Self, MaskError> {
        let mut keep = Vec::with_capacity(text.len().min(units));
        for c in text.chars() {
            match c {
                '0' => keep.push(false),
                '1' => keep.push(true),
                found => {
                    return Err(MaskError::BadCharacter {
                        text: text.to_string(),
                        found,
                    });
                }
            }
        }
        if keep.len() != units {
            return Err(MaskError::WrongLength {
                text: text.to_string(),
                found: keep.len(),
                expected: units,
                example: if units <= 64 {
                    Mask::all_kept(units).to_string()
                } else {
                    format!("a string of {units} ones")
                },
            });
        }
        Ok(Mask { keep })
    }

    /// One flag per unit, unit 1 first: `true` where the unit is kept.
    pub fn keep(&self) -> &[bool] {
        &self.keep
    }

    /// The number of units.
    pub fn len(&self) -> usize {
        self.keep.len()
    }

    /// Whether the mask covers no unit.
    pub fn is_empty(&self) -> bool {
        self.keep.is_empty()
    }

    /// The number of kept units.
    pub fn kept(&self) -> usize {
        self.keep.iter().filter(|&&k| k).count()
    }

    /// The mask read as a binary number with unit 1 as the most significant bit, so that the
    /// numeric order of indices is the text order of masks (`000`, `001`, ..., `111`).
    ///
    /// # Panics
    /// When the mask has more than 63 units.
    pub fn pattern_index(&self) -> u64 {
        assert!(
            self.keep.len() < 64,
            "pattern indices cover at most 63 units"
        );
        self.keep
            .iter()
            .fold(0u64, |acc, &k| (acc << 1) | u64::from(k))
    }

    /// The probability of this mask when each unit is kept independently with `keep_prob`.
    pub fn probability(&self, keep_prob: KeepProb) -> f64 {
        let p = keep_prob.get();
        let kept = self.kept() as i32;
        let dropped = self.keep.len() as i32 - kept;
        p.powi(kept) * (1.0 - p).powi(dropped)
    }

    /// Appends the mask's 0/1 text to `out`.
    pub fn write_text(&self, out: &mut Vec<u8>) {
        out.extend(self.keep.iter().map(|&k| if k { b'1' } else { b'0' }));
    }
}

impl fmt::Display for Mask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &k in &self.keep {
            f.write_str(if k { "1" } else { "0" })?;
        }
        Ok(())
    }
}

/// A dropout scheme; see the module documentation for each one's arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// TensorFlow 1.x: divide by keep_prob, then multiply by the mask.
    #[default]
    Tf1,
    /// TensorFlow 2.x and PyTorch: multiply by the rounded 1/keep_prob, then by the mask.
    Scale,
    /// Multiplicative Gaussian noise N(1, (1-p)/p) instead of a mask.
    Gaussian,
    /// The mask alone, no scaling (the original dropout).
    Unscaled,
}

impl Scheme {
    /// The name used on the command line, in `run.json` and in `summary.csv`.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Tf1 => "tf1",
            Scheme::Scale => "scale",
            Scheme::Gaussian => "gaussian",
            Scheme::Unscaled => "unscaled",
        }
    }

    /// Whether the scheme draws a 0/1 mask (every scheme but `gaussian`).
    pub fn uses_mask(self) -> bool {
        self != Scheme::Gaussian
    }

    /// Whether the scheme keeps the expected hidden units equal to their no-dropout values in
    /// exact arithmetic (`tf1`, `scale` and `gaussian`; not `unscaled`).
    pub fn preserves_mean(self) -> bool {
        self != Scheme::Unscaled
    }
}

/// A dropout scheme with its parameters, as a run in some precision holds them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    /// The scheme.
    pub scheme: Scheme,
    /// The keep probability (rounded to the run's precision by [`Dropout::in_precision`]).
    pub keep_prob: KeepProb,
    /// The multiplier `scale` applies to kept units: `1/keep_prob` rounded to the precision.
    pub scale: f64,
}

impl Dropout {
    /// The scheme at `keep_prob`, in f64.
    pub fn new(scheme: Scheme, keep_prob: KeepProb) -> Self {
        Dropout {
            scheme,
            keep_prob,
            scale: 1.0 / keep_prob.get(),
        }
    }

    /// The same dropout with its parameters rounded to precision `T` and widened back: what a
    /// run in `T` actually computes with, and what its exact expectation must use.
    pub fn in_precision<T: Float>(self) -> Self {
        let keep_prob = self.keep_prob.in_precision::<T>();
        let scale = T::from_f64(1.0 / keep_prob.get()).to_f64();
        Dropout {
            scheme: self.scheme,
            keep_prob,
            scale,
        }
    }

    /// Whether dropout is the identity here (keep probability 1).
    pub fn is_identity(self) -> bool {
        self.keep_prob.is_one()
    }

    /// The mean `mu` and second moment `nu` of the multiplier a hidden unit is scaled by (in
    /// exact arithmetic on this dropout's parameters).
    pub fn multiplier_moments(self) -> (f64, f64) {
        let p = self.keep_prob.get();
        if self.is_identity() {
            return (1.0, 1.0);
        }
        match self.scheme {
            Scheme::Tf1 | Scheme::Gaussian => (1.0, 1.0 / p),
            Scheme::Scale => (p * self.scale, p * self.scale * self.scale),
            Scheme::Unscaled => (p, p),
        }
    }

    /// The standard deviation of the Gaussian noise, `sqrt((1-p)/p)`.
    pub fn noise_std(self) -> f64 {
        let p = self.keep_prob.get();
        ((1.0 - p) / p).sqrt()
    }
}

/// What a trial draws for its hidden units: a mask, or (for `gaussian`) one multiplier per unit.
#[derive(Debug, Clone, Copy)]
pub enum Draw<'a, T> {
    /// Kept (`true`) or dropped, one flag per unit.
    Mask(&'a [bool]),
    /// The noise multiplier of each unit.
    Noise(&'a [T]),
}

/// Forward dropout of one hidden row into `out`; see the module documentation.
///
/// # Panics
/// When the draw does not fit the scheme (a noise draw for a mask scheme or the reverse).
#[inline]
pub fn forward<T: Float>(dropout: &Dropout, h: &[T], draw: Draw<'_, T>, out: &mut [T]) {
    if dropout.is_identity() {
        out.copy_from_slice(h);
        return;
    }
    let p = T::from_f64(dropout.keep_prob.get());
    let s = T::from_f64(dropout.scale);
    match (dropout.scheme, draw) {
        (Scheme::Gaussian, Draw::Noise(noise)) => {
            for ((o, &hi), &xi) in out.iter_mut().zip(h).zip(noise) {
                *o = hi * xi;
            }
        }
        (scheme, Draw::Mask(keep)) if scheme.uses_mask() => {
            for ((o, &hi), &k) in out.iter_mut().zip(h).zip(keep) {
                let m = if k { T::ONE } else { T::ZERO };
                *o = match scheme {
                    Scheme::Tf1 => (hi / p) * m,
                    Scheme::Scale => (hi * s) * m,
                    _ => hi * m,
                };
            }
        }
        (scheme, _) => panic!(
            "the {} scheme was given the wrong kind of draw",
            scheme.name()
        ),
    }
}

/// Backward dropout: the gradient with respect to `h` from the gradient `g` with respect to
/// the dropped-out row; see the module documentation.
///
/// # Panics
/// As [`forward`].
#[inline]
pub fn backward<T: Float>(dropout: &Dropout, g: &[T], draw: Draw<'_, T>, out: &mut [T]) {
    if dropout.is_identity() {
        out.copy_from_slice(g);
        return;
    }
    let p = T::from_f64(dropout.keep_prob.get());
    let s = T::from_f64(dropout.scale);
    match (dropout.scheme, draw) {
        (Scheme::Gaussian, Draw::Noise(noise)) => {
            for ((o, &gi), &xi) in out.iter_mut().zip(g).zip(noise) {
                *o = gi * xi;
            }
        }
        (scheme, Draw::Mask(keep)) if scheme.uses_mask() => {
            for ((o, &gi), &k) in out.iter_mut().zip(g).zip(keep) {
                let m = if k { T::ONE } else { T::ZERO };
                *o = match scheme {
                    Scheme::Tf1 => (gi * m) / p,
                    Scheme::Scale => (gi * m) * s,
                    _ => gi * m,
                };
            }
        }
        (scheme, _) => panic!(
            "the {} scheme was given the wrong kind of draw",
            scheme.name()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_prob_accepts_only_the_half_open_unit_interval() {
        assert!("0.5".parse::<KeepProb>().is_ok());
        assert!("1".parse::<KeepProb>().is_ok());
        for bad in ["0", "-0.1", "1.0000001", "NaN", "inf"] {
            assert!(
                matches!(bad.parse::<KeepProb>(), Err(KeepProbError::OutOfRange(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            "half".parse::<KeepProb>(),
            Err(KeepProbError::NotANumber(_))
        ));
    }

    #[test]
    fn mask_text_round_trips_and_orders_like_its_index() {
        let mask = Mask::parse("100", 3).unwrap();
        assert_eq!(mask.to_string(), "100");
        assert_eq!(mask.pattern_index(), 4);
        assert_eq!(Mask::from_pattern_index(4, 3), mask);
        assert_eq!(Mask::from_pattern_index(1, 3).to_string(), "001");
        assert!(matches!(
            Mask::parse("10", 3),
            Err(MaskError::WrongLength { .. })
        ));
        assert!(matches!(
            Mask::parse("1x0", 3),
            Err(MaskError::BadCharacter { found: 'x', .. })
        ));
        // A unit count far beyond any network allocates nothing up front.
        assert!(matches!(
            Mask::parse("10", usize::MAX),
            Err(MaskError::WrongLength { .. })
        ));
    }

    #[test]
    fn mask_probabilities_sum_to_one() {
        let p = KeepProb::new(0.3).unwrap();
        let total: f64 = (0..8)
            .map(|i| Mask::from_pattern_index(i, 3).probability(p))
            .sum();
        assert!((total - 1.0).abs() <= 8.0 * f64::EPSILON, "{total}");
    }

    fn tf1(p: f64) -> Dropout {
        Dropout::new(Scheme::Tf1, KeepProb::new(p).unwrap()).in_precision::<f32>()
    }

    #[test]
    fn tf1_forward_divides_then_masks() {
        // (0.1 / 0.9) * 1 in float32 is 0.11111112; a dropped unit is +0.
        let mut out = [9.0f32; 3];
        let keep = [true, true, false];
        forward(&tf1(0.9), &[0.1, 0.0, 0.2], Draw::Mask(&keep), &mut out);
        assert_eq!(
            out.map(f32::to_bits),
            [0.111_111_12f32, 0.0, 0.0].map(f32::to_bits)
        );
        forward(
            &tf1(1.0),
            &[0.1, 0.0, 0.2],
            Draw::Mask(&[false; 3]),
            &mut out,
        );
        assert_eq!(
            out,
            [0.1, 0.0, 0.2],
            "keep_prob 1 passes h through, whatever the mask"
        );
    }

    #[test]
    fn tf1_backward_masks_then_divides() {
        // (-0.78400004 * 1) / 0.5 = -1.5680001 exactly; a dropped negative gradient is -0 here.
        let mut out = [9.0f32; 2];
        backward(
            &tf1(0.5),
            &[-0.784_000_04, -0.8],
            Draw::Mask(&[true, false]),
            &mut out,
        );
        assert_eq!(out[0].to_bits(), (-1.568_000_1f32).to_bits());
        assert_eq!(out[1].to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn scale_differs_from_tf1_in_the_last_bit() {
        // 0.1 / 0.3 and 0.1 * 3.3333333 round to neighbouring float32 values.
        let p = KeepProb::new(0.3).unwrap();
        let scale = Dropout::new(Scheme::Scale, p).in_precision::<f32>();
        assert_eq!(scale.scale, f64::from(1.0f32 / 0.3f32));
        let (mut a, mut b) = ([0.0f32], [0.0f32]);
        forward(&tf1(0.3), &[0.1], Draw::Mask(&[true]), &mut a);
        forward(&scale, &[0.1], Draw::Mask(&[true]), &mut b);
        assert_eq!(a[0], 0.1f32 / 0.3f32);
        assert_eq!(b[0], 0.1f32 * (1.0f32 / 0.3f32));
        assert_ne!(a[0].to_bits(), b[0].to_bits());
        assert!((a[0] - b[0]).abs() <= f32::EPSILON * a[0]);
    }

    #[test]
    fn unscaled_and_gaussian_multiply_only() {
        let p = KeepProb::new(0.5).unwrap();
        let mut out = [9.0f32; 2];
        let unscaled = Dropout::new(Scheme::Unscaled, p);
        forward(&unscaled, &[0.1, 0.2], Draw::Mask(&[true, false]), &mut out);
        assert_eq!(out, [0.1, 0.0]);
        let gaussian = Dropout::new(Scheme::Gaussian, p);
        backward(
            &gaussian,
            &[0.5, -2.0],
            Draw::Noise(&[1.5, -0.25]),
            &mut out,
        );
        assert_eq!(out, [0.75, 0.5]);
    }

    #[test]
    #[should_panic(expected = "the gaussian scheme was given the wrong kind of draw")]
    fn a_mask_is_refused_by_the_gaussian_scheme() {
        let gaussian = Dropout::new(Scheme::Gaussian, KeepProb::new(0.5).unwrap());
        forward(&gaussian, &[0.1f32], Draw::Mask(&[true]), &mut [0.0]);
    }

    #[test]
    fn multiplier_moments_follow_each_scheme() {
        let p = KeepProb::new(0.25).unwrap();
        assert_eq!(
            Dropout::new(Scheme::Tf1, p).multiplier_moments(),
            (1.0, 4.0)
        );
        assert_eq!(
            Dropout::new(Scheme::Gaussian, p).multiplier_moments(),
            (1.0, 4.0)
        );
        assert_eq!(
            Dropout::new(Scheme::Scale, p).multiplier_moments(),
            (1.0, 4.0)
        );
        assert_eq!(
            Dropout::new(Scheme::Unscaled, p).multiplier_moments(),
            (0.25, 0.25)
        );
        let one = Dropout::new(Scheme::Unscaled, KeepProb::ONE);
        assert_eq!(one.multiplier_moments(), (1.0, 1.0));
        assert!((Dropout::new(Scheme::Gaussian, p).noise_std() - 3f64.sqrt()).abs() < 1e-15);
    }
}
