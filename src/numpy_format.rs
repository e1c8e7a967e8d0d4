//! Text of `float32` values exactly as numpy prints them, so that the study can print the very
//! lines the notebook printed after `np.set_printoptions(precision=2)`, such as
//! `print("grad1=", grad1)`, and compare them byte for byte.
//!
//! This module owns that rendering and nothing else: the exact decimal digits of an `f32`
//! (numpy's Dragon4 rules for shortest digits, cut-offs and rounding), the choice between
//! positional and scientific notation, the padding that lines array elements up in columns, and
//! numpy's brackets, rows, line wrapping and summarising of large arrays.
//!
//! # Which numpy
//!
//! The rules are those of numpy 1.21 to 1.26 with default print options except `precision`.
//! Other releases print the same text except in these corners:
//!
//! - numpy 2.0 to 2.2 compare an array's smallest non-zero magnitude with `1e-4` in `f32`, so an
//!   array whose smallest magnitude is exactly `f32` `0.0001` prints positionally there and in
//!   scientific notation here (numpy 1.x compares in `f64`);
//! - numpy 2.3 and later switch `f32` arrays to scientific notation from a largest magnitude of
//!   `1e6` (here `1e8`) and `f32` scalars from `1e6` (here `1e16`);
//! - numpy 1.14 to 1.20 (not run here: no build of them installs on this machine's Python) had
//!   no minimum digit count for array elements; by their source they print the integer digits of
//!   positional elements of `2^24` or more as shortest digits followed by zeros (`99999990.`),
//!   where numpy 1.21 and later print them exactly (`99999992.`).

use std::cmp::Ordering;

/// Magnitude from which an `f32` array switches to scientific notation.
const ARRAY_SCIENTIFIC_FROM: f64 = 1e8;
/// Smallest non-zero magnitude an array may hold and still print positionally.
const ARRAY_POSITIONAL_MIN: f64 = 1e-4;
/// Largest ratio of largest to smallest non-zero magnitude that still prints positionally.
const ARRAY_POSITIONAL_MAX_RATIO: f32 = 1000.0;
/// Magnitude from which an `f32` scalar prints in scientific notation.
const SCALAR_SCIENTIFIC_FROM: f64 = 1e16;
/// Magnitude below which a non-zero `f32` scalar prints in scientific notation.
const SCALAR_POSITIONAL_MIN: f64 = 1e-4;
/// numpy's default `linewidth`.
const LINE_WIDTH: usize = 75;
/// numpy's default `threshold`: arrays with more elements than this are summarised.
const SUMMARY_THRESHOLD: usize = 1000;
/// numpy's default `edgeitems`: elements kept at each end of a summarised axis.
const EDGE_ITEMS: usize = 3;

/// Formats a 2-D array of f32 (given row-major as `values` with `rows` x `cols`) the way numpy's
/// `str(array)` does with the given `precision` and otherwise default print options
/// (floatmode 'maxprec', suppress=False, sign '-', separator ' ', linewidth 75).
///
/// Rows are wrapped at 75 columns and arrays of more than 1000 elements are summarised with
/// `...` (3 items kept at each end of a long axis), both as numpy does. An array with no element
/// prints as `[]`. See the module documentation for the numpy releases this text matches.
///
/// # Panics
///
/// If `values.len()` is not `rows * cols`.
pub fn format_array_2d(values: &[f32], rows: usize, cols: usize, precision: usize) -> String {
    assert_eq!(
        values.len(),
        rows * cols,
        "format_array_2d: {} values cannot fill {rows} x {cols}",
        values.len()
    );
    if values.is_empty() {
        return "[]".to_string();
    }
    let precision = u32::try_from(precision).unwrap_or(u32::MAX);

    // Corners that numpy keeps when the array is summarised (`None` stands for the `...`).
    let summarise = values.len() > SUMMARY_THRESHOLD;
    let row_ids = kept_indices(rows, summarise);
    let col_ids = kept_indices(cols, summarise);
    let kept: Vec<f32> = row_ids
        .iter()
        .flatten()
        .flat_map(|&r| col_ids.iter().flatten().map(move |&c| values[r * cols + c]))
        .collect();

    // One rendering rule for every element, chosen from the kept elements only.
    let style = ElementStyle::new(&kept, precision);

    // Rows, each wrapped at the line width, stacked one per line.
    let row_texts: Vec<String> = row_ids
        .iter()
        .map(|row| match row {
            None => "...".to_string(),
            Some(r) => {
                let words = col_ids.iter().map(|col| match col {
                    None => "...".to_string(),
                    Some(c) => style.format(values[r * cols + c]),
                });
                wrap_row(words)
            }
        })
        .collect();
    format!("[{}]", row_texts.join("\n "))
}

/// Formats one float32 scalar the way `str(np.float32(x))` does (numpy >= 1.14): the shortest
/// text that reads back to the same f32, positional (with ".0" for integers) when 1e-4 <= |x| < 1e16
/// or x == 0, scientific otherwise ("8.1956386e-10", "1e-05"), "nan", "inf", "-inf".
///
/// Negative zero prints as `-0.0`. numpy 2.3 and later already use scientific notation from
/// `1e6` (see the module documentation).
pub fn format_scalar_f32(x: f32) -> String {
    if x.is_nan() {
        return "nan".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let magnitude = f64::from(x.abs());
    if magnitude == 0.0 || (SCALAR_POSITIONAL_MIN..SCALAR_SCIENTIFIC_FROM).contains(&magnitude) {
        render_positional(x, None, None, Trim::LeaveOneZero, None, None)
    } else {
        render_scientific(x, None, None, Trim::DotAndZeros, None, None)
    }
}

/// Indices kept along one axis of `len` items; `None` marks where numpy writes `...`.
fn kept_indices(len: usize, summarise: bool) -> Vec<Option<usize>> {
    if summarise && len > 2 * EDGE_ITEMS {
        (0..EDGE_ITEMS)
            .map(Some)
            .chain(std::iter::once(None))
            .chain((len - EDGE_ITEMS..len).map(Some))
            .collect()
    } else {
        (0..len).map(Some).collect()
    }
}

/// Joins the words of one row with single spaces inside `[` and `]`, starting a new line indented
/// by two spaces before a word that would pass the line width, as numpy does for the last axis of
/// a 2-D array.
fn wrap_row(words: impl ExactSizeIterator<Item = String>) -> String {
    const INDENT: &str = "  ";
    // The outer `[` and this row's `]` each take one column off numpy's line width.
    let width = LINE_WIDTH - 2;
    let count = words.len();
    let mut text = String::new();
    let mut line = INDENT.to_string();
    for (i, word) in words.enumerate() {
        if line.len() + word.len() > width && line.len() > INDENT.len() {
            text.push_str(line.trim_end());
            text.push('\n');
            line = INDENT.to_string();
        }
        line.push_str(&word);
        if i + 1 < count {
            line.push(' ');
        }
    }
    text.push_str(&line);
    format!("[{}]", &text[INDENT.len()..])
}

/// How every element of one array is rendered: the notation, digit counts and paddings numpy's
/// `FloatingFormat` settles on after looking at all the (kept) elements.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ElementStyle {
    /// Scientific rather than positional notation.
    scientific: bool,
    /// Positional: most fractional digits. Scientific: exact digits after the point.
    precision: u32,
    /// Width of the part before the point, sign included.
    pad_left: usize,
    /// Positional: width after the point. Scientific: `exp_digits + 2 + precision`, which numpy
    /// uses only to pad `nan` and `inf`.
    pad_right: usize,
    /// Scientific: least number of exponent digits.
    exp_digits: usize,
}

impl ElementStyle {
    /// Chooses the style for an array holding `values` printed with `precision`.
    fn new(values: &[f32], precision: u32) -> Self {
        let finite: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();

        // Notation, from the non-zero finite magnitudes.
        let mut magnitudes = finite.iter().map(|v| v.abs()).filter(|&v| v != 0.0);
        let scientific = match magnitudes.next() {
            None => false,
            Some(first) => {
                let (min, max) =
                    magnitudes.fold((first, first), |(lo, hi), v| (lo.min(v), hi.max(v)));
                f64::from(max) >= ARRAY_SCIENTIFIC_FROM
                    || f64::from(min) < ARRAY_POSITIONAL_MIN
                    || max / min > ARRAY_POSITIONAL_MAX_RATIO
            }
        };

        // Widths, from a first rendering of every finite element.
        let mut style = ElementStyle {
            scientific,
            precision,
            pad_left: 0,
            pad_right: 0,
            exp_digits: 2,
        };
        if scientific {
            let mut digits_after_point = 0;
            let mut exp_digits = 0;
            for &v in &finite {
                let text = render_scientific(v, Some(precision), None, Trim::Zeros, None, None);
                let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, ""));
                let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
                style.pad_left = style.pad_left.max(whole.len());
                digits_after_point = digits_after_point.max(fraction.len());
                exp_digits = exp_digits.max(exponent.len().saturating_sub(1));
            }
            style.precision = u32::try_from(digits_after_point).unwrap_or(u32::MAX);
            style.exp_digits = exp_digits;
            style.pad_right = exp_digits + 2 + digits_after_point;
        } else {
            for &v in &finite {
                let text = render_positional(v, Some(precision), None, Trim::Zeros, None, None);
                let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
                style.pad_left = style.pad_left.max(whole.len());
                style.pad_right = style.pad_right.max(fraction.len());
            }
        }

        // Room for `nan`, `inf` and `-inf` in the same column width.
        if finite.len() != values.len() {
            let neg_inf = values.contains(&f32::NEG_INFINITY);
            let after_point = style.pad_right + 1;
            let widest = 3 + usize::from(neg_inf);
            style.pad_left = style.pad_left.max(widest.saturating_sub(after_point));
        }
        style
    }

    /// Renders one element in this style.
    fn format(&self, x: f32) -> String {
        if !x.is_finite() {
            let word = if x.is_nan() {
                "nan"
            } else if x > 0.0 {
                "inf"
            } else {
                "-inf"
            };
            let width = self.pad_left + self.pad_right + 1;
            return format!("{word:>width$}");
        }
        if self.scientific {
            render_scientific(
                x,
                Some(self.precision),
                Some(self.precision),
                Trim::Keep,
                Some(self.pad_left),
                Some(self.exp_digits),
            )
        } else {
            render_positional(
                x,
                Some(self.precision),
                Some(0),
                Trim::Zeros,
                Some(self.pad_left),
                Some(self.pad_right),
            )
        }
    }
}

/// What happens to trailing zeros and the point; numpy's `trim` letters in brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trim {
    /// Keep trailing zeros and pad with zeros to the minimum digit count (`'k'`).
    Keep,
    /// Remove trailing zeros, keep the point (`'.'`): `1.`.
    Zeros,
    /// Remove trailing zeros but leave one after the point (`'0'`): `1.0`.
    LeaveOneZero,
    /// Remove trailing zeros and a point left last (`'-'`): `1`.
    DotAndZeros,
}

/// Renders a finite `x` in positional notation with at most `max_fraction` and at least
/// `min_fraction` digits after the point (`None`: as many as the shortest round-trip digits
/// need), padded with spaces to `pad_left` characters before the point and `pad_right` after it.
fn render_positional(
    x: f32,
    max_fraction: Option<u32>,
    min_fraction: Option<u32>,
    trim: Trim,
    pad_left: Option<usize>,
    pad_right: Option<usize>,
) -> String {
    let sign = if x.is_sign_negative() { "-" } else { "" };
    let decimal = Decimal::of(
        x.abs(),
        Limits {
            count: Count::Fraction,
            max: max_fraction,
            min: min_fraction,
        },
    );

    // Digits before and after the point.
    let digit_text: String = decimal
        .digits
        .iter()
        .map(|&d| char::from(b'0' + d))
        .collect();
    let (whole, mut fraction) = match usize::try_from(decimal.exponent) {
        Ok(e) => {
            let whole_len = e + 1;
            if digit_text.len() <= whole_len {
                (format!("{digit_text:0<whole_len$}"), String::new())
            } else {
                let (w, f) = digit_text.split_at(whole_len);
                (w.to_string(), f.to_string())
            }
        }
        Err(_) => {
            let zeros = usize::try_from(-decimal.exponent - 1).unwrap_or(0);
            ("0".to_string(), "0".repeat(zeros) + &digit_text)
        }
    };

    // Trailing zeros and the point.
    if trim == Trim::Keep {
        let wanted = min_fraction.map_or(0, |m| m as usize);
        while fraction.len() < wanted {
            fraction.push('0');
        }
    } else {
        fraction.truncate(fraction.trim_end_matches('0').len());
    }
    if trim == Trim::LeaveOneZero && fraction.is_empty() {
        fraction.push('0');
    }
    let point = if trim == Trim::DotAndZeros && fraction.is_empty() {
        ""
    } else {
        "."
    };

    // Padding with spaces on either side.
    let mut text = format!("{sign}{whole}{point}{fraction}");
    if let Some(right) = pad_right.filter(|&r| r >= fraction.len()) {
        if point.is_empty() {
            text.push(' ');
        }
        text.push_str(&" ".repeat(right - fraction.len()));
    }
    let used = sign.len() + whole.len();
    match pad_left {
        Some(left) if left > used => " ".repeat(left - used) + &text,
        _ => text,
    }
}

/// Renders a finite `x` in scientific notation with at most `max_fraction` and at least
/// `min_fraction` digits after the point (`None`: as many as the shortest round-trip digits
/// need), padded with spaces to `pad_left` characters before the point and with at least
/// `exp_digits` (default 2, at most 5) exponent digits.
fn render_scientific(
    x: f32,
    max_fraction: Option<u32>,
    min_fraction: Option<u32>,
    trim: Trim,
    pad_left: Option<usize>,
    exp_digits: Option<usize>,
) -> String {
    let sign = if x.is_sign_negative() { "-" } else { "" };
    let decimal = Decimal::of(
        x.abs(),
        Limits {
            count: Count::Total,
            max: max_fraction.map(|p| p.saturating_add(1)),
            min: min_fraction.map(|m| m.saturating_add(1)),
        },
    );

    // Leading spaces, sign and the digit before the point.
    let mut text = String::new();
    let used = 1 + sign.len();
    if let Some(left) = pad_left.filter(|&l| l > used) {
        text.push_str(&" ".repeat(left - used));
    }
    text.push_str(sign);
    text.push(char::from(b'0' + decimal.digits[0]));

    // Digits after the point, then trailing zeros and the point.
    let mut fraction: String = decimal.digits[1..]
        .iter()
        .map(|&d| char::from(b'0' + d))
        .collect();
    let had_fraction = !fraction.is_empty();
    match trim {
        Trim::Keep => {
            let wanted = min_fraction.map_or(0, |m| m as usize);
            while fraction.len() < wanted {
                fraction.push('0');
            }
        }
        Trim::Zeros | Trim::LeaveOneZero | Trim::DotAndZeros => {
            fraction.truncate(fraction.trim_end_matches('0').len());
        }
    }
    if trim == Trim::LeaveOneZero && fraction.is_empty() {
        fraction.push('0');
    }
    // numpy drops the point only when there never were digits after it.
    if trim != Trim::DotAndZeros || had_fraction {
        text.push('.');
    }
    text.push_str(&fraction);

    // Exponent.
    let width = exp_digits.unwrap_or(2).min(5);
    let exp_sign = if decimal.exponent < 0 { '-' } else { '+' };
    let magnitude = decimal.exponent.unsigned_abs();
    text.push_str(&format!("e{exp_sign}{magnitude:0width$}"));
    text
}

/// How the digit limits of [`Limits`] are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Count {
    /// Digits after the decimal point.
    Fraction,
    /// Significant digits.
    Total,
}

/// Limits on the digits produced for one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limits {
    /// How `max` and `min` count.
    count: Count,
    /// Stop after this many digits, rounding the exact value at the last one.
    max: Option<u32>,
    /// Go on to at least this many digits even once the digits identify the value.
    min: Option<u32>,
}

/// Decimal digits of a non-negative value: `d0.d1d2... x 10^exponent`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decimal {
    /// Digits, most significant first, each in `0..=9`; `[0]` for zero.
    digits: Vec<u8>,
    /// Power of ten of the first digit.
    exponent: i32,
}

impl Decimal {
    /// Digits of the finite, non-negative `x` as numpy's Dragon4 produces them in its "unique"
    /// mode: digits of the exact value until they identify `x` among its `f32` neighbours (with
    /// the interval ends included when the significand is even), stopping early at `limits.max`
    /// and not before `limits.min`; the last digit is rounded to the nearer side of the exact
    /// remainder, a tie going to the even digit.
    fn of(x: f32, limits: Limits) -> Decimal {
        // Significand and power of two.
        let bits = x.to_bits() & 0x7fff_ffff;
        let field = bits >> 23;
        let low_bits = bits & 0x007f_ffff;
        let (significand, exp2, unequal_gaps) = if field == 0 {
            (low_bits, -149, false)
        } else {
            let exp2 = i32::try_from(field).unwrap_or(0) - 150;
            (low_bits | 0x0080_0000, exp2, field != 1 && low_bits == 0)
        };
        if significand == 0 {
            return Decimal {
                digits: vec![0],
                exponent: 0,
            };
        }
        let even = significand % 2 == 0;

        // Exact value = value / scale, and half the gaps to the neighbours, all times 4 so they
        // are integers (the gap below a power of two is half the gap above it).
        let mut value = BigUint::from_u64(u64::from(significand) << 2);
        let mut scale = BigUint::from_u64(4);
        let mut margin_high = BigUint::from_u64(2);
        let mut margin_low = BigUint::from_u64(if unequal_gaps { 1 } else { 2 });
        if exp2 >= 0 {
            let shift = exp2.unsigned_abs();
            value.shl(shift);
            margin_high.shl(shift);
            margin_low.shl(shift);
        } else {
            scale.shl(exp2.unsigned_abs());
        }

        // Power of ten k with 10^(k-1) <= x < 10^k, then value / scale = x / 10^k.
        let mut k = f64::from(x).log10().floor() as i32 + 1;
        if k >= 0 {
            scale.mul_pow10(k.unsigned_abs());
        } else {
            for big in [&mut value, &mut margin_low, &mut margin_high] {
                big.mul_pow10(k.unsigned_abs());
            }
        }
        while value >= scale {
            scale.mul_small(10);
            k += 1;
        }
        loop {
            let mut tenfold = value.clone();
            tenfold.mul_small(10);
            if tenfold >= scale {
                break;
            }
            value = tenfold;
            margin_low.mul_small(10);
            margin_high.mul_small(10);
            k -= 1;
        }

        // A value below the last allowed fractional place starts at that place (with digit 0).
        if let (Count::Fraction, Some(max)) = (limits.count, limits.max) {
            let first_allowed = 1 - i32::try_from(max).unwrap_or(i32::MAX);
            if k < first_allowed {
                scale.mul_pow10((first_allowed - k).unsigned_abs());
                k = first_allowed;
            }
        }

        // Powers of ten of the last digit allowed and of the first digit allowed to stop at.
        let to_i32 = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        let last_exp = match (limits.count, limits.max) {
            (_, None) => i32::MIN,
            (Count::Fraction, Some(n)) => -to_i32(n),
            (Count::Total, Some(n)) => k.saturating_sub(to_i32(n.max(1))),
        };
        let stop_exp = match (limits.count, limits.min) {
            (_, None) => k,
            (Count::Fraction, Some(n)) => k.min(-to_i32(n)),
            (Count::Total, Some(n)) => k.saturating_sub(to_i32(n)),
        };

        // Digits, one power of ten at a time.
        let mut digits = Vec::new();
        let mut exp = k;
        let (digit, low, high) = loop {
            exp -= 1;
            value.mul_small(10);
            margin_low.mul_small(10);
            margin_high.mul_small(10);
            let mut digit = 0u8;
            while value >= scale {
                value.sub_assign(&scale);
                digit += 1;
            }
            let low = match value.cmp(&margin_low) {
                Ordering::Less => true,
                Ordering::Equal => even,
                Ordering::Greater => false,
            };
            let high = match value.add(&margin_high).cmp(&scale) {
                Ordering::Greater => true,
                Ordering::Equal => even,
                Ordering::Less => false,
            };
            if ((low || high) && exp <= stop_exp) || exp <= last_exp {
                break (digit, low, high);
            }
            digits.push(digit);
        };

        // Round the last digit: towards the only side still inside the gaps, else to the nearer
        // side of the exact remainder, a tie to the even digit.
        let round_up = if low != high {
            high
        } else {
            let mut twice = value;
            twice.mul_small(2);
            match twice.cmp(&scale) {
                Ordering::Less => false,
                Ordering::Greater => true,
                Ordering::Equal => digit % 2 == 1,
            }
        };
        let mut first_exp = k - 1;
        if !round_up {
            digits.push(digit);
        } else if digit < 9 {
            digits.push(digit + 1);
        } else {
            loop {
                match digits.pop() {
                    None => {
                        digits.push(1);
                        first_exp += 1;
                        break;
                    }
                    Some(9) => {}
                    Some(d) => {
                        digits.push(d + 1);
                        break;
                    }
                }
            }
        }
        Decimal {
            digits,
            exponent: first_exp,
        }
    }
}

/// Unsigned integer of any size, just what [`Decimal::of`] needs: 32-bit limbs, least
/// significant first, without zero limbs at the top (zero has no limb).
#[derive(Debug, Clone, PartialEq, Eq)]
struct BigUint {
    limbs: Vec<u32>,
}

impl BigUint {
    /// The integer `v`.
    fn from_u64(v: u64) -> BigUint {
        let mut big = BigUint {
            limbs: vec![v as u32, (v >> 32) as u32],
        };
        big.trim();
        big
    }

    /// Drops zero limbs at the top.
    fn trim(&mut self) {
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
    }

    /// `self *= factor`.
    fn mul_small(&mut self, factor: u32) {
        let mut carry = 0u64;
        for limb in &mut self.limbs {
            let product = u64::from(*limb) * u64::from(factor) + carry;
            *limb = product as u32;
            carry = product >> 32;
        }
        if carry != 0 {
            self.limbs.push(carry as u32);
        }
        self.trim();
    }

    /// `self *= 10^power`.
    fn mul_pow10(&mut self, power: u32) {
        let mut left = power;
        while left >= 9 {
            self.mul_small(1_000_000_000);
            left -= 9;
        }
        if left > 0 {
            self.mul_small(10u32.pow(left));
        }
    }

    /// `self <<= bits`.
    fn shl(&mut self, bits: u32) {
        if self.limbs.is_empty() {
            return;
        }
        let whole = (bits / 32) as usize;
        let part = bits % 32;
        if part != 0 {
            let mut carry = 0u32;
            for limb in &mut self.limbs {
                let next = *limb >> (32 - part);
                *limb = (*limb << part) | carry;
                carry = next;
            }
            if carry != 0 {
                self.limbs.push(carry);
            }
        }
        self.limbs.splice(0..0, std::iter::repeat_n(0, whole));
    }

    /// `self + other`.
    fn add(&self, other: &BigUint) -> BigUint {
        let len = self.limbs.len().max(other.limbs.len());
        let mut limbs = Vec::with_capacity(len + 1);
        let mut carry = 0u64;
        for i in 0..len {
            let a = u64::from(self.limbs.get(i).copied().unwrap_or(0));
            let b = u64::from(other.limbs.get(i).copied().unwrap_or(0));
            let sum = a + b + carry;
            limbs.push(sum as u32);
            carry = sum >> 32;
        }
        if carry != 0 {
            limbs.push(carry as u32);
        }
        BigUint { limbs }
    }

    /// `self -= other`, for `other <= self`.
    fn sub_assign(&mut self, other: &BigUint) {
        let mut borrow = 0i64;
        for (i, limb) in self.limbs.iter_mut().enumerate() {
            let b = i64::from(other.limbs.get(i).copied().unwrap_or(0));
            let mut diff = i64::from(*limb) - b - borrow;
            borrow = 0;
            if diff < 0 {
                diff += 1 << 32;
                borrow = 1;
            }
            *limb = diff as u32;
        }
        debug_assert_eq!(borrow, 0, "BigUint::sub_assign would go below zero");
        self.trim();
    }
}

impl PartialOrd for BigUint {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for BigUint {
    fn cmp(&self, other: &Self) -> Ordering {
        self.limbs
            .len()
            .cmp(&other.limbs.len())
            .then_with(|| self.limbs.iter().rev().cmp(other.limbs.iter().rev()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notebook_cells() {
        assert_eq!(
            format_array_2d(&[0.1, 0.0, 0.2], 1, 3, 2),
            "[[0.1 0.  0.2]]"
        );
        assert_eq!(format_array_2d(&[0.0], 1, 1, 2), "[[0.]]");
        assert_eq!(
            format_array_2d(&[-0.8, 0.0, 0.4], 1, 3, 2),
            "[[-0.8  0.   0.4]]"
        );
        assert_eq!(
            format_array_2d(&[-0.4, 0.0, -0.8], 3, 1, 2),
            "[[-0.4]\n [ 0. ]\n [-0.8]]"
        );
        assert_eq!(
            format_array_2d(&[0.2, 0.0, 0.0], 1, 3, 2),
            "[[0.2 0.  0. ]]"
        );
        assert_eq!(format_array_2d(&[0.040000003], 1, 1, 2), "[[0.04]]");
        assert_eq!(
            format_array_2d(&[-1.5680001, 0.0, 0.0], 1, 3, 2),
            "[[-1.57  0.    0.  ]]"
        );
        assert_eq!(
            format_array_2d(&[-0.78400004, 0.0, 0.0], 3, 1, 2),
            "[[-0.78]\n [ 0.  ]\n [ 0.  ]]"
        );
        assert_eq!(format_scalar_f32(4.0), "4.0");
        assert_eq!(format_scalar_f32(3.8416002), "3.8416002");
    }

    /// `i / 7` for `i` in `0..n`, divided in `f64` and rounded to `f32` as numpy builds them.
    fn sevenths(n: usize) -> Vec<f32> {
        (0..n).map(|i| (i as f64 / 7.0) as f32).collect()
    }

    // Expected strings printed by numpy 1.26.4 (`str(np.array(values, dtype=np.float32)
    // .reshape(rows, cols))` under `np.printoptions(precision=...)`); numpy 2.2.6 prints the same
    // except where a comment says otherwise.
    #[test]
    fn arrays_match_numpy() {
        let nan = f32::NAN;
        let inf = f32::INFINITY;
        let cases: &[(&[f32], usize, usize, usize, &str)] = &[
            // Exact ties at the cut go to the even digit; near-ties follow the exact value.
            (
                &[0.125, 0.375, 0.625, 0.875],
                1,
                4,
                2,
                "[[0.12 0.38 0.62 0.88]]",
            ),
            (
                &[0.245, 0.285, 0.135, 0.145],
                1,
                4,
                2,
                "[[0.25 0.28 0.14 0.14]]",
            ),
            (&[0.5, 1.5, 2.5, -2.5], 1, 4, 0, "[[ 0.  2.  2. -2.]]"),
            (
                &[0.001, 0.004, 0.005, 0.006],
                1,
                4,
                2,
                "[[0.   0.   0.   0.01]]",
            ),
            (
                &[9.995, 99.996, -0.999],
                1,
                3,
                2,
                "[[  9.99 100.    -1.  ]]",
            ),
            // Negative zero.
            (&[-0.0, 0.0, 1.0], 1, 3, 2, "[[-0.  0.  1.]]"),
            (&[-0.0], 1, 1, 2, "[[-0.]]"),
            // nan and inf take the column width.
            (&[nan, 1.0, -0.5], 1, 3, 2, "[[ nan  1.  -0.5]]"),
            (&[inf, -inf, nan], 1, 3, 2, "[[ inf -inf  nan]]"),
            (&[nan, inf], 2, 1, 2, "[[nan]\n [inf]]"),
            // Scientific notation.
            (
                &[8.1956386e-10, 0.0, -0.4],
                1,
                3,
                2,
                "[[ 8.2e-10  0.0e+00 -4.0e-01]]",
            ),
            (
                &[8.1956386e-10, 0.0, -0.4],
                3,
                1,
                2,
                "[[ 8.2e-10]\n [ 0.0e+00]\n [-4.0e-01]]",
            ),
            (
                &[1e-5, 1.23e-5, nan],
                1,
                3,
                2,
                "[[1.00e-05 1.23e-05      nan]]",
            ),
            (
                &[3.0e-7, -2.5e12, -inf],
                1,
                3,
                3,
                "[[ 3.0e-07 -2.5e+12     -inf]]",
            ),
            (&[1e8, 1.0], 1, 2, 2, "[[1.e+08 1.e+00]]"),
            // numpy 2.x compares with 1e-4 in f32 and prints "[[0. 0.]]".
            (&[1e-4, 1e-3], 1, 2, 2, "[[1.e-04 1.e-03]]"),
            (&[123456.78, 1000.0], 1, 2, 2, "[[123456.78   1000.  ]]"),
        ];
        for &(values, rows, cols, precision, expected) in cases {
            assert_eq!(
                format_array_2d(values, rows, cols, precision),
                expected,
                "{values:?} as {rows} x {cols} at precision {precision}"
            );
        }
    }

    // Expected strings printed by numpy 1.26.4 and 2.2.6.
    #[test]
    fn long_rows_wrap_and_large_arrays_summarise() {
        assert_eq!(
            format_array_2d(&sevenths(30), 1, 30, 2),
            "[[0.   0.14 0.29 0.43 0.57 0.71 0.86 1.   1.14 1.29 1.43 1.57 1.71 1.86\n  \
             2.   2.14 2.29 2.43 2.57 2.71 2.86 3.   3.14 3.29 3.43 3.57 3.71 3.86\n  \
             4.   4.14]]"
        );
        assert_eq!(
            format_array_2d(&sevenths(60), 3, 20, 4),
            "[[0.     0.1429 0.2857 0.4286 0.5714 0.7143 0.8571 1.     1.1429 1.2857\n  \
             1.4286 1.5714 1.7143 1.8571 2.     2.1429 2.2857 2.4286 2.5714 2.7143]\n \
             [2.8571 3.     3.1429 3.2857 3.4286 3.5714 3.7143 3.8571 4.     4.1429\n  \
             4.2857 4.4286 4.5714 4.7143 4.8571 5.     5.1429 5.2857 5.4286 5.5714]\n \
             [5.7143 5.8571 6.     6.1429 6.2857 6.4286 6.5714 6.7143 6.8571 7.\n  \
             7.1429 7.2857 7.4286 7.5714 7.7143 7.8571 8.     8.1429 8.2857 8.4286]]"
        );
        let counting: Vec<f32> = (0..1600u16).map(f32::from).collect();
        assert_eq!(
            format_array_2d(&counting[..1200], 1, 1200, 2),
            "[[0.0e+00 1.0e+00 2.0e+00 ... 1.2e+03 1.2e+03 1.2e+03]]"
        );
        assert_eq!(
            format_array_2d(&counting, 40, 40, 2),
            "[[0.00e+00 1.00e+00 2.00e+00 ... 3.70e+01 3.80e+01 3.90e+01]\n \
             [4.00e+01 4.10e+01 4.20e+01 ... 7.70e+01 7.80e+01 7.90e+01]\n \
             [8.00e+01 8.10e+01 8.20e+01 ... 1.17e+02 1.18e+02 1.19e+02]\n \
             ...\n \
             [1.48e+03 1.48e+03 1.48e+03 ... 1.52e+03 1.52e+03 1.52e+03]\n \
             [1.52e+03 1.52e+03 1.52e+03 ... 1.56e+03 1.56e+03 1.56e+03]\n \
             [1.56e+03 1.56e+03 1.56e+03 ... 1.60e+03 1.60e+03 1.60e+03]]"
        );
    }

    // Expected strings printed by numpy 1.26.4 and 2.2.6 (`str(np.float32(x))`).
    #[test]
    fn scalars_match_numpy() {
        let cases: &[(f32, &str)] = &[
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (0.3, "0.3"),
            (1e-4, "1e-04"),
            (9.9999e-5, "9.9999e-05"),
            (1e-5, "1e-05"),
            (8.1956386e-10, "8.1956386e-10"),
            (123456789.0, "123456790.0"),
            (16777216.0, "16777216.0"),
            (1e7, "10000000.0"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (f32::MAX, "3.4028235e+38"),
            (1e-45, "1e-45"),
            (f32::NAN, "nan"),
            (f32::INFINITY, "inf"),
            (f32::NEG_INFINITY, "-inf"),
        ];
        for &(x, expected) in cases {
            assert_eq!(format_scalar_f32(x), expected, "{x:e}");
        }
    }

    #[test]
    fn empty_array_prints_brackets() {
        assert_eq!(format_array_2d(&[], 0, 3, 2), "[]");
    }

    #[test]
    #[should_panic(expected = "cannot fill")]
    fn wrong_length_panics() {
        let _ = format_array_2d(&[1.0, 2.0], 1, 3, 2);
    }
}
