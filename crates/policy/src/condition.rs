//! Condition operators and their evaluation against a request's [`ConditionContext`].
//!
//! Semantics (AWS's): values listed for one key are OR-ed (for negated operators: the
//! context value must match none of them); keys and operators in one block are AND-ed.
//! A missing key makes positive operators false and negated operators true; `…IfExists`
//! makes a missing key true. `ForAnyValue:` needs one context value to satisfy the
//! operator (missing key → false); `ForAllValues:` needs every context value to (missing
//! key → true). A multi-valued key under a plain operator behaves like `ForAnyValue:` for
//! positive operators and "no value matches" for negated ones.

use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::context::{ConditionContext, ContextValue};
use crate::error::PolicyError;
use crate::wildcard::{arn_glob, glob};

/// Comparison used by Numeric* and Date* operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// What an operator tests for a single (context value, policy value) pair, before negation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

/// `ForAnyValue:` / `ForAllValues:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetQualifier {
    ForAnyValue,
    ForAllValues,
}

/// A parsed operator such as `ForAnyValue:StringLikeIfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConditionOperator {
    qualifier: Option<SetQualifier>,
    test: Test,
    negated: bool,
    if_exists: bool,
}

const OPERATORS: &[(&str, Test, bool)] = &[
    ("StringEquals", Test::StringEquals, false),
    ("StringNotEquals", Test::StringEquals, true),
    (
        "StringEqualsIgnoreCase",
        Test::StringEqualsIgnoreCase,
        false,
    ),
    (
        "StringNotEqualsIgnoreCase",
        Test::StringEqualsIgnoreCase,
        true,
    ),
    ("StringLike", Test::StringLike, false),
    ("StringNotLike", Test::StringLike, true),
    ("NumericEquals", Test::Numeric(Cmp::Eq), false),
    ("NumericNotEquals", Test::Numeric(Cmp::Eq), true),
    ("NumericLessThan", Test::Numeric(Cmp::Lt), false),
    ("NumericLessThanEquals", Test::Numeric(Cmp::Le), false),
    ("NumericGreaterThan", Test::Numeric(Cmp::Gt), false),
    ("NumericGreaterThanEquals", Test::Numeric(Cmp::Ge), false),
    ("DateEquals", Test::Date(Cmp::Eq), false),
    ("DateNotEquals", Test::Date(Cmp::Eq), true),
    ("DateLessThan", Test::Date(Cmp::Lt), false),
    ("DateLessThanEquals", Test::Date(Cmp::Le), false),
    ("DateGreaterThan", Test::Date(Cmp::Gt), false),
    ("DateGreaterThanEquals", Test::Date(Cmp::Ge), false),
    ("Bool", Test::Bool, false),
    ("BinaryEquals", Test::Binary, false),
    ("IpAddress", Test::Ip, false),
    ("NotIpAddress", Test::Ip, true),
    ("ArnEquals", Test::Arn, false),
    ("ArnLike", Test::Arn, false),
    ("ArnNotEquals", Test::Arn, true),
    ("ArnNotLike", Test::Arn, true),
    ("Null", Test::Null, false),
];

impl ConditionOperator {
    /// Parses an operator name. Names are matched exactly as AWS documents them.
    pub(crate) fn parse(name: &str) -> Result<Self, PolicyError> {
        let unknown = || PolicyError::UnknownConditionOperator {
            operator: name.to_owned(),
        };
        let (qualifier, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), r)
        } else if let Some(r) = name.strip_prefix("ForAllValues:") {
            (Some(SetQualifier::ForAllValues), r)
        } else {
            (None, name)
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (rest, false),
        };
        let &(_, test, negated) = OPERATORS
            .iter()
            .find(|(n, _, _)| *n == base)
            .ok_or_else(unknown)?;
        if test == Test::Null && (if_exists || qualifier.is_some()) {
            return Err(unknown());
        }
        Ok(ConditionOperator {
            qualifier,
            test,
            negated,
            if_exists,
        })
    }
}

/// One `operator: { key: values }` entry of a `Condition` block.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    operator: ConditionOperator,
    key: String,
    values: Vec<String>,
}

impl Condition {
    /// Builds a condition, checking each policy value fits the operator.
    pub(crate) fn new(
        operator: ConditionOperator,
        op_name: &str,
        key: &str,
        values: Vec<String>,
    ) -> Result<Self, PolicyError> {
        let bad = |value: &str, reason| PolicyError::InvalidConditionValue {
            operator: op_name.to_owned(),
            key: key.to_owned(),
            value: value.to_owned(),
            reason,
        };
        for v in &values {
            match operator.test {
                Test::Numeric(_) if parse_number(v).is_none() => {
                    return Err(bad(v, "not a number"))
                }
                Test::Date(_) if parse_date(v).is_none() => {
                    return Err(bad(v, "not an ISO 8601 date or epoch time"))
                }
                Test::Bool | Test::Null if parse_bool(v).is_none() => {
                    return Err(bad(v, "must be true or false"))
                }
                Test::Ip if parse_cidr(v).is_none() => {
                    return Err(bad(v, "not an IP address or CIDR block"))
                }
                _ => {}
            }
        }
        if key.is_empty() {
            return Err(bad("", "condition key must not be empty"));
        }
        Ok(Condition {
            operator,
            key: key.to_owned(),
            values,
        })
    }

    /// Whether the condition holds for the request context.
    pub(crate) fn holds(&self, ctx: &ConditionContext) -> bool {
        let op = self.operator;
        let present = ctx.get(&self.key).map(ContextValue::strings);
        let present = present.filter(|v| !v.is_empty());
        if op.test == Test::Null {
            // "Null": true means the key must be absent.
            let want_absent = self.values.iter().any(|v| parse_bool(v) == Some(true));
            let want_present = self.values.iter().any(|v| parse_bool(v) == Some(false));
            return (want_absent && present.is_none()) || (want_present && present.is_some());
        }
        let Some(values) = present else {
            return match op.qualifier {
                Some(SetQualifier::ForAllValues) => true,
                Some(SetQualifier::ForAnyValue) => op.if_exists,
                None => op.if_exists || op.negated,
            };
        };
        // Does one context value satisfy the (possibly negated) operator?
        let satisfies = |cv: &str| {
            let any = self.values.iter().any(|pv| test(op.test, cv, pv));
            any != op.negated
        };
        match op.qualifier {
            Some(SetQualifier::ForAllValues) => values.iter().all(|v| satisfies(v)),
            Some(SetQualifier::ForAnyValue) => values.iter().any(|v| satisfies(v)),
            None if op.negated => values.iter().all(|v| satisfies(v)),
            None => values.iter().any(|v| satisfies(v)),
        }
    }
}

/// The un-negated test of one context value against one policy value.
fn test(t: Test, ctx: &str, policy: &str) -> bool {
    match t {
        Test::StringEquals | Test::Binary => ctx == policy,
        Test::StringEqualsIgnoreCase => ctx.to_lowercase() == policy.to_lowercase(),
        Test::StringLike => glob(policy, ctx, false),
        Test::Arn => arn_glob(policy, ctx),
        Test::Bool => parse_bool(ctx).is_some() && parse_bool(ctx) == parse_bool(policy),
        Test::Numeric(c) => match (parse_number(ctx), parse_number(policy)) {
            (Some(a), Some(b)) => compare(c, a.partial_cmp(&b)),
            _ => false,
        },
        Test::Date(c) => match (parse_date(ctx), parse_date(policy)) {
            (Some(a), Some(b)) => compare(c, Some(a.cmp(&b))),
            _ => false,
        },
        Test::Ip => match (ctx.parse::<IpAddr>(), parse_cidr(policy)) {
            (Ok(ip), Some((net, len))) => in_cidr(ip, net, len),
            _ => false,
        },
        Test::Null => false,
    }
}

fn compare(c: Cmp, ord: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match (c, ord) {
        (_, None) => false,
        (Cmp::Eq, Some(o)) => o == Equal,
        (Cmp::Lt, Some(o)) => o == Less,
        (Cmp::Le, Some(o)) => o != Greater,
        (Cmp::Gt, Some(o)) => o == Greater,
        (Cmp::Ge, Some(o)) => o != Less,
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn parse_number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// ISO 8601 (`2024-01-31T12:00:00Z`, with offset, without zone = UTC, or a bare date) or
/// epoch seconds.
pub(crate) fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(d.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|d| d.and_utc());
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<i64>()
            .ok()
            .and_then(|secs| DateTime::from_timestamp(secs, 0));
    }
    None
}

/// `203.0.113.0/24`, `2001:db8::/32`, or a bare address (a /32 or /128).
fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((ip, len))
}

fn in_cidr(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(op: &str, key: &str, values: &[&str]) -> Condition {
        let o = ConditionOperator::parse(op).unwrap();
        Condition::new(o, op, key, values.iter().map(|s| s.to_string()).collect()).unwrap()
    }

    #[test]
    fn operator_names() {
        assert!(ConditionOperator::parse("ForAllValues:StringLikeIfExists").is_ok());
        assert!(ConditionOperator::parse("StringEqual").is_err());
        assert!(ConditionOperator::parse("NullIfExists").is_err());
        assert!(ConditionOperator::parse("ForSomeValues:StringEquals").is_err());
    }

    #[test]
    fn cidr() {
        let c = cond(
            "IpAddress",
            "aws:SourceIp",
            &["203.0.113.0/24", "2001:db8::/32"],
        );
        let ctx = |ip: &str| ConditionContext::new().with("aws:SourceIp", ip);
        assert!(c.holds(&ctx("203.0.113.7")));
        assert!(!c.holds(&ctx("203.0.114.7")));
        assert!(c.holds(&ctx("2001:db8:1::5")));
        assert!(!c.holds(&ctx("2001:db9::5")));
        assert!(!c.holds(&ConditionContext::new()));
        let n = cond("NotIpAddress", "aws:SourceIp", &["0.0.0.0/0"]);
        assert!(!n.holds(&ctx("1.2.3.4")));
        assert!(n.holds(&ctx("::1")));
        assert!(n.holds(&ConditionContext::new()));
    }

    #[test]
    fn dates_and_numbers() {
        let c = cond("DateLessThan", "aws:CurrentTime", &["2024-01-01T00:00:00Z"]);
        let now = |s: &str| ConditionContext::new().with("aws:CurrentTime", s);
        assert!(c.holds(&now("2023-12-31T23:59:59Z")));
        assert!(!c.holds(&now("2024-01-01T00:00:00Z")));
        assert!(c.holds(&now("1700000000")));
        let d = cond("DateGreaterThanEquals", "aws:CurrentTime", &["1704067200"]);
        assert!(d.holds(&now("2024-01-01")));
        let n = cond("NumericLessThanEquals", "s3:max-keys", &["10"]);
        assert!(n.holds(&ConditionContext::new().with("s3:max-keys", 10i64)));
        assert!(!n.holds(&ConditionContext::new().with("s3:max-keys", "11")));
        assert!(!n.holds(&ConditionContext::new().with("s3:max-keys", "ten")));
    }

    #[test]
    fn null_and_bool() {
        let present = ConditionContext::new().with("aws:MultiFactorAuthPresent", true);
        let absent = ConditionContext::new();
        let null_true = cond("Null", "aws:MultiFactorAuthPresent", &["true"]);
        assert!(null_true.holds(&absent));
        assert!(!null_true.holds(&present));
        let b = cond("Bool", "aws:MultiFactorAuthPresent", &["true"]);
        assert!(b.holds(&present));
        assert!(!b.holds(&absent));
        let bie = cond("BoolIfExists", "aws:MultiFactorAuthPresent", &["false"]);
        assert!(bie.holds(&absent));
        assert!(!bie.holds(&present));
    }

    #[test]
    fn case_insensitive_keys_and_ignore_case_values() {
        let c = cond(
            "StringEqualsIgnoreCase",
            "KMS:VIASERVICE",
            &["EC2.us-east-1.amazonaws.com"],
        );
        let ctx = ConditionContext::new().with("kms:ViaService", "ec2.us-east-1.amazonaws.com");
        assert!(c.holds(&ctx));
        let s = cond(
            "StringEquals",
            "kms:viaservice",
            &["EC2.us-east-1.amazonaws.com"],
        );
        assert!(!s.holds(&ctx));
    }
}
