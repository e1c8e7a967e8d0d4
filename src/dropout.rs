//! Inverted dropout exactly as TensorFlow 1.x's `tf.nn.dropout(h, keep_prob)` computes it, and
//! the mask it applies.
//!
//! This module owns the keep probability ([`KeepProb`]), the dropout mask ([`Mask`]) and the two
//! dropout operations of a trial:
//!
//! - forward: `keep_prob == 1` passes `h` through untouched (TensorFlow adds no operation at
//!   all); otherwise `(h / keep_prob) * mask`, a true division first, then a multiplication by
//!   the 0/1 mask. (TensorFlow 2.x and PyTorch multiply by a precomputed `1 / keep_prob` instead,
//!   which rounds differently in the last bit for most keep probabilities.)
//! - backward: TensorFlow differentiates those two operations separately, so the gradient that
//!   reaches `h` is `(g * mask) / keep_prob`.

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
        let mut keep = Vec::with_capacity(units);
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
                example: Mask::all_kept(units).to_string(),
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

/// Forward dropout of one hidden row: `out[i] = (h[i] / keep_prob) * mask[i]`, or `h[i]` when
/// `keep_prob` is 1.
#[inline]
pub fn forward<T: Float>(h: &[T], keep_prob: T, keep: &[bool], out: &mut [T]) {
    if keep_prob == T::ONE {
        out.copy_from_slice(h);
        return;
    }
    for ((o, &hi), &k) in out.iter_mut().zip(h).zip(keep) {
        let m = if k { T::ONE } else { T::ZERO };
        *o = (hi / keep_prob) * m;
    }
}

/// Backward dropout: `out[i] = (g[i] * mask[i]) / keep_prob`, or `g[i]` when `keep_prob` is 1.
#[inline]
pub fn backward<T: Float>(g: &[T], keep_prob: T, keep: &[bool], out: &mut [T]) {
    if keep_prob == T::ONE {
        out.copy_from_slice(g);
        return;
    }
    for ((o, &gi), &k) in out.iter_mut().zip(g).zip(keep) {
        let m = if k { T::ONE } else { T::ZERO };
        *o = (gi * m) / keep_prob;
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
    }

    #[test]
    fn mask_probabilities_sum_to_one() {
        let p = KeepProb::new(0.3).unwrap();
        let total: f64 = (0..8)
            .map(|i| Mask::from_pattern_index(i, 3).probability(p))
            .sum();
        assert!((total - 1.0).abs() <= 8.0 * f64::EPSILON, "{total}");
    }

    #[test]
    fn forward_divides_then_masks() {
        // (0.1 / 0.9) * 1 in float32 is 0.11111112; a dropped unit is +0.
        let mut out = [9.0f32; 3];
        forward(&[0.1, 0.0, 0.2], 0.9, &[true, true, false], &mut out);
        assert_eq!(
            out.map(f32::to_bits),
            [0.111_111_12f32, 0.0, 0.0].map(f32::to_bits)
        );
        forward(&[0.1, 0.0, 0.2], 1.0, &[false, false, false], &mut out);
        assert_eq!(
            out,
            [0.1, 0.0, 0.2],
            "keep_prob 1 passes h through, whatever the mask"
        );
    }

    #[test]
    fn backward_masks_then_divides() {
        // (-0.78400004 * 1) / 0.5 = -1.5680001 exactly; a dropped negative gradient is -0 here.
        let mut out = [9.0f32; 2];
        backward(&[-0.784_000_04, -0.8], 0.5, &[true, false], &mut out);
        assert_eq!(out[0].to_bits(), (-1.568_000_1f32).to_bits());
        assert_eq!(out[1].to_bits(), (-0.0f32).to_bits());
    }
}
