//! The notebook's single runs, reproduced exactly: `dropout-study reproduce`.
//!
//! This module owns one forward and backward pass with a *given* mask (the notebook sets no seed,
//! so its mask is given rather than drawn) and its two printed forms:
//!
//! - the notebook's own `print` lines (numpy at precision 2 for arrays, the shortest float32 text
//!   for the loss), followed by one line naming the hidden units the gradient flows back through;
//! - one JSON object per run with every value in the shortest text that reads back to the same
//!   value of the run's precision.
//!
//! The notebook's two runs are keep_prob 1 (no dropout) and keep_prob 0.5 with mask `100`
//! (unit 1 kept, unit 3 dropped; unit 2's relu is inactive, so `110` gives the same values).

use serde::Serialize;

use crate::arithmetic::{Arithmetic, Float};
use crate::dropout::{Dropout, KeepProb, Mask};
use crate::network::{Network, Shape, Workspace};
use crate::numpy_format::{format_array_2d, format_scalar_f32};

/// One run of the network with a given mask.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SingleRun<T: Float + Serialize> {
    /// The keep probability, in the run's precision.
    pub keep_prob: T,
    /// The mask, one 0/1 character per hidden unit, unit 1 first.
    pub mask: String,
    /// `f32` or `f64`.
    pub precision: &'static str,
    /// `plain` or `fma`.
    pub arithmetic: &'static str,
    /// The dropout scheme.
    pub scheme: &'static str,
    /// The loss.
    pub loss: T,
    /// The output row (1xk).
    pub output: Vec<T>,
    /// The hidden units after dropout (1xn).
    pub hidden: Vec<T>,
    /// d loss / d w1 (dxn), row-major.
    pub grad_w1: Vec<T>,
    /// d loss / d w2 (nxk), row-major.
    pub grad_w2: Vec<T>,
    #[serde(skip)]
    shape: Shape,
    #[serde(skip)]
    active: Vec<bool>,
    #[serde(skip)]
    kept: Vec<bool>,
}

/// The notebook's two runs: no dropout, then keep_prob 0.5 with mask `100`.
pub fn notebook_cases() -> [(KeepProb, Mask); 2] {
    [
        (KeepProb::ONE, Mask::all_kept(3)),
        (
            KeepProb::new(0.5).expect("in range"),
            Mask::from_flags(vec![true, false, false]),
        ),
    ]
}

/// Runs `network` once in precision `T` with `mask` under `dropout` (a mask scheme).
///
/// # Panics
/// When the mask does not have one flag per hidden unit (the caller parses it against the
/// network), or for the Gaussian scheme, which has no mask.
pub fn run<T: Float + Serialize>(
    network: &Network<f64>,
    dropout: &Dropout,
    mask: &Mask,
    arithmetic: Arithmetic,
) -> SingleRun<T> {
    assert_eq!(
        mask.len(),
        network.shape().hidden,
        "one mask flag per hidden unit"
    );
    let working = network.cast::<T>();
    let dropout = dropout.in_precision::<T>();
    let mut workspace = Workspace::new(&working, arithmetic);
    let layout = workspace.layout();
    let active = workspace
        .hidden_before_dropout()
        .iter()
        .map(|&h| h > T::ZERO)
        .collect();
    let values = workspace.run_mask(&working, &dropout, mask);
    SingleRun {
        keep_prob: T::from_f64(dropout.keep_prob.get()),
        mask: mask.to_string(),
        precision: T::PRECISION.name(),
        arithmetic: arithmetic.name(),
        scheme: dropout.scheme.name(),
        loss: values[0],
        output: values[layout.output()..layout.d_output()].to_vec(),
        hidden: values[layout.hidden()..layout.grad_w1()].to_vec(),
        grad_w1: values[layout.grad_w1()..layout.grad_w2()].to_vec(),
        grad_w2: values[layout.grad_w2()..].to_vec(),
        shape: network.shape(),
        active,
        kept: if dropout.is_identity() {
            vec![true; mask.len()]
        } else {
            mask.keep().to_vec()
        },
    }
}

impl<T: Float + Serialize> SingleRun<T> {
    /// The run as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain numbers and strings serialise")
    }

    /// The sentence naming the hidden units (from 1) the gradient flows back through, and why the
    /// others block it.
    pub fn flow_line(&self) -> String {
        let through: Vec<usize> = (0..self.active.len())
            .filter(|&i| self.active[i] && self.kept[i])
            .map(|i| i + 1)
            .collect();
        let mut line = match through.as_slice() {
            [] => "gradients flow back through no hidden unit".to_string(),
            [one] => format!("gradients flow back through hidden unit {one}"),
            many => format!(
                "gradients flow back through hidden units {}",
                join_and(many)
            ),
        };
        for i in 0..self.active.len() {
            if !self.active[i] {
                line.push_str(&format!("; unit {} is inactive (relu input <= 0)", i + 1));
            } else if !self.kept[i] {
                line.push_str(&format!("; unit {} is dropped", i + 1));
            }
        }
        line
    }
}

impl SingleRun<f32> {
    /// The notebook's print lines for this run (numpy float32 at precision 2), then the flow line.
    pub fn to_notebook(&self) -> String {
        let Shape {
            inputs: d,
            hidden: n,
            outputs: k,
        } = self.shape;
        format!(
            "loss= {}\nhidden units= {}\ny_hat= {}\ngrad1= {}\ngrad2= {}\n{}\n",
            format_scalar_f32(self.loss),
            format_array_2d(&self.hidden, 1, n, 2),
            format_array_2d(&self.output, 1, k, 2),
            format_array_2d(&self.grad_w1, d, n, 2),
            format_array_2d(&self.grad_w2, n, k, 2),
            self.flow_line(),
        )
    }
}

/// "1", "1 and 3", "1, 2 and 3".
fn join_and(units: &[usize]) -> String {
    let text: Vec<String> = units.iter().map(usize::to_string).collect();
    match text.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => text.join(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::dropout::Scheme;

    fn tf1(p: KeepProb) -> Dropout {
        Dropout::new(Scheme::Tf1, p)
    }

    #[test]
    fn flow_line_names_kept_active_units() {
        let network = Network::notebook();
        let [(p1, m1), (p2, m2)] = notebook_cases();
        let run1 = run::<f32>(&network, &tf1(p1), &m1, Arithmetic::Plain);
        assert_eq!(
            run1.flow_line(),
            "gradients flow back through hidden units 1 and 3; unit 2 is inactive (relu input <= 0)"
        );
        let run2 = run::<f32>(&network, &tf1(p2), &m2, Arithmetic::Plain);
        assert_eq!(
            run2.flow_line(),
            "gradients flow back through hidden unit 1; unit 2 is inactive (relu input <= 0); \
             unit 3 is dropped"
        );
    }

    #[test]
    fn json_keeps_the_shortest_float32_text() {
        let network = Network::notebook();
        let [_, (p, m)] = notebook_cases();
        let json = run::<f32>(&network, &tf1(p), &m, Arithmetic::Plain).to_json();
        assert_eq!(
            json,
            r#"{"keep_prob":0.5,"mask":"100","precision":"f32","arithmetic":"plain","scheme":"tf1","loss":3.8416002,"output":[0.040000003],"hidden":[0.2,0.0,0.0],"grad_w1":[-1.5680001,0.0,0.0],"grad_w2":[-0.78400004,0.0,0.0]}"#
        );
    }
}
