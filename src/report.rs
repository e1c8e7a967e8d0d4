//! The text a study prints on stdout: a table of every quantity and the finding in plain words.
//!
//! This module owns how results are put into words. It never rounds a gap into a match: a
//! quantity is called *equal* to its no-dropout value only when the exact expectation differs from
//! it by no more than f64 rounding ([`crate::stats::ROUNDING_RELATIVE`]), and every other difference is stated
//! with its size, its relative size and how many of this run's standard errors it spans.

use std::fmt::Write as _;

use crate::stats::QuantitySummary;
use crate::stats::equal_up_to_rounding;

/// How a quantity's exact expectation relates to its no-dropout value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Relation {
    /// Equal up to f64 rounding (the output, `d_output` and hidden units of mean-keeping schemes).
    Equal,
    /// Moved by the dropout penalty (the loss and weight gradients of mean-keeping schemes).
    Penalised,
    /// Moved otherwise (`unscaled` dropout shrinks the expected output by `p`).
    Shifted,
    /// The same in every draw (the inactive unit's quantities): no spread, no test.
    Constant,
}

impl Relation {
    /// The name written to `summary.csv`.
    pub fn name(self) -> &'static str {
        match self {
            Relation::Equal => "equal",
            Relation::Penalised => "penalised",
            Relation::Shifted => "shifted",
            Relation::Constant => "constant",
        }
    }
}

/// Classifies a quantity: `constant` when it never varies (by its exact standard deviation where
/// the masks were enumerated, by the trials' otherwise), `equal` when the exact expectation equals
/// the no-dropout value up to f64 rounding, else `penalised` under a scheme that keeps the mean
/// and `shifted` under one that does not.
pub fn relation(s: &QuantitySummary, scheme_preserves_mean: bool) -> Relation {
    let never_varies = match s.exact_std {
        Some(std) => std == 0.0,
        None => s.moments.std() == Some(0.0),
    };
    if never_varies {
        Relation::Constant
    } else if equal_up_to_rounding(s.expected, s.no_dropout) {
        Relation::Equal
    } else if scheme_preserves_mean {
        Relation::Penalised
    } else {
        Relation::Shifted
    }
}

/// The table: one line per quantity with its no-dropout value, exact expectation, Monte Carlo
/// mean, 95% interval and z against the exact expectation.
pub fn table(summaries: &[QuantitySummary]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:>12} {:>12} {:>12} {:>27} {:>7}",
        "quantity", "no_dropout", "expected", "mean", "95% interval", "z"
    );
    for s in summaries {
        let interval = match s.ci95() {
            Some((lo, hi)) => format!("[{lo:.6}, {hi:.6}]"),
            None => "-".to_string(),
        };
        let z = s
            .z_vs_expected()
            .map_or("-".to_string(), |z| format!("{z:+.2}"));
        let _ = writeln!(
            out,
            "{:<10} {:>12.6} {:>12.6} {:>12.6} {:>27} {:>7}",
            s.quantity, s.no_dropout, s.expected, s.moments.mean, interval, z
        );
    }
    out
}

/// The finding in plain words: where the expectation equals the no-dropout value, where and by
/// how much it differs, and whether the Monte Carlo means agree with the exact expectation.
pub fn finding(
    summaries: &[QuantitySummary],
    scheme_preserves_mean: bool,
    context: &str,
) -> String {
    let trials = summaries.first().map_or(0, |s| s.moments.count);
    let mut out = String::new();
    let _ = writeln!(out, "Finding ({trials} trials, {context}):");
    let by = |r: Relation| -> Vec<&QuantitySummary> {
        summaries
            .iter()
            .filter(|s| relation(s, scheme_preserves_mean) == r)
            .collect()
    };

    // Where the expectation equals the no-dropout value.
    let equal = by(Relation::Equal);
    if !equal.is_empty() {
        let _ = writeln!(
            out,
            "- Equal: E[{}] equal the no-dropout values (exact up to f64 rounding). Dropout \
             keeps the expected forward pass here.",
            names(&equal)
        );
    }

    // Where it differs, and whether this run can see it.
    let differ: Vec<&QuantitySummary> = summaries
        .iter()
        .filter(|s| {
            matches!(
                relation(s, scheme_preserves_mean),
                Relation::Penalised | Relation::Shifted
            )
        })
        .collect();
    if !differ.is_empty() {
        let why = if scheme_preserves_mean {
            "by the dropout penalty and its gradient"
        } else {
            "because this scheme does not rescale the kept units"
        };
        let _ = writeln!(
            out,
            "- Not equal: the expectation differs from the no-dropout value {why}:"
        );
        for s in &differ {
            let gap = s.expected - s.no_dropout;
            let relative = if s.no_dropout != 0.0 {
                format!(" ({:+.3}%)", 100.0 * gap / s.no_dropout.abs())
            } else {
                String::new()
            };
            let seen = match (
                s.moments.std_error(),
                s.trials_to_detect(),
                s.z_vs_no_dropout(),
            ) {
                (Some(se), Some(needed), Some(z)) if se > 0.0 => format!(
                    "; {:.1} standard errors of this run ({needed} trials detect it with power \
                     0.8); this run's mean lies {:.2} standard errors from the no-dropout value",
                    gap.abs() / se,
                    z.abs()
                ),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "    {:<10} E = {:.6} vs {:.6} without dropout: {gap:+.6}{relative}{seen}",
                s.quantity, s.expected, s.no_dropout
            );
        }
    }

    // Monte Carlo against the exact expectation.
    let tested: Vec<(&QuantitySummary, f64)> = summaries
        .iter()
        .filter_map(|s| s.z_vs_expected().map(|z| (s, z)))
        .collect();
    if let Some((worst, z)) = tested.iter().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())) {
        let inside = tested
            .iter()
            .filter(|(s, _)| {
                s.ci95()
                    .is_some_and(|(lo, hi)| lo <= s.expected && s.expected <= hi)
            })
            .count();
        let _ = writeln!(
            out,
            "- Monte Carlo: {inside} of {} 95% intervals contain the exact expectation; the \
             largest |z| against it is {:.2} ({}).",
            tested.len(),
            z.abs(),
            worst.quantity
        );
    }
    let constant = by(Relation::Constant);
    if !constant.is_empty() {
        let _ = writeln!(
            out,
            "- Constant in every trial (no spread, no test): {}.",
            constant
                .iter()
                .map(|s| s.quantity.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    out
}

fn names(summaries: &[&QuantitySummary]) -> String {
    summaries
        .iter()
        .map(|s| s.quantity.as_str())
        .collect::<Vec<_>>()
        .join("], E[")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Moments;

    fn summary(quantity: &str, values: &[f64], no_dropout: f64, expected: f64) -> QuantitySummary {
        let mut moments = Moments::default();
        values.iter().for_each(|&v| moments.push(v));
        QuantitySummary {
            quantity: quantity.into(),
            moments,
            no_dropout,
            expected,
            exact_std: None,
            penalty_gradient: None,
        }
    }

    #[test]
    fn a_one_percent_gap_is_not_called_equal() {
        assert!(!equal_up_to_rounding(-0.792, -0.8));
        assert!(equal_up_to_rounding(0.1 + 0.2, 0.3));
        let text = finding(
            &[
                summary("output", &[0.1, -0.1, 0.2, -0.2], 0.0, 0.0),
                summary("grad_w1_0", &[-0.7, -0.9, -0.8, -0.77], -0.8, -0.792),
                summary("hidden_1", &[0.0, 0.0, 0.0, 0.0], 0.0, 0.0),
            ],
            true,
            "keep_prob 0.5",
        );
        assert!(text.contains("- Equal: E[output] equal"), "{text}");
        assert!(
            text.contains(
                "grad_w1_0  E = -0.792000 vs -0.800000 without dropout: +0.008000 (+1.000%)"
            ),
            "{text}"
        );
        assert!(
            text.contains("Constant in every trial (no spread, no test): hidden_1."),
            "{text}"
        );
        assert!(!text.contains("E[grad_w1_0] equal"), "{text}");
    }
}
