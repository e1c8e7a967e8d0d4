//! The checks behind dropout-study's fuzz targets, shared by the libFuzzer targets in
//! `fuzz_targets/` and the stable replay driver in `examples/replay.rs`.
//!
//! Each check feeds one input to a parser of user-supplied text and asserts that it returns
//! `Ok` or `Err` without panicking, and that what it accepts is what its documentation promises:
//!
//! - [`network_file`]: the bytes, read as UTF-8 text (invalid sequences replaced), go to
//!   `network_file::parse`, the reader of `--network FILE`. An accepted network has shapes that
//!   chain and finite values, and `check_fits` answers for both precisions.
//! - [`mask`]: the first byte chooses a small unit count (0 to 69), the rest, as UTF-8 text, goes
//!   to `Mask::parse`, the reader of `reproduce --mask`. An accepted mask has one unit per
//!   character and writes back the text it came from.

use std::path::Path;

use dropout_study::dropout::Mask;
use dropout_study::network_file;

/// Parses `data` as a network file; panics only if the parser breaks its promises.
pub fn network_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let path = Path::new("fuzz.json");
    if let Ok(network) = network_file::parse(&text, path) {
        let shape = network.shape();
        assert_eq!(network.x().shape(), (1, shape.inputs));
        assert_eq!(network.w1().shape(), (shape.inputs, shape.hidden));
        assert_eq!(network.w2().shape(), (shape.hidden, shape.outputs));
        assert_eq!(network.y().shape(), (1, shape.outputs));
        for m in [network.x(), network.y(), network.w1(), network.w2()] {
            assert!(m.iter().all(|v| v.is_finite()));
        }
        let _ = network_file::check_fits::<f32>(&network, path);
        assert!(network_file::check_fits::<f64>(&network, path).is_ok());
    }
}

/// The unit counts the mask check tries: small, as a network's hidden layer is.
pub const MAX_UNITS: usize = 69;

/// Parses the rest of `data` as a mask over `data[0] % 70` units; panics only if the parser breaks
/// its promises.
pub fn mask(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let units = usize::from(first) % (MAX_UNITS + 1);
    let text = String::from_utf8_lossy(rest);
    if let Ok(mask) = Mask::parse(&text, units) {
        assert_eq!(mask.len(), units);
        assert_eq!(mask.to_string(), text);
        assert!(mask.kept() <= units);
    }
}
