//! XML body writer shared by the EC2 query and awsQuery codecs.
//!
//! Elements are named by the member's `locationName`, else the member name. Lists are wrapped
//! (`<name><item>…</item></name>` for EC2, `<name><member>…</member></name>` or the list member's
//! `locationName` for awsQuery) unless flattened, in which case each element repeats the name.
//! Maps are `<name><entry><key>…</key><value>…</value></entry></name>` (or flattened). The output
//! mirrors what botocore's `QueryParser`/`EC2QueryParser` read back.

use super::common::{scalar_to_string, xml_escape_into, MAX_DEPTH};
use super::form::Dialect;
use crate::schema::{
    Location, Member, ServiceModel, Shape, ShapeKind, StructureShape, TimestampFormat,
};
use serde_json::{Map, Value};

pub(crate) struct XmlWriter<'a> {
    pub(crate) model: &'a ServiceModel,
    pub(crate) dialect: Dialect,
    pub(crate) out: String,
}

impl XmlWriter<'_> {
    pub(crate) fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    pub(crate) fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    pub(crate) fn text_element(&mut self, name: &str, text: &str) {
        self.open(name);
        xml_escape_into(&mut self.out, text);
        self.close(name);
    }

    /// Write the members of a structure (not its own element).
    pub(crate) fn members(&mut self, st: &StructureShape, obj: &Map<String, Value>, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        for m in st.members {
            if m.location != Location::Body {
                continue;
            }
            let (Some(v), Some(shape)) = (obj.get(m.name), self.model.shape(m.shape)) else {
                continue;
            };
            if v.is_null() {
                continue;
            }
            let name = m.location_name.unwrap_or(m.name);
            self.value(name, shape, Some(m), v, depth + 1);
        }
    }

    /// Write `v` of `shape` as element(s) named `name`.
    fn value(
        &mut self,
        name: &str,
        shape: &Shape,
        member: Option<&Member>,
        v: &Value,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        match (&shape.kind, v) {
            (ShapeKind::Structure(st), Value::Object(obj)) => {
                self.open(name);
                self.members(st, obj, depth + 1);
                self.close(name);
            }
            (ShapeKind::List(ls), Value::Array(items)) => {
                let Some(item_shape) = self.model.shape(ls.member) else {
                    return;
                };
                let flattened = ls.flattened || member.is_some_and(|m| m.flattened);
                if flattened {
                    let item_name = ls.member_location_name.unwrap_or(name);
                    for item in items.iter().filter(|x| !x.is_null()) {
                        self.value(item_name, item_shape, None, item, depth + 1);
                    }
                } else {
                    let default = match self.dialect {
                        Dialect::Ec2 => "item",
                        Dialect::Query => "member",
                    };
                    let item_name = ls.member_location_name.unwrap_or(default);
                    self.open(name);
                    for item in items.iter().filter(|x| !x.is_null()) {
                        self.value(item_name, item_shape, None, item, depth + 1);
                    }
                    self.close(name);
                }
            }
            (ShapeKind::Map(ms), Value::Object(obj)) => {
                let (Some(key_shape), Some(value_shape)) =
                    (self.model.shape(ms.key), self.model.shape(ms.value))
                else {
                    return;
                };
                let key_name = ms.key_location_name.unwrap_or("key");
                let value_name = ms.value_location_name.unwrap_or("value");
                let flattened = ms.flattened || member.is_some_and(|m| m.flattened);
                if !flattened {
                    self.open(name);
                }
                for (k, x) in obj.iter().filter(|(_, x)| !x.is_null()) {
                    let entry = if flattened { name } else { "entry" };
                    self.open(entry);
                    self.value(
                        key_name,
                        key_shape,
                        None,
                        &Value::String(k.clone()),
                        depth + 1,
                    );
                    self.value(value_name, value_shape, None, x, depth + 1);
                    self.close(entry);
                }
                if !flattened {
                    self.close(name);
                }
            }
            // A container shape given a value of the wrong JSON type: nothing sensible to write.
            (ShapeKind::Structure(_) | ShapeKind::List(_) | ShapeKind::Map(_), _) => {}
            _ => {
                let text = scalar_to_string(shape, member, v, TimestampFormat::Iso8601);
                self.text_element(name, &text);
            }
        }
    }
}
