//! Floating-point arithmetic of one trial: the two precisions (`f32`, `f64`) and the two ways a
//! matrix-product sum can round.
//!
//! This module owns the [`Float`] trait the network is generic over and the single matrix-product
//! routine every forward and backward product goes through, so that the operation order that makes
//! results equal TensorFlow's bit for bit lives in one place:
//!
//! - every sum starts from `+0.0` and adds the products left to right, in the order of the inner
//!   index (this is why a zero gradient is `+0.0`, never `-0.0`: `+0.0 + -0.0 = +0.0`);
//! - [`Arithmetic::Plain`] rounds each product to the working precision, then adds it, as the
//!   official TensorFlow 1.5.0 binaries did (they were built without AVX and FMA);
//! - [`Arithmetic::Fma`] chains fused multiply-adds, `acc = fma(a, b, acc)`, with one rounding per
//!   step, as TensorFlow 2.x's CPU kernels do on processors with FMA.
//!
//! The two differ only where products cancel; in the notebook's no-dropout run the output is
//! exactly `0` in `Plain` and `8.1956386e-10` in `Fma`.

use std::fmt::{Debug, Display};
use std::ops::{Add, Div, Mul, Neg, Sub};

use nalgebra::{DMatrix, Scalar};

/// How the sums inside a matrix product round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Arithmetic {
    /// Each product is rounded, then added to the running sum (TensorFlow 1.5.0's official build).
    #[default]
    Plain,
    /// Each step is one fused multiply-add with a single rounding (TensorFlow 2.x on FMA CPUs).
    Fma,
}

impl Arithmetic {
    /// The name used on the command line and in `run.json`.
    pub fn name(self) -> &'static str {
        match self {
            Arithmetic::Plain => "plain",
            Arithmetic::Fma => "fma",
        }
    }
}

/// The working precision of a trial: `f32` (TensorFlow's default) or `f64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// IEEE-754 binary32, the notebook's `tf.float32`.
    #[default]
    F32,
    /// IEEE-754 binary64.
    F64,
}

impl Precision {
    /// The name used on the command line and in `run.json`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }
}

/// A working precision for the per-trial arithmetic.
///
/// Implemented for `f32` and `f64` only. Conversions to `f64` are exact; conversions from `f64`
/// round to nearest, ties to even.
pub trait Float:
    Scalar
    + Copy
    + Default
    + PartialOrd
    + Debug
    + Display
    + Send
    + Sync
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// `+0.0`.
    const ZERO: Self;
    /// `1.0`.
    const ONE: Self;
    /// `2.0`.
    const TWO: Self;
    /// The precision's name, as in [`Precision::name`].
    const PRECISION: Precision;

    /// `self * a + b` with a single rounding.
    fn fused_mul_add(self, a: Self, b: Self) -> Self;
    /// Rounds an `f64` to this precision (to nearest, ties to even).
    fn from_f64(x: f64) -> Self;
    /// Widens to `f64` exactly.
    fn to_f64(self) -> f64;
    /// Whether the value is neither infinite nor NaN.
    fn is_finite(self) -> bool;
    /// Appends the shortest decimal text that reads back to the same value of this precision
    /// (ryu's form: "4.0", "0.1", "1e-10", "NaN", "inf"), which pandas and R read back unchanged.
    fn write_shortest(self, out: &mut Vec<u8>);
}

impl Float for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const TWO: Self = 2.0;
    const PRECISION: Precision = Precision::F32;

    #[inline]
    fn fused_mul_add(self, a: Self, b: Self) -> Self {
        self.mul_add(a, b)
    }
    #[inline]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline]
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
    fn write_shortest(self, out: &mut Vec<u8>) {
        out.extend_from_slice(ryu::Buffer::new().format(self).as_bytes());
    }
}

impl Float for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const TWO: Self = 2.0;
    const PRECISION: Precision = Precision::F64;

    #[inline]
    fn fused_mul_add(self, a: Self, b: Self) -> Self {
        self.mul_add(a, b)
    }
    #[inline]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline]
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
    fn write_shortest(self, out: &mut Vec<u8>) {
        out.extend_from_slice(ryu::Buffer::new().format(self).as_bytes());
    }
}

/// `out = op(a) * op(b)` where `op` transposes its argument when the flag says so, with every
/// sum accumulated from `+0.0` over the inner index in increasing order, rounding as `arithmetic`
/// says.
///
/// # Panics
/// When the shapes do not chain or `out` has the wrong shape (a programming error: the network
/// checks shapes once when it is built).
pub fn matmul_into<T: Float>(
    out: &mut DMatrix<T>,
    a: &DMatrix<T>,
    transpose_a: bool,
    b: &DMatrix<T>,
    transpose_b: bool,
    arithmetic: Arithmetic,
) {
    let (rows, inner) = if transpose_a {
        (a.ncols(), a.nrows())
    } else {
        a.shape()
    };
    let (inner_b, cols) = if transpose_b {
        (b.ncols(), b.nrows())
    } else {
        b.shape()
    };
    assert_eq!(inner, inner_b, "matrix product: inner dimensions differ");
    assert_eq!(
        out.shape(),
        (rows, cols),
        "matrix product: output has the wrong shape"
    );

    let at = |i: usize, l: usize| if transpose_a { a[(l, i)] } else { a[(i, l)] };
    let bt = |l: usize, j: usize| if transpose_b { b[(j, l)] } else { b[(l, j)] };
    for i in 0..rows {
        for j in 0..cols {
            let mut acc = T::ZERO;
            match arithmetic {
                Arithmetic::Plain => {
                    for l in 0..inner {
                        let product = at(i, l) * bt(l, j);
                        acc = acc + product;
                    }
                }
                Arithmetic::Fma => {
                    for l in 0..inner {
                        acc = at(i, l).fused_mul_add(bt(l, j), acc);
                    }
                }
            }
            out[(i, j)] = acc;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_fma_differ_where_products_cancel() {
        // The notebook's readout with no dropout: 0.1 * 0.2 + 0 * 0.1 + 0.2 * -0.1 in float32.
        let h = DMatrix::from_row_slice(1, 3, &[0.1f32, 0.0, 0.2]);
        let w2 = DMatrix::from_row_slice(3, 1, &[0.2f32, 0.1, -0.1]);
        let mut out = DMatrix::zeros(1, 1);
        matmul_into(&mut out, &h, false, &w2, false, Arithmetic::Plain);
        assert_eq!(out[(0, 0)].to_bits(), 0.0f32.to_bits());
        matmul_into(&mut out, &h, false, &w2, false, Arithmetic::Fma);
        assert_eq!(out[(0, 0)].to_bits(), 8.195_638_6e-10f32.to_bits());
    }

    #[test]
    fn sums_start_from_positive_zero() {
        // -1 * +0 is -0; a sum that starts from +0 turns it into +0 in both arithmetics.
        let a = DMatrix::from_row_slice(1, 1, &[-1.0f32]);
        let b = DMatrix::from_row_slice(1, 1, &[0.0f32]);
        let mut out = DMatrix::from_element(1, 1, 7.0f32);
        for arithmetic in [Arithmetic::Plain, Arithmetic::Fma] {
            matmul_into(&mut out, &a, false, &b, false, arithmetic);
            assert_eq!(out[(0, 0)].to_bits(), 0.0f32.to_bits());
        }
    }

    #[test]
    fn transposes_index_as_stated() {
        // a is 2x3, b is 2x3: a^T b is 3x3 and a b^T is 2x2.
        let a = DMatrix::from_row_slice(2, 3, &[1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = DMatrix::from_row_slice(2, 3, &[7.0f64, 8.0, 9.0, 10.0, 11.0, 12.0]);
        let mut atb = DMatrix::zeros(3, 3);
        matmul_into(&mut atb, &a, true, &b, false, Arithmetic::Plain);
        assert_eq!(atb, a.transpose() * &b);
        let mut abt = DMatrix::zeros(2, 2);
        matmul_into(&mut abt, &a, false, &b, true, Arithmetic::Fma);
        assert_eq!(abt, &a * b.transpose());
    }
}
