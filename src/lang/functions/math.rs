//! Numeric functions: `abs`, `ceil`, `floor`, `log`, `pow`, `signum`, `parseint`, `sum`.

use super::{fail, integer_arg, items_arg, number_arg, string_arg, FnContext, FnError};
use hive_sdk::Value;

fn number(n: f64) -> Result<Value, FnError> {
    if n.is_finite() {
        Ok(Value::Number(n))
    } else {
        Err(fail(None, "the result is not a finite number"))
    }
}

pub(super) fn abs(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    number(number_arg("abs", &args, 0)?.abs())
}

pub(super) fn ceil(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    number(number_arg("ceil", &args, 0)?.ceil())
}

pub(super) fn floor(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    number(number_arg("floor", &args, 0)?.floor())
}

/// `signum(number)` of a whole number (Terraform refuses fractions).
pub(super) fn signum(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let n = integer_arg("signum", &args, 0)?;
    Ok(Value::Number(n.signum() as f64))
}

/// `log(number, base)`.
pub(super) fn log(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let n = number_arg("log", &args, 0)?;
    let base = number_arg("log", &args, 1)?;
    number(n.ln() / base.ln())
}

pub(super) fn pow(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let n = number_arg("pow", &args, 0)?;
    let power = number_arg("pow", &args, 1)?;
    number(n.powf(power))
}

/// `parseint(string, base)`: a whole number written in `base` (2 to 62: digits, then
/// lowercase, then uppercase letters past 36), with an optional sign.
pub(super) fn parseint(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("parseint", &args, 0)?;
    let base = integer_arg("parseint", &args, 1)?;
    if !(2..=62).contains(&base) {
        return Err(fail(
            Some(1),
            "parseint: the base must be a whole number between 2 and 62 inclusive",
        ));
    }
    let bad = || {
        fail(
            Some(0),
            format!("parseint: cannot parse {text:?} as a base {base} integer"),
        )
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(&text)),
    };
    if digits.is_empty() {
        return Err(bad());
    }
    let mut value: u128 = 0;
    for c in digits.chars() {
        let d = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'a'..='z' => c as u32 - 'a' as u32 + 10,
            'A'..='Z' if base <= 36 => c as u32 - 'A' as u32 + 10,
            'A'..='Z' => c as u32 - 'A' as u32 + 36,
            _ => return Err(bad()),
        };
        if i64::from(d) >= base {
            return Err(bad());
        }
        value = value
            .checked_mul(base as u128)
            .and_then(|v| v.checked_add(u128::from(d)))
            .ok_or_else(|| fail(Some(0), format!("parseint: {text:?} is too large")))?;
    }
    let n = value as f64;
    Ok(Value::Number(if negative { -n } else { n }))
}

/// `sum(list)`: of a non-empty list or set of numbers.
pub(super) fn sum(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let items = items_arg("sum", &args, 0)?;
    if items.is_empty() {
        return Err(fail(Some(0), "sum: cannot sum an empty list"));
    }
    let mut total = 0.0;
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::Number(n) => total += n,
            Value::String(s) => {
                total += s.trim().parse::<f64>().map_err(|_| {
                    fail(Some(0), format!("sum: element {i} is not a number: {s:?}"))
                })?
            }
            other => {
                return Err(fail(
                    Some(0),
                    format!(
                        "sum: element {i} must be a number, got {}",
                        other.type_name()
                    ),
                ))
            }
        }
    }
    number(total)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call_fn, n, s};
    use hive_sdk::Value;

    #[test]
    fn math_as_terraform_has_it() {
        assert_eq!(call_fn("abs", vec![n(-2.5)]), Ok(n(2.5)));
        assert_eq!(call_fn("ceil", vec![n(1.2)]), Ok(n(2.0)));
        assert_eq!(call_fn("floor", vec![n(-1.2)]), Ok(n(-2.0)));
        assert_eq!(call_fn("signum", vec![n(-7.0)]), Ok(n(-1.0)));
        assert_eq!(call_fn("pow", vec![n(2.0), n(10.0)]), Ok(n(1024.0)));
        assert_eq!(call_fn("log", vec![n(8.0), n(2.0)]), Ok(n(3.0)));
        assert_eq!(call_fn("parseint", vec![s("FF"), n(16.0)]), Ok(n(255.0)));
        assert_eq!(call_fn("parseint", vec![s("-1010"), n(2.0)]), Ok(n(-10.0)));
        assert!(call_fn("parseint", vec![s("12"), n(1.0)]).is_err());
        assert!(call_fn("parseint", vec![s("9"), n(8.0)]).is_err());
        assert_eq!(
            call_fn("sum", vec![Value::List(vec![n(1.0), n(2.5)])]),
            Ok(n(3.5))
        );
        assert!(call_fn("sum", vec![Value::List(vec![])]).is_err());
    }
}
