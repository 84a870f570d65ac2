//! Timestamps (RFC 3339, as Terraform takes them): `formatdate`, `timeadd`, `timecmp`.
//! Deterministic: nothing here reads the clock (`timestamp()` is refused for that reason).

use super::{fail, string_arg, FnContext, FnError};
use hive_sdk::Value;

/// An instant and the offset it was written with.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    seconds: i64,
    nanos: u32,
    /// The offset from UTC it is shown in, in seconds; `None` for `Z`.
    offset: Option<i32>,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
];

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn parse(fname: &str, i: usize, text: &str) -> Result<Stamp, FnError> {
    let bad = || {
        fail(
            Some(i),
            format!(
                "{fname}: not a valid RFC3339 timestamp: {text:?} (write it like \"2006-01-02T15:04:05Z\")"
            ),
        )
    };
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Result<u32, FnError> {
        let part = text.get(from..from + len).ok_or_else(bad)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return Err(bad());
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(i64::from(year), month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(bad());
    }
    let mut at = 19;
    let mut nanos = 0u32;
    if b.get(at) == Some(&b'.') {
        let digits = b[at + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits == 0 {
            return Err(bad());
        }
        let frac = &text[at + 1..at + 1 + digits];
        let padded: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
        nanos = padded.parse().map_err(|_| bad())?;
        at += 1 + digits;
    }
    let offset = match &text[at..] {
        "Z" | "z" => None,
        zone if zone.len() == 6
            && matches!(zone.as_bytes()[0], b'+' | b'-')
            && zone.as_bytes()[3] == b':' =>
        {
            let (h, m) = (num(at + 1, 2)?, num(at + 4, 2)?);
            if h > 23 || m > 59 {
                return Err(bad());
            }
            let secs = (h * 3600 + m * 60) as i32;
            Some(if zone.starts_with('-') { -secs } else { secs })
        }
        _ => return Err(bad()),
    };
    let local = days_from_civil(i64::from(year), month, day) * 86_400
        + i64::from(hour * 3600 + minute * 60 + second);
    Ok(Stamp {
        seconds: local - i64::from(offset.unwrap_or(0)),
        nanos,
        offset,
    })
}

/// The civil fields of a stamp in its own offset: (year, month, day, hour, minute, second,
/// weekday index into [`DAYS`]).
fn fields(s: &Stamp) -> (i64, u32, u32, u32, u32, u32, usize) {
    let local = s.seconds + i64::from(s.offset.unwrap_or(0));
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400) as u32;
    let (y, m, d) = civil_from_days(days);
    (
        y,
        m,
        d,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        days.rem_euclid(7) as usize,
    )
}

fn zone(offset: Option<i32>, colon: bool) -> String {
    match offset {
        None => "Z".into(),
        Some(o) => {
            let sign = if o < 0 { '-' } else { '+' };
            let o = o.unsigned_abs();
            if colon {
                format!("{sign}{:02}:{:02}", o / 3600, o % 3600 / 60)
            } else {
                format!("{sign}{:02}{:02}", o / 3600, o % 3600 / 60)
            }
        }
    }
}

fn rfc3339(s: &Stamp) -> String {
    let (y, mo, d, h, mi, se, _) = fields(s);
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}{}",
        zone(s.offset, true)
    )
}

/// `formatdate(spec, timestamp)`: Terraform's format tokens (`YYYY`, `MMM`, `DD`, `EEEE`,
/// `hh`, `HH`, `AA`, `mm`, `ss`, `ZZZZZ`...), text in single quotes taken as it is.
pub(super) fn formatdate(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let spec = string_arg("formatdate", &args, 0)?;
    let stamp = parse("formatdate", 1, &string_arg("formatdate", &args, 1)?)?;
    let (y, mo, d, h, mi, se, wd) = fields(&stamp);
    let chars: Vec<char> = spec.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // Quoted literal text; '' is one quote.
            let mut j = i + 1;
            if chars.get(j) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            let mut text = String::new();
            loop {
                match chars.get(j) {
                    None => {
                        return Err(fail(
                            Some(0),
                            "formatdate: unterminated quoted literal in the format",
                        ))
                    }
                    Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                        text.push('\'');
                        j += 2;
                    }
                    Some('\'') => break,
                    Some(ch) => {
                        text.push(*ch);
                        j += 1;
                    }
                }
            }
            out.push_str(&text);
            i = j + 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            out.push(c);
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|x| **x == c).count();
        let token: String = std::iter::repeat_n(c, run).collect();
        let hour12 = if h % 12 == 0 { 12 } else { h % 12 };
        let text = match token.as_str() {
            "YYYY" => format!("{y:04}"),
            "YY" => format!("{:02}", y.rem_euclid(100)),
            "MMMM" => MONTHS[mo as usize - 1].to_string(),
            "MMM" => MONTHS[mo as usize - 1][..3].to_string(),
            "MM" => format!("{mo:02}"),
            "M" => mo.to_string(),
            "DD" => format!("{d:02}"),
            "D" => d.to_string(),
            "EEEE" => DAYS[wd].to_string(),
            "EEE" => DAYS[wd][..3].to_string(),
            "hh" => format!("{h:02}"),
            "h" => h.to_string(),
            "HH" => format!("{hour12:02}"),
            "H" => hour12.to_string(),
            "AA" => if h < 12 { "AM" } else { "PM" }.to_string(),
            "aa" => if h < 12 { "am" } else { "pm" }.to_string(),
            "mm" => format!("{mi:02}"),
            "m" => mi.to_string(),
            "ss" => format!("{se:02}"),
            "s" => se.to_string(),
            "ZZZZZ" => zone(Some(stamp.offset.unwrap_or(0)), true),
            "ZZZZ" => zone(Some(stamp.offset.unwrap_or(0)), false),
            "ZZZ" => match stamp.offset {
                None => "UTC".into(),
                o => zone(o, false),
            },
            "Z" => zone(stamp.offset, true),
            other => {
                return Err(fail(
                    Some(0),
                    format!("formatdate: invalid date format verb {other:?}"),
                ))
            }
        };
        out.push_str(&text);
        i += run;
    }
    Ok(Value::String(out))
}

/// A Go duration: `1h30m`, `-10m`, `2.5s`, `300ms` (units ns, us, µs, ms, s, m, h).
fn duration(text: &str) -> Result<(bool, u128), String> {
    let bad = || format!("invalid duration {text:?}: write it like \"1h30m\", \"-10m\" or \"30s\"");
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok((false, 0));
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut nanos: u128 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (number, tail) = rest.split_at(digits);
        if number.is_empty() {
            return Err(bad());
        }
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(bad()),
        };
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        nanos = nanos
            .checked_add(whole.checked_mul(scale).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        if !frac.is_empty() {
            let digits: u32 = frac.len().min(18) as u32;
            let f: u128 = frac[..digits as usize].parse().map_err(|_| bad())?;
            nanos += f * scale / 10u128.pow(digits);
        }
        rest = tail;
    }
    Ok((negative, nanos))
}

/// `timeadd(timestamp, duration)`: the later (or earlier) timestamp, in the same offset.
pub(super) fn timeadd(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let stamp = parse("timeadd", 0, &string_arg("timeadd", &args, 0)?)?;
    let text = string_arg("timeadd", &args, 1)?;
    let (negative, nanos) = duration(&text).map_err(|e| fail(Some(1), format!("timeadd: {e}")))?;
    let total = i128::from(stamp.seconds) * 1_000_000_000 + i128::from(stamp.nanos);
    let delta =
        i128::try_from(nanos).map_err(|_| fail(Some(1), "timeadd: the duration is too long"))?;
    let moved = if negative {
        total - delta
    } else {
        total + delta
    };
    let moved = Stamp {
        seconds: i64::try_from(moved.div_euclid(1_000_000_000))
            .map_err(|_| fail(Some(1), "timeadd: the result is out of range"))?,
        nanos: moved.rem_euclid(1_000_000_000) as u32,
        offset: stamp.offset,
    };
    Ok(Value::String(rfc3339(&moved)))
}

/// `timecmp(a, b)`: -1, 0 or 1 as instant `a` is before, at or after `b`.
pub(super) fn timecmp(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let a = parse("timecmp", 0, &string_arg("timecmp", &args, 0)?)?;
    let b = parse("timecmp", 1, &string_arg("timecmp", &args, 1)?)?;
    let order = (a.seconds, a.nanos).cmp(&(b.seconds, b.nanos));
    Ok(Value::Number(order as i8 as f64))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call_fn, n, s};

    #[test]
    fn timestamps_as_terraform_has_them() {
        assert_eq!(
            call_fn(
                "formatdate",
                vec![s("DD MMM YYYY hh:mm ZZZ"), s("2018-01-02T23:12:01Z")]
            ),
            Ok(s("02 Jan 2018 23:12 UTC"))
        );
        assert_eq!(
            call_fn(
                "formatdate",
                vec![s("EEEE, h'h' aa"), s("2018-01-02T03:04:05+05:30")]
            ),
            Ok(s("Tuesday, 3h am"))
        );
        assert_eq!(
            call_fn("timeadd", vec![s("2017-11-22T00:00:00Z"), s("10m")]),
            Ok(s("2017-11-22T00:10:00Z"))
        );
        assert_eq!(
            call_fn("timeadd", vec![s("2024-02-28T23:00:00-02:00"), s("1h30m")]),
            Ok(s("2024-02-29T00:30:00-02:00"))
        );
        assert_eq!(
            call_fn(
                "timecmp",
                vec![s("2017-11-22T00:00:00Z"), s("2017-11-22T01:00:00+01:00")]
            ),
            Ok(n(0.0))
        );
        assert!(call_fn("timeadd", vec![s("2017-13-01T00:00:00Z"), s("1h")]).is_err());
    }
}
