//! EC2 query codec.
//!
//! Requests are form-encoded (`Action`, `Version`, then the members flattened with EC2's names:
//! `queryName`, else the capitalised `locationName`, else the member name; lists as `Name.N`
//! without a `.member.` segment). Responses are `<{Op}Response>` with `<requestId>` first and the
//! output members directly under the root (no `Result` wrapper); errors use EC2's own
//! `<Response><Errors><Error>` envelope with `<RequestID>`.

use super::common::{request_id_header, xml_escape_into};
use super::form::{decode_input, parse_params, Dialect};
use super::xml_out::XmlWriter;
use super::{Decoded, HttpRequest, HttpResponse};
use crate::error::AwsError;
use crate::schema::{Operation, ServiceModel, ShapeKind};
use bytes::Bytes;
use serde_json::Value;

const CONTENT_TYPE: &str = "text/xml;charset=UTF-8";

/// The namespace of EC2 responses.
fn namespace(model: &ServiceModel) -> String {
    match model.xml_namespace {
        Some(ns) => ns.to_owned(),
        None => format!("http://ec2.amazonaws.com/doc/{}/", model.api_version),
    }
}

pub fn decode_request(
    model: &ServiceModel,
    op: &Operation,
    req: &HttpRequest<'_>,
) -> Result<Decoded, AwsError> {
    let params = parse_params(req.query, req.body);
    let input = decode_input(model, Dialect::Ec2, op.input, &params)?;
    Ok(Decoded {
        input,
        payload: None,
    })
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
        dialect: Dialect::Ec2,
        out: String::with_capacity(256),
    };
    w.out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
    w.out.push_str(&root);
    w.out.push_str(" xmlns=\"");
    xml_escape_into(&mut w.out, &namespace(model));
    w.out.push_str("\">");
    w.text_element("requestId", request_id);
    let structure = op
        .output
        .and_then(|n| model.shape(n))
        .and_then(|s| match &s.kind {
            ShapeKind::Structure(st) if !st.members.is_empty() => Some(st),
            _ => None,
        });
    match structure {
        Some(st) => {
            if let Value::Object(obj) = output {
                w.members(st, obj, 0);
            }
        }
        // EC2 acknowledges operations without output (DeleteSnapshot, ModifySnapshotAttribute).
        None => w.text_element("return", "true"),
    }
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

pub fn encode_error(err: &AwsError, request_id: &str) -> HttpResponse {
    let mut out =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>");
    xml_escape_into(&mut out, &err.code);
    out.push_str("</Code><Message>");
    xml_escape_into(&mut out, &err.message);
    out.push_str("</Message></Error></Errors><RequestID>");
    xml_escape_into(&mut out, request_id);
    out.push_str("</RequestID></Response>");
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
    use crate::proto::testmodel::{header, TestReq, TEST_EC2};
    use serde_json::json;

    fn decode(body: &str) -> Result<Value, AwsError> {
        let t = TestReq::new("POST", "/", "", &[], body.as_bytes());
        decode_request(&TEST_EC2, TEST_EC2.operation("Describe").unwrap(), &t.req())
            .map(|d| d.input)
    }

    #[test]
    fn decodes_ec2_names_lists_and_nested_lists() {
        let v = decode(
            "Action=Describe&Version=2020-01-01&Owner.1=self&Owner.2=111111111111\
             &Filter.1.Name=status&Filter.1.Value.1=completed&Filter.1.Value.2=pending&Filter.2.Name=encrypted&Filter.2.Value.1=true\
             &MaxResults=5&DryRun=false&Size=8&StartTime=2025-11-23T07%3A00%3A00.500Z\
             &CreateVolumePermission.Add.1.UserId=999999999999&CreateVolumePermission.Add.2.Group=all\
             &Data=aGk%3D&Ratio=0.5&Big=9007199254740993&Unknown.1=x",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({
                "Filters": [{"Name":"status","Values":["completed","pending"]},{"Name":"encrypted","Values":["true"]}],
                "OwnerIds": ["self","111111111111"],
                "MaxResults": 5, "DryRun": false, "VolumeSize": 8, "StartTime": 1763881200.5,
                "CreateVolumePermission": {"Add": [{"UserId":"999999999999"},{"Group":"all"}]},
                "Data": "aGk=", "Ratio": 0.5, "Big": 9007199254740993_i64
            })
        );
    }

    #[test]
    fn url_query_is_merged_and_list_indices_order_elements() {
        let t = TestReq::new("GET", "/", "Action=Describe&Owner.10=b&Owner.2=a", &[], b"");
        let d =
            decode_request(&TEST_EC2, TEST_EC2.operation("Describe").unwrap(), &t.req()).unwrap();
        assert_eq!(d.input, json!({"OwnerIds": ["a", "b"]}));
    }

    #[test]
    fn bad_scalars_and_indices_are_invalid_parameter_value() {
        for bad in [
            "MaxResults=five",
            "DryRun=yes",
            "StartTime=never",
            "Data=%21%21",
            "Owner.0=x",
            "Owner.999999999=x",
            "Owner.99999999999999999999=x",
            "Owner.-1=x",
            "Owner.x=x",
            "Owner.=x",
            "Owner.+1=x",
            "Filter.1.Value.-1=x",
            "MaxResults=99999999999",
        ] {
            let e = decode(bad).unwrap_err();
            assert_eq!(
                (e.code.as_ref(), e.status),
                ("InvalidParameterValue", 400),
                "{bad}"
            );
        }
    }

    #[test]
    fn encodes_output_with_item_lists_and_request_id() {
        let out = json!({"Snapshots": [{"SnapshotId": "snap-1", "StartTime": 1763881200, "VolumeSize": 8, "Encrypted": true,
            "Tags": [{"TagKey": "Name", "TagValue": "a<b"}], "Description": null}], "NextToken": "t"});
        let r = encode_output(
            &TEST_EC2,
            TEST_EC2.operation("Describe").unwrap(),
            &out,
            "rid-1",
        );
        assert_eq!(r.status, 200);
        assert_eq!(header(&r, "content-type"), Some("text/xml;charset=UTF-8"));
        let body = std::str::from_utf8(&r.body).unwrap();
        assert_eq!(
            body,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeResponse xmlns=\"http://test.amazonaws.com/doc/2020-01-01/\"><requestId>rid-1</requestId>\
             <snapshotSet><item><snapshotId>snap-1</snapshotId><startTime>2025-11-23T07:00:00.000Z</startTime><volumeSize>8</volumeSize>\
             <encrypted>true</encrypted><tagSet><Tag><TagKey>Name</TagKey><TagValue>a&lt;b</TagValue></Tag></tagSet></item></snapshotSet>\
             <nextToken>t</nextToken></DescribeResponse>"
        );
    }

    #[test]
    fn operations_without_output_return_true() {
        let r = encode_output(
            &TEST_EC2,
            TEST_EC2.operation("NoIo").unwrap(),
            &Value::Null,
            "rid-2",
        );
        let body = std::str::from_utf8(&r.body).unwrap();
        assert!(body.ends_with("<NoIoResponse xmlns=\"http://test.amazonaws.com/doc/2020-01-01/\"><requestId>rid-2</requestId><return>true</return></NoIoResponse>"), "{body}");
    }

    #[test]
    fn error_envelope() {
        let e = AwsError::new(
            "InvalidSnapshot.NotFound",
            400,
            "The snapshot 'snap-1' does not exist.",
        );
        let r = encode_error(&e, "rid-3");
        assert_eq!(r.status, 400);
        assert_eq!(
            std::str::from_utf8(&r.body).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>InvalidSnapshot.NotFound</Code>\
             <Message>The snapshot &apos;snap-1&apos; does not exist.</Message></Error></Errors><RequestID>rid-3</RequestID></Response>"
        );
    }
}
