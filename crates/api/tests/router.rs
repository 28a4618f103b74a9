//! Router table: requests as AWS SDKs send them (docs/protocols.md §2, §4–§8) → (service, operation),
//! found before authentication.

use bytes::Bytes;
use http::HeaderMap;
use kmsnap_api::proto::HttpRequest;
use kmsnap_api::router::{route, OpMatch, RouteError};
use kmsnap_api::schema::Protocol;

fn auth(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=111111111111/20261123/ap-northeast-1/{service}/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000"
    )
}

struct Case {
    method: &'static str,
    path: &'static str,
    query: &'static str,
    headers: &'static [(&'static str, &'static str)],
    signing: Option<&'static str>,
    body: &'static str,
    want: Result<(&'static str, &'static str), &'static str>,
}

const FORM: (&str, &str) = (
    "content-type",
    "application/x-www-form-urlencoded; charset=utf-8",
);
const JSON11: (&str, &str) = ("content-type", "application/x-amz-json-1.1");

const CASES: &[Case] = &[
    Case { method: "POST", path: "/", query: "", headers: &[JSON11, ("x-amz-target", "TrentService.Encrypt")], signing: Some("kms"), body: "{}", want: Ok(("kms", "Encrypt")) },
    Case { method: "POST", path: "/", query: "", headers: &[JSON11, ("x-amz-target", "TrentService.CreateCustomKeyStore")], signing: Some("kms"), body: "{}", want: Ok(("kms", "CreateCustomKeyStore")) },
    Case { method: "POST", path: "/", query: "", headers: &[JSON11, ("x-amz-target", "TrentService.Nope")], signing: Some("kms"), body: "{}", want: Err("UnknownOperationException") },
    Case { method: "POST", path: "/", query: "", headers: &[JSON11, ("x-amz-target", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents")], signing: Some("cloudtrail"), body: "{}", want: Ok(("cloudtrail", "LookupEvents")) },
    // Not in kmsnap's scope but an AWS operation: routed, answered NotImplemented later.
    Case { method: "POST", path: "/", query: "", headers: &[JSON11, ("x-amz-target", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.CreateTrail")], signing: Some("cloudtrail"), body: "{}", want: Ok(("cloudtrail", "CreateTrail")) },
    Case { method: "POST", path: "/", query: "", headers: &[FORM], signing: Some("ec2"), body: "Action=CopySnapshot&Version=2016-11-15&SourceRegion=ap-northeast-1", want: Ok(("ec2", "CopySnapshot")) },
    Case { method: "POST", path: "/", query: "", headers: &[FORM], signing: Some("ec2"), body: "Action=DescribeInstances&Version=2016-11-15", want: Ok(("ec2", "DescribeInstances")) },
    Case { method: "POST", path: "/", query: "", headers: &[FORM], signing: Some("ec2"), body: "Action=Bogus&Version=2016-11-15", want: Err("InvalidAction") },
    Case { method: "POST", path: "/", query: "", headers: &[FORM], signing: Some("ec2"), body: "Version=2016-11-15", want: Err("MissingAction") },
    Case { method: "POST", path: "/", query: "", headers: &[FORM], signing: Some("rds"), body: "Action=CopyDBSnapshot&Version=2014-10-31", want: Ok(("rds", "CopyDBSnapshot")) },
    Case { method: "POST", path: "/", query: "", headers: &[FORM], signing: Some("sts"), body: "Action=GetCallerIdentity&Version=2011-06-15", want: Ok(("sts", "GetCallerIdentity")) },
    Case { method: "POST", path: "/", query: "", headers: &[FORM], signing: Some("iam"), body: "Action=CreateUser&Version=2010-05-08&UserName=a", want: Ok(("iam", "CreateUser")) },
    // Presigned GET: the operation is in the URL query.
    Case { method: "GET", path: "/", query: "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=111111111111%2F20261123%2Fus-east-1%2Fsts%2Faws4_request", headers: &[], signing: None, body: "", want: Ok(("sts", "GetCallerIdentity")) },
    // Unsigned form requests: Version picks the service.
    Case { method: "POST", path: "/", query: "", headers: &[FORM], signing: None, body: "Action=DescribeSnapshots&Version=2016-11-15", want: Ok(("ec2", "DescribeSnapshots")) },
    Case { method: "POST", path: "/", query: "", headers: &[FORM], signing: None, body: "Action=DescribeDBSnapshots&Version=2014-10-31", want: Ok(("rds", "DescribeDBSnapshots")) },
    // EBS direct (restJson).
    Case { method: "POST", path: "/snapshots", query: "", headers: &[], signing: Some("ebs"), body: "{}", want: Ok(("ebs", "StartSnapshot")) },
    Case { method: "PUT", path: "/snapshots/snap-0a1b2c3d4e5f67890/blocks/7", query: "", headers: &[], signing: Some("ebs"), body: "", want: Ok(("ebs", "PutSnapshotBlock")) },
    Case { method: "GET", path: "/snapshots/snap-0a1b2c3d4e5f67890/blocks/7", query: "blockToken=abc", headers: &[], signing: Some("ebs"), body: "", want: Ok(("ebs", "GetSnapshotBlock")) },
    Case { method: "GET", path: "/snapshots/snap-0a1b2c3d4e5f67890/blocks", query: "maxResults=100", headers: &[], signing: Some("ebs"), body: "", want: Ok(("ebs", "ListSnapshotBlocks")) },
    Case { method: "GET", path: "/snapshots/snap-0a1b2c3d4e5f67890/changedblocks", query: "firstSnapshotId=snap-1", headers: &[], signing: Some("ebs"), body: "", want: Ok(("ebs", "ListChangedBlocks")) },
    Case { method: "POST", path: "/snapshots/completion/snap-0a1b2c3d4e5f67890", query: "", headers: &[], signing: Some("ebs"), body: "", want: Ok(("ebs", "CompleteSnapshot")) },
    Case { method: "PUT", path: "/snapshots/completion/snap-0a1b2c3d4e5f67890", query: "", headers: &[], signing: Some("ebs"), body: "", want: Err("UnknownOperationException") },
    // Unsigned EBS: the path prefix decides.
    Case { method: "POST", path: "/snapshots", query: "", headers: &[], signing: None, body: "{}", want: Ok(("ebs", "StartSnapshot")) },
    // Backup (restJson), including a recovery-point ARN in the path.
    Case { method: "PUT", path: "/copy-jobs", query: "", headers: &[], signing: Some("backup"), body: "{}", want: Ok(("backup", "StartCopyJob")) },
    Case { method: "GET", path: "/backup-vaults/vault-b/recovery-points/arn%3Aaws%3Aec2%3Aus-west-2%3A%3Asnapshot%2Fsnap-0fedcba9876543210", query: "", headers: &[], signing: Some("backup"), body: "", want: Ok(("backup", "DescribeRecoveryPoint")) },
    Case { method: "GET", path: "/backup-vaults/", query: "", headers: &[], signing: Some("backup"), body: "", want: Ok(("backup", "ListBackupVaults")) },
];

#[test]
fn routes_aws_example_requests() {
    let mut failures = Vec::new();
    for (i, c) in CASES.iter().enumerate() {
        let mut headers = HeaderMap::new();
        for (k, v) in c.headers {
            headers.insert(*k, v.parse().unwrap());
        }
        if let Some(s) = c.signing {
            headers.insert("authorization", auth(s).parse().unwrap());
        }
        let body = Bytes::from_static(c.body.as_bytes());
        let req = HttpRequest {
            method: c.method,
            path: c.path,
            query: c.query,
            headers: &headers,
            body: &body,
        };
        let got = route(&req);
        let ok = match (&got, c.want) {
            (Ok(r), Ok((svc, op))) => r.service.name == svc && r.operation_name() == op,
            (Err(e), Err(code)) => e.to_aws_error().code == code,
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "case {i} {} {}: want {:?}, got {:?}",
                c.method,
                c.path,
                c.want,
                got.map(|r| (r.service.name, r.operation_name()))
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn in_scope_and_not_in_scope_are_told_apart() {
    let mut headers = HeaderMap::new();
    headers.insert("x-amz-target", "TrentService.Encrypt".parse().unwrap());
    let body = Bytes::from_static(b"{}");
    let req = HttpRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body: &body,
    };
    assert!(matches!(route(&req).unwrap().op, OpMatch::InScope(_)));

    let mut headers = HeaderMap::new();
    headers.insert("content-type", FORM.1.parse().unwrap());
    let body = Bytes::from_static(b"Action=RunInstances&Version=2016-11-15");
    let req = HttpRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body: &body,
    };
    assert!(matches!(
        route(&req).unwrap().op,
        OpMatch::NotInScope("RunInstances")
    ));

    // restJson: an operation of the model outside the allowlist is found by its URI too.
    for (method, path, want) in [
        ("POST", "/audit/report-plans", "CreateReportPlan"),
        ("GET", "/audit/report-plans/daily", "DescribeReportPlan"),
        ("GET", "/legal-holds/", "ListLegalHolds"),
    ] {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", auth("backup").parse().unwrap());
        let req = HttpRequest {
            method,
            path,
            query: "",
            headers: &headers,
            body: &body,
        };
        match route(&req).unwrap().op {
            OpMatch::NotInScope(name) => assert_eq!(name, want, "{method} {path}"),
            OpMatch::InScope(o) => panic!("{method} {path} routed to {}", o.name),
        }
    }
}

#[test]
fn unroutable_requests_get_the_protocols_error() {
    let headers = HeaderMap::new();
    let empty = Bytes::new();
    let req = HttpRequest {
        method: "GET",
        path: "/favicon.ico",
        query: "",
        headers: &headers,
        body: &empty,
    };
    let e = route(&req).unwrap_err();
    assert!(matches!(e, RouteError::UnknownService { .. }));
    let json = Bytes::from_static(b"{\"a\":1}");
    let req = HttpRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body: &json,
    };
    assert_eq!(route(&req).unwrap_err().protocol(), Protocol::Json);
}
