//! Helpers every codec shares: shape lookup, scalar conversion between wire strings and the
//! canonical value, timestamp parsing and formatting, and XML text escaping.
//!
//! Conversions report problems as plain strings; each codec wraps them into its protocol's
//! error code (`SerializationException`, `InvalidParameterValue`, ...).

use crate::schema::{Member, Shape, ShapeKind, TimestampFormat};
use crate::types::Timestamp;
use base64::Engine as _;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Number, Value};

/// Deepest nesting of structures/lists/maps a codec follows. Real models nest less than 10
/// levels; the bound keeps hostile input (and recursive shapes) from exhausting the stack.
pub(crate) const MAX_DEPTH: usize = 64;

/// Largest list index `N` accepted in `Name.N` form keys. Indices only order the elements (no
/// allocation is sized by them), but AWS rejects absurd ones too.
pub(crate) const MAX_LIST_INDEX: u32 = 10_000;

pub(crate) const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Effective timestamp format of a member: member override, else shape's, else `default`.
pub(crate) fn ts_format(
    member: Option<&Member>,
    shape: &Shape,
    default: TimestampFormat,
) -> TimestampFormat {
    if let Some(f) = member.and_then(|m| m.timestamp_format) {
        return f;
    }
    if let ShapeKind::Timestamp { format: Some(f) } = shape.kind {
        return f;
    }
    default
}

/// Epoch seconds as a canonical JSON number: an integer when whole, else a float.
pub(crate) fn epoch_value(secs: f64) -> Value {
    if secs.fract() == 0.0 && secs.abs() < 9.0e15 {
        Value::from(secs as i64)
    } else {
        Number::from_f64(secs)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

fn datetime_secs(d: DateTime<Utc>) -> f64 {
    d.timestamp_millis() as f64 / 1000.0
}

/// Canonical epoch seconds: millisecond precision (that of [`Timestamp`]) and within the range
/// a [`Timestamp`] can hold, so that every decoded timestamp re-encodes to the same value.
pub(crate) fn canonical_epoch(secs: f64) -> Option<f64> {
    Timestamp::from_epoch_seconds(secs).map(|t| datetime_secs(t.0))
}

/// Parse a timestamp as it may appear on the wire: ISO-8601/RFC 3339 (with or without zone;
/// no zone means UTC), RFC 822/HTTP date, or epoch seconds.
pub(crate) fn parse_timestamp(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return canonical_epoch(datetime_secs(d.with_timezone(&Utc)));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.fZ",
        "%Y%m%dT%H%M%SZ",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
            return canonical_epoch(datetime_secs(n.and_utc()));
        }
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(s) {
        return canonical_epoch(datetime_secs(d.with_timezone(&Utc)));
    }
    if s.bytes().all(|b| {
        b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'e' || b == b'E' || b == b'+'
    }) {
        if let Ok(f) = s.parse::<f64>() {
            return canonical_epoch(f);
        }
    }
    None
}

/// The epoch seconds of a canonical timestamp value (a number; a string is parsed leniently).
pub(crate) fn value_epoch(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().and_then(canonical_epoch),
        Value::String(s) => parse_timestamp(s),
        _ => None,
    }
}

/// Render epoch seconds in `format`. Out-of-range values fall back to the plain number.
pub(crate) fn format_timestamp(secs: f64, format: TimestampFormat) -> String {
    let number = || match epoch_value(secs) {
        Value::Number(n) => n.to_string(),
        _ => "0".to_owned(),
    };
    match format {
        TimestampFormat::UnixTimestamp => number(),
        TimestampFormat::Iso8601 => Timestamp::from_epoch_seconds(secs)
            .map(|t| t.iso8601())
            .unwrap_or_else(number),
        TimestampFormat::Rfc822 => Timestamp::from_epoch_seconds(secs)
            .map(|t| t.0.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
            .unwrap_or_else(number),
    }
}

/// Whether `s` is standard, padded base64 (what botocore sends for blobs).
pub(crate) fn is_base64(s: &str) -> bool {
    B64.decode(s.as_bytes()).is_ok()
}

/// Convert a wire string (form field, query parameter, header, URI label) to the canonical
/// value of a scalar shape. Structures, lists and maps are not scalars: `Err`.
pub(crate) fn scalar_from_str(shape: &Shape, s: &str) -> Result<Value, String> {
    match &shape.kind {
        ShapeKind::String { .. } => Ok(Value::String(s.to_owned())),
        ShapeKind::Integer => match s.trim().parse::<i64>() {
            Ok(i) if i32::try_from(i).is_ok() => Ok(Value::from(i)),
            _ => Err("integer".to_owned()),
        },
        ShapeKind::Long => s
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| "long".to_owned()),
        ShapeKind::Double | ShapeKind::Float => match s.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::Null)),
            _ => Err("double".to_owned()),
        },
        ShapeKind::Boolean => {
            let t = s.trim();
            if t.eq_ignore_ascii_case("true") {
                Ok(Value::Bool(true))
            } else if t.eq_ignore_ascii_case("false") {
                Ok(Value::Bool(false))
            } else {
                Err("boolean".to_owned())
            }
        }
        ShapeKind::Blob { .. } => {
            if is_base64(s) {
                Ok(Value::String(s.to_owned()))
            } else {
                Err("base64-encoded binary data".to_owned())
            }
        }
        // Every wire form is accepted whatever the model's format: the forms cannot be confused.
        ShapeKind::Timestamp { .. } => parse_timestamp(s)
            .map(epoch_value)
            .ok_or_else(|| "timestamp".to_owned()),
        ShapeKind::Structure(_) | ShapeKind::List(_) | ShapeKind::Map(_) => {
            Err("scalar".to_owned())
        }
    }
}

/// Render a canonical scalar value as wire text (XML element text, header value, query value).
/// Never fails: a value of the wrong JSON type is rendered as its JSON text.
pub(crate) fn scalar_to_string(
    shape: &Shape,
    member: Option<&Member>,
    v: &Value,
    ts_default: TimestampFormat,
) -> String {
    match (&shape.kind, v) {
        (ShapeKind::Timestamp { .. }, Value::Number(_)) => match value_epoch(v) {
            Some(secs) => format_timestamp(secs, ts_format(member, shape, ts_default)),
            None => v.to_string(),
        },
        (ShapeKind::Integer | ShapeKind::Long, Value::Number(n)) => {
            match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => i.to_string(),
                (None, Some(u), _) => u.to_string(),
                (None, None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e18 => {
                    (f as i64).to_string()
                }
                _ => n.to_string(),
            }
        }
        (_, Value::String(s)) => s.clone(),
        (_, Value::Bool(b)) => b.to_string(),
        (_, Value::Number(n)) => n.to_string(),
        (_, Value::Null) => String::new(),
        (_, other) => other.to_string(),
    }
}

/// Append `s` to `out` escaped for XML text and attribute values. Characters XML 1.0 cannot
/// carry at all (C0 controls other than tab, LF, CR) become U+FFFD so the document stays
/// well-formed for every client parser.
pub(crate) fn xml_escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// The `x-amzn-RequestId` header every response carries.
pub(crate) fn request_id_header(request_id: &str) -> (String, String) {
    (
        "x-amzn-RequestId".to_owned(),
        sanitize_header_value(request_id),
    )
}

/// Header values must be visible ASCII (plus space/tab); anything else is replaced so that the
/// response can always be built.
pub(crate) fn sanitize_header_value(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '\t' || (' '..='~').contains(&c) {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// `KeyId` → `keyId`: the member path spelling of AWS validation messages.
pub(crate) fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `encrypted` → `Encrypted`: EC2 input names are capitalised `locationName`s.
pub(crate) fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_in_every_wire_form() {
        assert_eq!(parse_timestamp("2025-11-23T07:00:00Z"), Some(1763881200.0));
        assert_eq!(
            parse_timestamp("2025-11-23T07:00:00.500Z"),
            Some(1763881200.5)
        );
        assert_eq!(
            parse_timestamp("2025-11-23T07:00:00.500000Z"),
            Some(1763881200.5)
        );
        assert_eq!(parse_timestamp("2025-11-23T07:00:00"), Some(1763881200.0));
        assert_eq!(
            parse_timestamp("2025-11-23T08:00:00+01:00"),
            Some(1763881200.0)
        );
        assert_eq!(
            parse_timestamp("Sun, 23 Nov 2025 07:00:00 GMT"),
            Some(1763881200.0)
        );
        assert_eq!(parse_timestamp("1763881200"), Some(1763881200.0));
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp(""), None);
    }

    #[test]
    fn timestamps_format() {
        assert_eq!(
            format_timestamp(1763881200.5, TimestampFormat::Iso8601),
            "2025-11-23T07:00:00.500Z"
        );
        assert_eq!(
            format_timestamp(1763881200.0, TimestampFormat::Rfc822),
            "Sun, 23 Nov 2025 07:00:00 GMT"
        );
        assert_eq!(
            format_timestamp(1763881200.0, TimestampFormat::UnixTimestamp),
            "1763881200"
        );
        assert_eq!(
            format_timestamp(f64::MAX, TimestampFormat::Iso8601),
            format_timestamp(f64::MAX, TimestampFormat::UnixTimestamp)
        );
    }

    #[test]
    fn xml_escape_keeps_documents_well_formed() {
        let mut s = String::new();
        xml_escape_into(&mut s, "a<b>&\"'\r\u{1}");
        assert_eq!(s, "a&lt;b&gt;&amp;&quot;&apos;&#xD;\u{FFFD}");
    }
}
