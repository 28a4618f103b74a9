//! Model-constraint validation of canonical input values: required members, length and range
//! limits, enum values, recursively. Problems are reported the way AWS's front ends word them
//! (`Value 'x' at 'keyId' failed to satisfy constraint: Member must ...`), all at once, under the
//! protocol's code: `ValidationException` (JSON protocols), `ValidationError` (awsQuery),
//! `InvalidParameterValue` (EC2; a missing required parameter is EC2's `MissingParameter`).
//!
//! Values of `sensitive` shapes and blobs are never echoed. `pattern` constraints are not
//! checked (that would need a regex engine that understands the models' Java-style patterns).

use super::common::{lower_first, MAX_DEPTH};
use super::form::{wire_name, Dialect};
use crate::error::AwsError;
use crate::schema::{Operation, Protocol, ServiceModel, Shape, ShapeKind};
use serde_json::Value;

/// At most this many problems are listed in one message.
const MAX_PROBLEMS: usize = 50;

struct Validator<'a> {
    model: &'a ServiceModel,
    problems: Vec<String>,
    /// EC2 only: wire name of the first missing required parameter.
    missing_ec2: Option<String>,
}

fn render(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 256 {
        let mut t: String = s.chars().take(256).collect();
        t.push_str("...");
        t
    } else {
        s
    }
}

fn len_of(shape: &Shape, v: &Value) -> Option<i64> {
    let n = match (&shape.kind, v) {
        (ShapeKind::String { .. }, Value::String(s)) => s.chars().count(),
        (ShapeKind::Blob { .. }, Value::String(s)) => {
            let pad = s.bytes().rev().take_while(|&b| b == b'=').count();
            (s.len() / 4 * 3).saturating_sub(pad)
        }
        (ShapeKind::List(_), Value::Array(a)) => a.len(),
        (ShapeKind::Map(_), Value::Object(o)) => o.len(),
        _ => return None,
    };
    i64::try_from(n).ok()
}

impl Validator<'_> {
    fn problem(&mut self, shape: &Shape, v: Option<&Value>, path: &str, constraint: &str) {
        if self.problems.len() >= MAX_PROBLEMS {
            return;
        }
        let shown = match v {
            None => "Value null at".to_owned(),
            Some(_) if shape.sensitive || matches!(shape.kind, ShapeKind::Blob { .. }) => {
                "Value at".to_owned()
            }
            Some(v) => format!("Value '{}' at", render(v)),
        };
        self.problems.push(format!(
            "{shown} '{path}' failed to satisfy constraint: {constraint}"
        ));
    }

    fn check(&mut self, shape: &Shape, v: &Value, path: &str, ec2_prefix: &str, depth: usize) {
        if depth > MAX_DEPTH || v.is_null() {
            return;
        }
        if let Some(len) = len_of(shape, v) {
            if let Some(min) = shape.min.filter(|&m| len < m) {
                self.problem(
                    shape,
                    Some(v),
                    path,
                    &format!("Member must have length greater than or equal to {min}"),
                );
            }
            if let Some(max) = shape.max.filter(|&m| len > m) {
                self.problem(
                    shape,
                    Some(v),
                    path,
                    &format!("Member must have length less than or equal to {max}"),
                );
            }
        }
        match (&shape.kind, v) {
            (
                ShapeKind::Integer | ShapeKind::Long | ShapeKind::Double | ShapeKind::Float,
                Value::Number(n),
            ) => {
                let x = n.as_f64().unwrap_or(0.0);
                if let Some(min) = shape.min.filter(|&m| x < m as f64) {
                    self.problem(
                        shape,
                        Some(v),
                        path,
                        &format!("Member must have value greater than or equal to {min}"),
                    );
                }
                if let Some(max) = shape.max.filter(|&m| x > m as f64) {
                    self.problem(
                        shape,
                        Some(v),
                        path,
                        &format!("Member must have value less than or equal to {max}"),
                    );
                }
            }
            (ShapeKind::String { enum_values }, Value::String(s))
                if !enum_values.is_empty() && !enum_values.contains(&s.as_str()) =>
            {
                self.problem(
                    shape,
                    Some(v),
                    path,
                    &format!(
                        "Member must satisfy enum value set: [{}]",
                        enum_values.join(", ")
                    ),
                );
            }
            (ShapeKind::Structure(st), Value::Object(obj)) => {
                for m in st.members {
                    let Some(mshape) = self.model.shape(m.shape) else {
                        continue;
                    };
                    let child = if path.is_empty() {
                        lower_first(m.name)
                    } else {
                        format!("{path}.{}", lower_first(m.name))
                    };
                    let ec2_child = match ec2_prefix {
                        "" => wire_name(Dialect::Ec2, m),
                        p => format!("{p}.{}", wire_name(Dialect::Ec2, m)),
                    };
                    match obj.get(m.name).filter(|x| !x.is_null()) {
                        Some(x) => self.check(mshape, x, &child, &ec2_child, depth + 1),
                        None if st.required.contains(&m.name) => {
                            // A blob/string payload travels beside the value (`Decoded::payload`).
                            let raw_payload = st.payload == Some(m.name)
                                && matches!(
                                    mshape.kind,
                                    ShapeKind::Blob { .. } | ShapeKind::String { .. }
                                );
                            if !raw_payload {
                                if self.missing_ec2.is_none() {
                                    self.missing_ec2 = Some(ec2_child);
                                }
                                self.problem(mshape, None, &child, "Member must not be null");
                            }
                        }
                        None => {}
                    }
                }
            }
            (ShapeKind::List(ls), Value::Array(items)) => {
                let Some(item_shape) = self.model.shape(ls.member) else {
                    return;
                };
                for (i, x) in items.iter().enumerate() {
                    let n = i + 1;
                    self.check(
                        item_shape,
                        x,
                        &format!("{path}.{n}.member"),
                        &format!("{ec2_prefix}.{n}"),
                        depth + 1,
                    );
                }
            }
            (ShapeKind::Map(ms), Value::Object(obj)) => {
                let (Some(key_shape), Some(value_shape)) =
                    (self.model.shape(ms.key), self.model.shape(ms.value))
                else {
                    return;
                };
                for (k, x) in obj {
                    self.check(
                        key_shape,
                        &Value::String(k.clone()),
                        &format!("{path}.key"),
                        ec2_prefix,
                        depth + 1,
                    );
                    self.check(
                        value_shape,
                        x,
                        &format!("{path}.{k}"),
                        ec2_prefix,
                        depth + 1,
                    );
                }
            }
            _ => {}
        }
    }
}

/// Check `input` (the canonical value of `op`'s input) against the model's constraints.
pub fn validate_input(model: &ServiceModel, op: &Operation, input: &Value) -> Result<(), AwsError> {
    let Some(shape) = op.input.and_then(|n| model.shape(n)) else {
        return Ok(());
    };
    let empty = Value::Object(serde_json::Map::new());
    let input = if input.is_null() { &empty } else { input };
    let mut v = Validator {
        model,
        problems: Vec::new(),
        missing_ec2: None,
    };
    v.check(shape, input, "", "", 0);
    if v.problems.is_empty() {
        return Ok(());
    }
    Err(match model.protocol {
        Protocol::Json | Protocol::RestJson => {
            AwsError::validation("ValidationException", 400, &v.problems)
        }
        Protocol::Query => AwsError::validation("ValidationError", 400, &v.problems),
        Protocol::Ec2 => match v.missing_ec2 {
            Some(name) => AwsError::new(
                "MissingParameter",
                400,
                format!("The request must contain the parameter {name}"),
            ),
            None => AwsError::validation("InvalidParameterValue", 400, &v.problems),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::testmodel::{TEST, TEST_EC2, TEST_QUERY, TEST_REST};
    use serde_json::json;

    #[test]
    fn valid_input_passes() {
        let op = TEST.operation("Encrypt").unwrap();
        validate_input(
            &TEST,
            op,
            &json!({"KeyId":"alias/a","Limit":5,"Tags":[{"TagKey":"k"}]}),
        )
        .unwrap();
        validate_input(&TEST, TEST.operation("NoIo").unwrap(), &Value::Null).unwrap();
    }

    #[test]
    fn reports_all_problems_with_aws_wording() {
        let op = TEST.operation("Encrypt").unwrap();
        let e = validate_input(
            &TEST,
            op,
            &json!({"Limit":0,"Plaintext":"","Tags":[{"TagValue":"v"},{"TagKey":""}]}),
        )
        .unwrap_err();
        assert_eq!((e.code.as_ref(), e.status), ("ValidationException", 400));
        assert_eq!(
            e.message,
            "5 validation errors detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null; \
             Value at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1; \
             Value null at 'tags.1.member.tagKey' failed to satisfy constraint: Member must not be null; \
             Value '' at 'tags.2.member.tagKey' failed to satisfy constraint: Member must have length greater than or equal to 1; \
             Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
        );
    }

    #[test]
    fn enums_lengths_and_sensitive_values() {
        let op = TEST_QUERY.operation("QueryCreate").unwrap();
        let e = validate_input(
            &TEST_QUERY,
            op,
            &json!({"Name":"much-too-long","Mode":"medium","Secret":"hunter22"}),
        )
        .unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert!(e.message.contains("Value 'much-too-long' at 'name' failed to satisfy constraint: Member must have length less than or equal to 8"), "{}", e.message);
        assert!(e.message.contains("Value 'medium' at 'mode' failed to satisfy constraint: Member must satisfy enum value set: [fast, slow]"));
        assert!(e.message.contains("Value at 'secret' failed"));
        assert!(!e.message.contains("hunter22"));
    }

    #[test]
    fn ec2_missing_parameter_uses_wire_name() {
        let op = TEST_EC2.operation("Describe").unwrap();
        let e = validate_input(&TEST_EC2, op, &json!({})).unwrap_err();
        assert_eq!(
            (e.code.as_ref(), e.message.as_str()),
            (
                "MissingParameter",
                "The request must contain the parameter Owner"
            )
        );
    }

    #[test]
    fn raw_payload_member_is_not_required_in_the_value() {
        let op = TEST_REST.operation("PutBlock").unwrap();
        validate_input(
            &TEST_REST,
            op,
            &json!({"SnapshotId":"s","BlockIndex":1,"DataLength":4}),
        )
        .unwrap();
    }
}
