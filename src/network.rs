//! The network of the notebook "Dropout in a minute" and its hand-written backpropagation.
//!
//! This module owns the network's weights ([`Network`]), the flat list of per-trial quantities
//! ([`Layout`]) and one trial's forward and backward pass ([`Workspace::run`]). The shapes are
//! general, `x` 1xd, `w1` dxn, `w2` nxk, `y` 1xk:
//!
//! ```text
//! a      = x w1                  (1xn)
//! h      = relu(a)
//! h_drop = dropout(h)            (see the dropout module for the schemes)
//! output = h_drop w2             (1xk)
//! loss   = mean((output - y)^2)  over the k outputs
//! ```
//!
//! The backward pass applies TensorFlow's gradient of each operation in turn, in the same
//! operation order, so that float32 values equal TensorFlow's bit for bit:
//! `d_sq = 1 / k`, `d_output = d_sq * (2 * (output - y))`, `d_h_drop = d_output w2^T`,
//! `grad_w2 = h_drop^T d_output`, `d_h = dropout'(d_h_drop)` (for `tf1`: `(d_h_drop * mask) /
//! keep_prob`),
//! `d_a = d_h * (h > 0 ? 1 : 0)`, `grad_w1 = x^T d_a`.
//!
//! Bit-for-bit agreement is claimed for one output (k = 1, the notebook's shape). With several
//! outputs the loss sums the squares left to right, which TensorFlow's vectorised reduction need
//! not do.

use nalgebra::DMatrix;

use crate::arithmetic::{Arithmetic, Float, matmul_into};
use crate::dropout::{self, Draw, Dropout, Mask};

/// The sizes of a network: `x` is 1xd, `w1` dxn, `w2` nxk, `y` 1xk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Shape {
    /// Inputs, d.
    pub inputs: usize,
    /// Hidden units, n: the units dropout masks.
    pub hidden: usize,
    /// Outputs, k.
    pub outputs: usize,
}

/// Why a network was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NetworkError {
    /// A matrix does not have the shape the others imply.
    #[error("{field} is {found_rows}x{found_cols} but must be {rows}x{cols} ({why})")]
    Shape {
        /// The offending field (`x`, `y`, `w1`, `w2`).
        field: &'static str,
        /// Its rows.
        found_rows: usize,
        /// Its columns.
        found_cols: usize,
        /// The rows it must have.
        rows: usize,
        /// The columns it must have.
        cols: usize,
        /// Which other field fixes that shape.
        why: &'static str,
    },
    /// A value is NaN or infinite.
    #[error(
        "{field} holds a value that is not finite ({value}); every weight and input must be a finite number"
    )]
    NotFinite {
        /// The offending field.
        field: &'static str,
        /// The value.
        value: f64,
    },
    /// A dimension is zero.
    #[error("{field} is empty; every matrix needs at least one row and one column")]
    Empty {
        /// The offending field.
        field: &'static str,
    },
}

/// The weights and data of a one-hidden-layer network with a squared loss.
#[derive(Debug, Clone, PartialEq)]
pub struct Network<T: Float> {
    x: DMatrix<T>,
    y: DMatrix<T>,
    w1: DMatrix<T>,
    w2: DMatrix<T>,
}

impl Network<f64> {
    /// The notebook's network: `x = [[1]]`, `y = [[2]]`, `w1 = [[0.1, -0.1, 0.2]]`,
    /// `w2 = [[0.2], [0.1], [-0.1]]`.
    pub fn notebook() -> Self {
        Network::new(
            DMatrix::from_row_slice(1, 1, &[1.0]),
            DMatrix::from_row_slice(1, 1, &[2.0]),
            DMatrix::from_row_slice(1, 3, &[0.1, -0.1, 0.2]),
            DMatrix::from_row_slice(3, 1, &[0.2, 0.1, -0.1]),
        )
        .expect("the notebook's network is well formed")
    }
}

impl<T: Float> Network<T> {
    /// Checks that the shapes chain (`x` 1xd, `w1` dxn, `w2` nxk, `y` 1xk) and that every value
    /// is finite.
    ///
    /// # Errors
    /// [`NetworkError`] naming the first offending field.
    pub fn new(
        x: DMatrix<T>,
        y: DMatrix<T>,
        w1: DMatrix<T>,
        w2: DMatrix<T>,
    ) -> Result<Self, NetworkError> {
        for (field, m) in [("x", &x), ("y", &y), ("w1", &w1), ("w2", &w2)] {
            if m.is_empty() {
                return Err(NetworkError::Empty { field });
            }
            if let Some(v) = m.iter().find(|v| !v.is_finite()) {
                return Err(NetworkError::NotFinite {
                    field,
                    value: v.to_f64(),
                });
            }
        }
        let check = |field, m: &DMatrix<T>, rows, cols, why| {
            if m.shape() == (rows, cols) {
                Ok(())
            } else {
                Err(NetworkError::Shape {
                    field,
                    found_rows: m.nrows(),
                    found_cols: m.ncols(),
                    rows,
                    cols,
                    why,
                })
            }
        };
        check("x", &x, 1, x.ncols(), "one row of inputs")?;
        check("w1", &w1, x.ncols(), w1.ncols(), "one row per input in x")?;
        check(
            "w2",
            &w2,
            w1.ncols(),
            w2.ncols(),
            "one row per hidden unit, the columns of w1",
        )?;
        check(
            "y",
            &y,
            1,
            w2.ncols(),
            "one row with one target per column of w2",
        )?;
        Ok(Network { x, y, w1, w2 })
    }

    /// The network's sizes.
    pub fn shape(&self) -> Shape {
        Shape {
            inputs: self.x.ncols(),
            hidden: self.w1.ncols(),
            outputs: self.w2.ncols(),
        }
    }

    /// The same network in another precision: each value rounded to nearest (widening is exact).
    pub fn cast<U: Float>(&self) -> Network<U> {
        let cast = |m: &DMatrix<T>| m.map(|v| U::from_f64(v.to_f64()));
        Network {
            x: cast(&self.x),
            y: cast(&self.y),
            w1: cast(&self.w1),
            w2: cast(&self.w2),
        }
    }

    /// The input row `x` (1xd).
    pub fn x(&self) -> &DMatrix<T> {
        &self.x
    }

    /// The target row `y` (1xk).
    pub fn y(&self) -> &DMatrix<T> {
        &self.y
    }

    /// The first-layer weights `w1` (dxn).
    pub fn w1(&self) -> &DMatrix<T> {
        &self.w1
    }

    /// The readout weights `w2` (nxk).
    pub fn w2(&self) -> &DMatrix<T> {
        &self.w2
    }
}

/// The per-trial quantities of a network, flattened in one fixed order:
/// `loss`, `output` (or `output_0..k-1` when k > 1), `d_output` (dL/d output, or
/// `d_output_0..k-1`), `hidden_0..n-1` (after dropout), `grad_w1_0..d*n-1` and
/// `grad_w2_0..n*k-1`, matrices flattened row-major.
///
/// The same names are the columns of `trials.csv` and the rows of `summary.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    shape: Shape,
}

impl Layout {
    /// The layout of a network of this shape.
    pub fn new(shape: Shape) -> Self {
        Layout { shape }
    }

    /// The network's shape.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// The number of quantities.
    pub fn len(&self) -> usize {
        let Shape {
            inputs: d,
            hidden: n,
            outputs: k,
        } = self.shape;
        1 + 2 * k + n + d * n + n * k
    }

    /// Always false: every layout has at least the loss.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Index of the loss.
    pub const LOSS: usize = 0;

    /// Index of the first output.
    pub fn output(&self) -> usize {
        1
    }

    /// Index of the first component of dL/d output.
    pub fn d_output(&self) -> usize {
        1 + self.shape.outputs
    }

    /// Index of the first hidden unit (after dropout).
    pub fn hidden(&self) -> usize {
        1 + 2 * self.shape.outputs
    }

    /// Index of the first component of `grad_w1`.
    pub fn grad_w1(&self) -> usize {
        self.hidden() + self.shape.hidden
    }

    /// Index of the first component of `grad_w2`.
    pub fn grad_w2(&self) -> usize {
        self.grad_w1() + self.shape.inputs * self.shape.hidden
    }

    /// Whether the quantity at `index` is a weight gradient.
    pub fn is_gradient(&self, index: usize) -> bool {
        index >= self.grad_w1()
    }

    /// The quantities' names, in order.
    pub fn names(&self) -> Vec<String> {
        let Shape {
            inputs: d,
            hidden: n,
            outputs: k,
        } = self.shape;
        let mut names = vec!["loss".to_string()];
        for base in ["output", "d_output"] {
            if k == 1 {
                names.push(base.to_string());
            } else {
                names.extend((0..k).map(|j| format!("{base}_{j}")));
            }
        }
        names.extend((0..n).map(|i| format!("hidden_{i}")));
        names.extend((0..d * n).map(|i| format!("grad_w1_{i}")));
        names.extend((0..n * k).map(|i| format!("grad_w2_{i}")));
        names
    }
}

/// The buffers of one trial, allocated once and reused for every trial a thread runs.
#[derive(Debug, Clone)]
pub struct Workspace<T: Float> {
    arithmetic: Arithmetic,
    layout: Layout,
    /// relu(x w1): it does not depend on the mask, so it is computed once.
    h: DMatrix<T>,
    h_drop: DMatrix<T>,
    output: DMatrix<T>,
    d_output: DMatrix<T>,
    d_h_drop: DMatrix<T>,
    d_h: DMatrix<T>,
    grad_w1: DMatrix<T>,
    grad_w2: DMatrix<T>,
    record: Vec<T>,
}

impl<T: Float> Workspace<T> {
    /// Buffers for `network`, with the mask-independent first layer computed once.
    pub fn new(network: &Network<T>, arithmetic: Arithmetic) -> Self {
        let Shape {
            inputs: d,
            hidden: n,
            outputs: k,
        } = network.shape();
        let layout = Layout::new(network.shape());

        // a = x w1, h = relu(a): the same for every mask.
        let mut h = DMatrix::from_element(1, n, T::ZERO);
        matmul_into(&mut h, &network.x, false, &network.w1, false, arithmetic);
        h.apply(|v| *v = relu(*v));

        Workspace {
            arithmetic,
            layout,
            h,
            h_drop: DMatrix::from_element(1, n, T::ZERO),
            output: DMatrix::from_element(1, k, T::ZERO),
            d_output: DMatrix::from_element(1, k, T::ZERO),
            d_h_drop: DMatrix::from_element(1, n, T::ZERO),
            d_h: DMatrix::from_element(1, n, T::ZERO),
            grad_w1: DMatrix::from_element(d, n, T::ZERO),
            grad_w2: DMatrix::from_element(n, k, T::ZERO),
            record: vec![T::ZERO; layout.len()],
        }
    }

    /// The layout of the quantities [`Workspace::run`] returns.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The hidden activations before dropout, relu(x w1).
    pub fn hidden_before_dropout(&self) -> &[T] {
        self.h.as_slice()
    }

    /// Runs one trial, forward and backward, with `dropout` and the trial's draw (its mask, or
    /// its noise for the Gaussian scheme), and returns its quantities in [`Layout`] order.
    ///
    /// `network` must be the network the workspace was built for.
    pub fn run(&mut self, network: &Network<T>, dropout: &Dropout, draw: Draw<'_, T>) -> &[T] {
        let k = self.output.ncols();
        let arithmetic = self.arithmetic;

        // Forward: dropout on h, readout, squared loss.
        dropout::forward(dropout, self.h.as_slice(), draw, self.h_drop.as_mut_slice());
        matmul_into(
            &mut self.output,
            &self.h_drop,
            false,
            &network.w2,
            false,
            arithmetic,
        );
        let mut sum_sq = T::ZERO;
        for (&o, &y) in self.output.iter().zip(network.y.iter()) {
            let diff = o - y;
            sum_sq = sum_sq + diff * diff;
        }
        let count = T::from_f64(k as f64);
        let loss = sum_sq / count;

        // Backward through the mean and the square: d_output = (1 / k) * (2 * (output - y)).
        let d_sq = T::ONE / count;
        for ((d, &o), &y) in self
            .d_output
            .iter_mut()
            .zip(self.output.iter())
            .zip(network.y.iter())
        {
            *d = d_sq * (T::TWO * (o - y));
        }

        // Backward through the readout: both products start from +0.
        matmul_into(
            &mut self.d_h_drop,
            &self.d_output,
            false,
            &network.w2,
            true,
            arithmetic,
        );
        matmul_into(
            &mut self.grad_w2,
            &self.h_drop,
            true,
            &self.d_output,
            false,
            arithmetic,
        );

        // Backward through dropout and relu. TensorFlow's ReluGrad multiplies by the 0/1 cast of
        // `h > 0` rather than selecting, so a blocked negative gradient becomes -0 here (the
        // product below, which starts from +0, turns it back into +0).
        dropout::backward(
            dropout,
            self.d_h_drop.as_slice(),
            draw,
            self.d_h.as_mut_slice(),
        );
        for (d, &h) in self.d_h.iter_mut().zip(self.h.iter()) {
            let active = if h > T::ZERO { T::ONE } else { T::ZERO };
            *d = *d * active;
        }
        matmul_into(
            &mut self.grad_w1,
            &network.x,
            true,
            &self.d_h,
            false,
            arithmetic,
        );

        // Flatten in layout order, matrices row-major.
        let layout = self.layout;
        let record = &mut self.record;
        record[Layout::LOSS] = loss;
        record[layout.output()..layout.d_output()].copy_from_slice(self.output.as_slice());
        record[layout.d_output()..layout.hidden()].copy_from_slice(self.d_output.as_slice());
        record[layout.hidden()..layout.grad_w1()].copy_from_slice(self.h_drop.as_slice());
        write_row_major(
            &self.grad_w1,
            &mut record[layout.grad_w1()..layout.grad_w2()],
        );
        write_row_major(&self.grad_w2, &mut record[layout.grad_w2()..]);
        &self.record
    }

    /// Runs one trial of a mask scheme with a [`Mask`]; see [`Workspace::run`].
    pub fn run_mask(&mut self, network: &Network<T>, dropout: &Dropout, mask: &Mask) -> &[T] {
        self.run(network, dropout, Draw::Mask(mask.keep()))
    }
}

/// TensorFlow's relu: `max(v, 0)`, with `+0` for every non-positive input.
#[inline]
fn relu<T: Float>(v: T) -> T {
    if v > T::ZERO { v } else { T::ZERO }
}

/// Copies a matrix into `out` row by row (nalgebra stores columns first).
#[inline]
fn write_row_major<T: Float>(m: &DMatrix<T>, out: &mut [T]) {
    let cols = m.ncols();
    for (index, slot) in out.iter_mut().enumerate() {
        *slot = m[(index / cols, index % cols)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_names_match_the_trial_columns() {
        let layout = Layout::new(Network::notebook().shape());
        assert_eq!(
            layout.names().join(","),
            "loss,output,d_output,hidden_0,hidden_1,hidden_2,grad_w1_0,grad_w1_1,grad_w1_2,\
             grad_w2_0,grad_w2_1,grad_w2_2"
        );
        assert_eq!(layout.len(), 12);
        assert!(!layout.is_gradient(layout.grad_w1() - 1));
        assert!(layout.is_gradient(layout.grad_w1()));
    }

    #[test]
    fn several_outputs_are_numbered() {
        let shape = Shape {
            inputs: 2,
            hidden: 2,
            outputs: 2,
        };
        let names = Layout::new(shape).names();
        assert_eq!(
            names[1..5],
            ["output_0", "output_1", "d_output_0", "d_output_1"]
        );
        assert_eq!(names.len(), Layout::new(shape).len());
        assert_eq!(names.last().unwrap(), "grad_w2_3");
    }

    #[test]
    fn shapes_that_do_not_chain_are_refused_by_name() {
        let m = |r, c| DMatrix::<f64>::from_element(r, c, 0.5);
        let err = Network::new(m(1, 2), m(1, 1), m(3, 4), m(4, 1)).unwrap_err();
        assert!(
            matches!(
                err,
                NetworkError::Shape {
                    field: "w1",
                    rows: 2,
                    ..
                }
            ),
            "{err}"
        );
        let err = Network::new(m(1, 2), m(1, 2), m(2, 4), m(4, 1)).unwrap_err();
        assert!(
            matches!(
                err,
                NetworkError::Shape {
                    field: "y",
                    cols: 1,
                    ..
                }
            ),
            "{err}"
        );
        let mut w2 = m(4, 1);
        w2[(2, 0)] = f64::NAN;
        let err = Network::new(m(1, 2), m(1, 1), m(2, 4), w2).unwrap_err();
        assert!(
            matches!(err, NetworkError::NotFinite { field: "w2", .. }),
            "{err}"
        );
    }
}
