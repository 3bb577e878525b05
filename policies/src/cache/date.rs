//! HTTP-date (RFC 9110 5.6.7) to unix seconds, for `Expires` and `Date`.

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Unix seconds of an HTTP-date in any of its three forms: IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) or asctime
/// (`Sun Nov  6 08:49:37 1994`). `None` when it does not parse (including `0`). Dates
/// before 1970 give 0. The weekday is not checked against the date. RFC 850's two-digit
/// years below 70 are 20xx, the rest 19xx.
pub(crate) fn parse_http_date(value: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(value).ok()?;
    let mut parts = s.split_ascii_whitespace();
    let weekday = parts.next()?;
    let (day, month, year, time) = if weekday.ends_with(',') {
        let date = parts.next()?;
        let fields = if date.contains('-') {
            // RFC 850: `06-Nov-94`.
            let mut d = date.split('-');
            let (day, month, yy) = (d.next()?, d.next()?, d.next()?);
            if d.next().is_some() || yy.len() != 2 {
                return None;
            }
            let yy = number(yy)?;
            let year = if yy < 70 { 2000 + yy } else { 1900 + yy };
            (day, month, year, parts.next()?)
        } else {
            let month = parts.next()?;
            let year = parts.next()?;
            if year.len() != 4 {
                return None;
            }
            (date, month, number(year)?, parts.next()?)
        };
        if parts.next()? != "GMT" {
            return None;
        }
        fields
    } else {
        // asctime: `Nov  6 08:49:37 1994`.
        let month = parts.next()?;
        let day = parts.next()?;
        let time = parts.next()?;
        let year = parts.next()?;
        if year.len() != 4 {
            return None;
        }
        (day, month, number(year)?, time)
    };
    if parts.next().is_some() || day.is_empty() || day.len() > 2 {
        return None;
    }
    let day = number(day)?;
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))? as u64 + 1;
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut t = time.split(':');
    let (h, m, sec) = (t.next()?, t.next()?, t.next()?);
    if t.next().is_some() || h.len() != 2 || m.len() != 2 || sec.len() != 2 {
        return None;
    }
    let (h, m, sec) = (number(h)?, number(m)?, number(sec)?);
    // 60 is a leap second.
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(year as i64, month, day);
    let secs = days * 86_400 + (h * 3600 + m * 60 + sec) as i64;
    Some(secs.max(0) as u64)
}

fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u64, day: u64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
