//! awsQuery codec (RDS, STS, IAM).
//!
//! Requests are form-encoded like EC2's, but members keep their `locationName` (else member
//! name), lists carry the list member's name (`Tags.Tag.1.Key`, `Ids.member.1`) and maps are
//! `Name.entry.N.key/value`. Responses wrap the output in the operation's `resultWrapper` and add
//! `<ResponseMetadata><RequestId>`; errors are `<ErrorResponse>` with `Sender`/`Receiver`.

use super::common::{request_id_header, xml_escape_into};
use super::form::{decode_input, parse_params, Dialect};
use super::xml_out::XmlWriter;
use super::{Decoded, HttpRequest, HttpResponse};
use crate::error::AwsError;
use crate::schema::{Operation, ServiceModel, ShapeKind};
use bytes::Bytes;
use serde_json::Value;

const CONTENT_TYPE: &str = "text/xml";

/// The namespace of a query service's responses.
fn namespace(model: &ServiceModel) -> String {
    match model.xml_namespace {
        Some(ns) => ns.to_owned(),
        None => format!(
            "https://{}.amazonaws.com/doc/{}/",
            model.name, model.api_version
        ),
    }
}

pub fn decode_request(
    model: &ServiceModel,
    op: &Operation,
    req: &HttpRequest<'_>,
) -> Result<Decoded, AwsError> {
    let params = parse_params(req.query, req.body);
    let input = decode_input(model, Dialect::Query, op.input, &params)?;
    Ok(Decoded {
        input,
        payload: None,
    })
}

fn open_root(out: &mut String, name: &str, ns: Option<&str>) {
    out.push('<');
    out.push_str(name);
    if let Some(ns) = ns {
        out.push_str(" xmlns=\"");
        xml_escape_into(out, ns);
        out.push('"');
    }
    out.push('>');
}

pub fn encode_output(
    model: &ServiceModel,
    op: &Operation,
    output: &Value,
    request_id: &str,
) -> HttpResponse {
    let root = format!("{}Response", op.name);
    let mut w = XmlWriter {
        model,
        dialect: Dialect::Query,
        out: String::with_capacity(256),
    };
    w.out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    open_root(&mut w.out, &root, Some(&namespace(model)));
    let structure = op
        .output
        .and_then(|n| model.shape(n))
        .and_then(|s| match &s.kind {
            ShapeKind::Structure(st) => Some(st),
            _ => None,
        });
    if let Some(wrapper) = op.result_wrapper {
        w.open(wrapper);
    }
    if let (Some(st), Value::Object(obj)) = (structure, output) {
        w.members(st, obj, 0);
    }
    if let Some(wrapper) = op.result_wrapper {
        w.close(wrapper);
    }
    w.open("ResponseMetadata");
    w.text_element("RequestId", request_id);
    w.close("ResponseMetadata");
    w.close(&root);
    HttpResponse {
        status: 200,
        headers: vec![
            ("Content-Type".to_owned(), CONTENT_TYPE.to_owned()),
            request_id_header(request_id),
        ],
        body: Bytes::from(w.out),
    }
}

pub fn encode_error(ns: Option<&str>, err: &AwsError, request_id: &str) -> HttpResponse {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    open_root(&mut out, "ErrorResponse", ns);
    out.push_str("<Error><Type>");
    out.push_str(if err.sender_fault {
        "Sender"
    } else {
        "Receiver"
    });
    out.push_str("</Type><Code>");
    xml_escape_into(&mut out, &err.code);
    out.push_str("</Code><Message>");
    xml_escape_into(&mut out, &err.message);
    out.push_str("</Message></Error><RequestId>");
    xml_escape_into(&mut out, request_id);
    out.push_str("</RequestId></ErrorResponse>");
    HttpResponse {
        status: err.status,
        headers: vec![
            ("Content-Type".to_owned(), CONTENT_TYPE.to_owned()),
            request_id_header(request_id),
        ],
        body: Bytes::from(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::testmodel::{header, TestReq, TEST_QUERY};
    use serde_json::json;

    fn decode(body: &str) -> Result<Value, AwsError> {
        let t = TestReq::new("POST", "/", "", &[], body.as_bytes());
        decode_request(
            &TEST_QUERY,
            TEST_QUERY.operation("QueryCreate").unwrap(),
            &t.req(),
        )
        .map(|d| d.input)
    }

    #[test]
    fn decodes_member_names_maps_flattened_and_nested() {
        let v = decode(
            "Action=QueryCreate&Version=2020-01-01&Name=db1&Tags.Tag.1.TagKey=a&Tags.Tag.1.TagValue=b&Tags.Tag.2.TagKey=c\
             &VpcSecurityGroupIds.VpcSecurityGroupId.1=sg-1&VpcSecurityGroupIds.VpcSecurityGroupId.2=sg-2\
             &Attrs.entry.1.Name=k1&Attrs.entry.1.Value=v1&Attrs.entry.2.Name=k2&Attrs.entry.2.Value=v2\
             &Plain.member.1=p&FlatItem.1=f1&FlatItem.2=f2&Count=3&Enabled=true&When=2025-11-23T07%3A00%3A00Z\
             &Nested.Inner.member.1=i&Nested.Deeper.Inner.member.1=j&Mode=fast",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({
                "Name": "db1", "Tags": [{"TagKey":"a","TagValue":"b"},{"TagKey":"c"}],
                "VpcSecurityGroupIds": ["sg-1","sg-2"], "Attrs": {"k1":"v1","k2":"v2"}, "Plain": ["p"], "Flat": ["f1","f2"],
                "Count": 3, "Enabled": true, "When": 1763881200,
                "Nested": {"Inner": ["i"], "Deeper": {"Inner": ["j"]}}, "Mode": "fast"
            })
        );
    }

    #[test]
    fn empty_list_is_name_equals_nothing() {
        assert_eq!(
            decode("Name=x&Tags=").unwrap(),
            json!({"Name":"x","Tags":[]})
        );
    }

    #[test]
    fn deep_recursion_is_bounded() {
        let mut key = String::from("Nested");
        for _ in 0..200 {
            key.push_str(".Deeper");
        }
        let e = decode(&format!("{key}.Inner.member.1=x")).unwrap_err();
        assert_eq!(e.code, "InvalidParameterValue");
    }

    #[test]
    fn encodes_result_wrapper_lists_maps_and_metadata() {
        let out = json!({"Thing": {"Name": "db1", "Tags": [{"TagKey":"a","TagValue":"b"}], "Attrs": {"k":"v"}, "Flat": ["x","y"],
            "Created": 1763881200.5, "Enabled": false, "Count": 2.0, "Plain": [], "Data": "aGk="}});
        let r = encode_output(
            &TEST_QUERY,
            TEST_QUERY.operation("QueryCreate").unwrap(),
            &out,
            "rid-1",
        );
        assert_eq!(header(&r, "content-type"), Some("text/xml"));
        assert_eq!(
            std::str::from_utf8(&r.body).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<QueryCreateResponse xmlns=\"http://test.amazonaws.com/doc/2020-01-01/\"><CreateThingResult><Thing>\
             <Name>db1</Name><Tags><Tag><TagKey>a</TagKey><TagValue>b</TagValue></Tag></Tags>\
             <Attrs><entry><Name>k</Name><Value>v</Value></entry></Attrs><FlatItem>x</FlatItem><FlatItem>y</FlatItem>\
             <Created>2025-11-23T07:00:00.500Z</Created><Enabled>false</Enabled><Count>2</Count><Plain></Plain><Data>aGk=</Data>\
             </Thing></CreateThingResult><ResponseMetadata><RequestId>rid-1</RequestId></ResponseMetadata></QueryCreateResponse>"
        );
    }

    #[test]
    fn no_output_has_only_metadata() {
        let r = encode_output(
            &TEST_QUERY,
            TEST_QUERY.operation("NoIo").unwrap(),
            &json!({}),
            "rid-2",
        );
        assert!(std::str::from_utf8(&r.body).unwrap().ends_with(
            "<NoIoResponse xmlns=\"http://test.amazonaws.com/doc/2020-01-01/\"><ResponseMetadata><RequestId>rid-2</RequestId></ResponseMetadata></NoIoResponse>"
        ));
    }

    #[test]
    fn error_envelope_sender_and_receiver() {
        let e = AwsError::new("DBSnapshotNotFound", 404, "DBSnapshot not found: nosuch");
        let r = encode_error(
            Some("http://rds.amazonaws.com/doc/2014-10-31/"),
            &e,
            "rid-3",
        );
        assert_eq!(r.status, 404);
        assert_eq!(
            std::str::from_utf8(&r.body).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><Error><Type>Sender</Type>\
             <Code>DBSnapshotNotFound</Code><Message>DBSnapshot not found: nosuch</Message></Error><RequestId>rid-3</RequestId></ErrorResponse>"
        );
        let r = encode_error(None, &AwsError::internal("InternalFailure"), "rid-4");
        let body = std::str::from_utf8(&r.body).unwrap();
        assert!(
            body.contains("<ErrorResponse><Error><Type>Receiver</Type>"),
            "{body}"
        );
        assert_eq!(r.status, 500);
    }
}
