//! Form decoding shared by the EC2 query and awsQuery codecs: flattened keys such as
//! `Filter.1.Value.1` (EC2) or `Tags.Tag.1.Key` / `Attrs.entry.1.key` (awsQuery) are mapped back
//! onto the input shape.
//!
//! The decoder is driven by the shape, not by the keys: for every member it looks up the keys
//! the member would have been written under, so unknown parameters are ignored (AWS answers
//! `UnknownParameter` for some; ignoring is what older AWS endpoints did). List indices only
//! order the elements; gaps are tolerated; an index that is not an integer from 1 to
//! [`MAX_LIST_INDEX`] is rejected.

use super::common::{scalar_from_str, upper_first, MAX_DEPTH, MAX_LIST_INDEX};
use crate::error::AwsError;
use crate::schema::{ListShape, MapShape, Member, ServiceModel, Shape, ShapeKind, StructureShape};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Ec2,
    Query,
}

/// The wire name of an input member.
pub(crate) fn wire_name(dialect: Dialect, m: &Member) -> String {
    match dialect {
        Dialect::Ec2 => match (m.query_name, m.location_name) {
            (Some(q), _) => q.to_owned(),
            (None, Some(l)) => upper_first(l),
            (None, None) => m.name.to_owned(),
        },
        Dialect::Query => m.location_name.unwrap_or(m.name).to_owned(),
    }
}

/// Merge the URL query and a form body into one map. Body fields win over URL fields.
pub(crate) fn parse_params(query: &str, body: &[u8]) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        params
            .entry(k.into_owned())
            .or_insert_with(|| v.into_owned());
    }
    let mut from_body = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        from_body
            .entry(k.into_owned())
            .or_insert_with(|| v.into_owned());
    }
    params.extend(from_body);
    params
}

pub(crate) struct FormDecoder<'a> {
    pub(crate) model: &'a ServiceModel,
    pub(crate) dialect: Dialect,
    pub(crate) params: &'a BTreeMap<String, String>,
}

fn invalid(msg: String) -> AwsError {
    AwsError::new("InvalidParameterValue", 400, msg)
}

impl FormDecoder<'_> {
    fn keys_with_prefix<'k>(
        &'k self,
        prefix: &'k str,
    ) -> impl Iterator<Item = (&'k String, &'k String)> + 'k {
        self.params
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(prefix))
    }

    fn has_prefix(&self, prefix: &str) -> bool {
        self.keys_with_prefix(prefix).next().is_some()
    }

    /// The sorted indices `N` of keys `<base>.N` and `<base>.N.<anything>`.
    fn indices(&self, base: &str) -> Result<BTreeSet<u32>, AwsError> {
        let prefix = format!("{base}.");
        let mut out = BTreeSet::new();
        for (k, _) in self.keys_with_prefix(&prefix) {
            let rest = &k[prefix.len()..];
            // Every key under `<base>.` belongs to this list, so what follows the dot must
            // be an index: `VolumeId.-1` or `VolumeId.x` is refused like `VolumeId.0`
            // (silently dropping it once widened DescribeVolumes to every volume).
            let seg = rest.split('.').next().unwrap_or("");
            let digits = !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit());
            match seg.parse::<u32>().ok().filter(|_| digits) {
                Some(n) if (1..=MAX_LIST_INDEX).contains(&n) => {
                    out.insert(n);
                }
                _ => {
                    return Err(invalid(format!(
                        "The list index in parameter {k} is out of range (1-{MAX_LIST_INDEX})."
                    )))
                }
            }
        }
        Ok(out)
    }

    /// Decode a whole structure found under `prefix` (empty for the top level).
    pub(crate) fn structure(
        &self,
        st: &StructureShape,
        prefix: &str,
        depth: usize,
    ) -> Result<Map<String, Value>, AwsError> {
        if depth > MAX_DEPTH {
            return Err(invalid("The request is nested too deeply.".to_owned()));
        }
        let mut out = Map::new();
        for m in st.members {
            let Some(shape) = self.model.shape(m.shape) else {
                continue;
            };
            let name = wire_name(self.dialect, m);
            let key = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}.{name}")
            };
            if let Some(v) = self.value(shape, Some(m), &key, depth + 1)? {
                out.insert(m.name.to_owned(), v);
            }
        }
        Ok(out)
    }

    /// Decode the value of `shape` written under `key`, if any key for it is present.
    fn value(
        &self,
        shape: &Shape,
        member: Option<&Member>,
        key: &str,
        depth: usize,
    ) -> Result<Option<Value>, AwsError> {
        if depth > MAX_DEPTH {
            return Err(invalid("The request is nested too deeply.".to_owned()));
        }
        match &shape.kind {
            ShapeKind::Structure(st) => {
                if !self.has_prefix(&format!("{key}.")) {
                    return Ok(None);
                }
                // Keys under the prefix that name no member leave nothing to decode.
                let obj = self.structure(st, key, depth + 1)?;
                Ok((!obj.is_empty()).then_some(Value::Object(obj)))
            }
            ShapeKind::List(ls) => self.list(ls, member, key, depth + 1),
            ShapeKind::Map(ms) => self.map(ms, member, key, depth + 1),
            _ => match self.params.get(key) {
                None => Ok(None),
                Some(s) => scalar_from_str(shape, s).map(Some).map_err(|ty| {
                    invalid(format!(
                        "Value ({s}) for parameter {key} is invalid. Expected: '{ty}'."
                    ))
                }),
            },
        }
    }

    fn list(
        &self,
        ls: &ListShape,
        member: Option<&Member>,
        key: &str,
        depth: usize,
    ) -> Result<Option<Value>, AwsError> {
        let Some(item_shape) = self.model.shape(ls.member) else {
            return Ok(None);
        };
        let flattened = ls.flattened || member.is_some_and(|m| m.flattened);
        let base = match self.dialect {
            Dialect::Ec2 => key.to_owned(),
            Dialect::Query if flattened => match ls.member_location_name {
                // botocore replaces the member's own name with the list member's name.
                Some(n) => match key.rsplit_once('.') {
                    Some((parent, _)) => format!("{parent}.{n}"),
                    None => n.to_owned(),
                },
                None => key.to_owned(),
            },
            Dialect::Query => format!("{key}.{}", ls.member_location_name.unwrap_or("member")),
        };
        let indices = self.indices(&base)?;
        if indices.is_empty() {
            // awsQuery writes an empty list as `Name=`.
            return Ok(match (self.dialect, self.params.get(key)) {
                (Dialect::Query, Some(v)) if v.is_empty() => Some(Value::Array(vec![])),
                _ => None,
            });
        }
        let mut out = Vec::with_capacity(indices.len());
        for n in indices {
            if let Some(v) = self.value(item_shape, None, &format!("{base}.{n}"), depth + 1)? {
                out.push(v);
            }
        }
        // Only `Name=` means an empty list; indices whose keys decode to nothing do not.
        Ok((!out.is_empty()).then_some(Value::Array(out)))
    }

    fn map(
        &self,
        ms: &MapShape,
        member: Option<&Member>,
        key: &str,
        depth: usize,
    ) -> Result<Option<Value>, AwsError> {
        let Some(value_shape) = self.model.shape(ms.value) else {
            return Ok(None);
        };
        let flattened = ms.flattened || member.is_some_and(|m| m.flattened);
        let base = if flattened {
            key.to_owned()
        } else {
            format!("{key}.entry")
        };
        let indices = self.indices(&base)?;
        if indices.is_empty() {
            return Ok(None);
        }
        let key_name = ms.key_location_name.unwrap_or("key");
        let value_name = ms.value_location_name.unwrap_or("value");
        let mut out = Map::new();
        for n in indices {
            let Some(k) = self.params.get(&format!("{base}.{n}.{key_name}")) else {
                continue;
            };
            if let Some(v) = self.value(
                value_shape,
                None,
                &format!("{base}.{n}.{value_name}"),
                depth + 1,
            )? {
                out.insert(k.clone(), v);
            }
        }
        Ok((!out.is_empty()).then_some(Value::Object(out)))
    }
}

/// Decode the input of an operation from merged form parameters.
pub(crate) fn decode_input(
    model: &ServiceModel,
    dialect: Dialect,
    input: Option<&str>,
    params: &BTreeMap<String, String>,
) -> Result<Value, AwsError> {
    let dec = FormDecoder {
        model,
        dialect,
        params,
    };
    match input.and_then(|n| model.shape(n)).map(|s| &s.kind) {
        Some(ShapeKind::Structure(st)) => Ok(Value::Object(dec.structure(st, "", 0)?)),
        _ => Ok(Value::Object(Map::new())),
    }
}
