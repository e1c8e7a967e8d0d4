//! `dropout-study`: a seeded Monte Carlo study of inverted dropout on the tiny network of the
//! notebook "Dropout in a minute" (TensorFlow 1.5, float32).
//!
//! The notebook runs one network once without dropout and once with a dropout mask, and shows
//! that gradients flow back only through the kept units. This crate runs the same network over
//! many seeded masks, in parallel and reproducibly, and sets the Monte Carlo means against the
//! exact expectation over masks. Inverted dropout keeps the expected output equal to the
//! no-dropout output exactly; the expected weight gradient does *not* equal the no-dropout
//! gradient: it carries the gradient of the dropout penalty
//! `R = ((1-p)/p) (1/k) sum_ij (h_i w2_ij)^2` (see [`expectation`]).
//!
//! Modules, one concept each:
//! - [`arithmetic`]: the working precision and how matrix-product sums round (TensorFlow's order);
//! - [`network`]: the network, its per-trial quantities and its backpropagation;
//! - [`network_file`]: networks from JSON files;
//! - [`dropout`]: the keep probability, the mask and the dropout schemes (TensorFlow 1.x's first);
//! - [`seeding`]: the seeding contract, where each trial's mask or noise comes from;
//! - [`engine`]: the parallel, deterministic trial loop;
//! - [`stats`]: streaming moments, intervals and z-scores;
//! - [`expectation`]: the exact expectation, by enumeration and in closed form;
//! - [`study`]: a configuration in, results out;
//! - [`shard`]: a run split into shards of its trial range, and their merge;
//! - [`reproduce`]: the notebook's single runs, in its own print format or as JSON;
//! - [`numpy_format`]: numpy's way of printing float32 arrays;
//! - [`export`]: the output files, written atomically;
//! - [`report`]: the table and the finding printed after a study;
//! - [`verify`]: the checks of a results folder against its `run.json` and its own trials.
//!
//! # Example
//! ```
//! use dropout_study::{dropout::KeepProb, network::Network, study};
//! use dropout_study::arithmetic::{Arithmetic, Precision};
//!
//! let config = study::StudyConfig {
//!     trials: 10_000,
//!     keep_prob: KeepProb::new(0.5).unwrap(),
//!     scheme: dropout_study::dropout::Scheme::Tf1,
//!     seed: 0,
//!     run_stream: 0,
//!     precision: Precision::F32,
//!     arithmetic: Arithmetic::Plain,
//! };
//! let result = study::run(&Network::notebook(), &config, None, &|_| {}).unwrap();
//! let grad_w1_0 = &result.summaries[6];
//! assert_eq!(grad_w1_0.quantity, "grad_w1_0");
//! // The exact expectation is -0.792, not the no-dropout gradient -0.8.
//! assert!((grad_w1_0.expected + 0.792).abs() < 1e-6);
//! ```

#![deny(missing_docs)]

pub mod arithmetic;
pub mod dropout;
pub mod engine;
pub mod expectation;
pub mod export;
pub mod network;
pub mod network_file;
pub mod numpy_format;
pub mod report;
pub mod reproduce;
pub mod seeding;
pub mod shard;
pub mod stats;
pub mod study;
pub mod verify;
