//! A small hand-built service model for the codec unit tests, covering every construct the
//! codecs handle (lists with and without member names, flattened lists, maps, nested
//! structures, timestamps, blobs, URI labels, header and query-string members, payloads).
//! The same tables serve all four protocols; only `ServiceModel::protocol` differs.

use super::{HttpRequest, HttpResponse};
use crate::schema::*;
use bytes::Bytes;

const fn mem(name: &'static str, shape: &'static str) -> Member {
    Member {
        name,
        shape,
        location: Location::Body,
        location_name: None,
        query_name: None,
        flattened: false,
        idempotency_token: false,
        xml_attribute: false,
        json_value: false,
        timestamp_format: None,
        deprecated: false,
    }
}

const fn loc(name: &'static str, shape: &'static str, wire: &'static str) -> Member {
    Member {
        location_name: Some(wire),
        ..mem(name, shape)
    }
}

const fn at(
    name: &'static str,
    shape: &'static str,
    location: Location,
    wire: &'static str,
) -> Member {
    Member {
        location,
        location_name: Some(wire),
        ..mem(name, shape)
    }
}

const fn shape(name: &'static str, kind: ShapeKind) -> Shape {
    Shape {
        name,
        kind,
        min: None,
        max: None,
        pattern: None,
        sensitive: false,
    }
}

const fn st(
    name: &'static str,
    members: &'static [Member],
    required: &'static [&'static str],
) -> Shape {
    shape(
        name,
        ShapeKind::Structure(StructureShape {
            members,
            required,
            payload: None,
            error: None,
        }),
    )
}

const fn list(
    name: &'static str,
    member: &'static str,
    member_location_name: Option<&'static str>,
) -> Shape {
    shape(
        name,
        ShapeKind::List(ListShape {
            member,
            member_location_name,
            flattened: false,
        }),
    )
}

const STRING: ShapeKind = ShapeKind::String { enum_values: &[] };

const fn op(
    name: &'static str,
    method: &'static str,
    uri: &'static str,
    input: Option<&'static str>,
    output: Option<&'static str>,
) -> Operation {
    Operation {
        name,
        http_method: method,
        request_uri: uri,
        response_code: 200,
        input,
        output,
        result_wrapper: None,
        errors: &[],
        unsigned_payload: false,
    }
}

static OPERATIONS: &[Operation] = &[
    op(
        "CreateThing",
        "POST",
        "/",
        Some("CreateThingInput"),
        Some("CreateThingOutput"),
    ),
    op(
        "Describe",
        "POST",
        "/",
        Some("DescribeInput"),
        Some("DescribeOutput"),
    ),
    op(
        "Encrypt",
        "POST",
        "/",
        Some("EncryptRequest"),
        Some("EncryptResponse"),
    ),
    op(
        "GetBlock",
        "GET",
        "/snapshots/{snapshotId}/blocks/{blockIndex}",
        Some("GetBlockRequest"),
        Some("GetBlockResponse"),
    ),
    op(
        "GetFile",
        "GET",
        "/files/{Key+}",
        Some("GetFileRequest"),
        None,
    ),
    op(
        "ListPoints",
        "GET",
        "/vaults/{vaultName}/points/{pointArn}",
        Some("ListPointsInput"),
        Some("ListPointsOutput"),
    ),
    op("NoIo", "POST", "/", None, None),
    Operation {
        response_code: 201,
        ..op(
            "PutBlock",
            "PUT",
            "/snapshots/{snapshotId}/blocks/{blockIndex}",
            Some("PutBlockRequest"),
            Some("PutBlockResponse"),
        )
    },
    op(
        "PutConfig",
        "POST",
        "/config",
        Some("PutConfigRequest"),
        Some("PutConfigResponse"),
    ),
    Operation {
        result_wrapper: Some("CreateThingResult"),
        ..op(
            "QueryCreate",
            "POST",
            "/",
            Some("CreateThingInput"),
            Some("CreateThingOutput"),
        )
    },
];

static SHAPES: &[Shape] = &[
    shape(
        "AttrMap",
        ShapeKind::Map(MapShape {
            key: "String",
            value: "String",
            key_location_name: Some("Name"),
            value_location_name: Some("Value"),
            flattened: false,
        }),
    ),
    shape("Blob", ShapeKind::Blob { streaming: false }),
    shape("Boolean", ShapeKind::Boolean),
    st("Config", &[mem("A", "String"), mem("B", "Integer")], &[]),
    shape(
        "ContextMapType",
        ShapeKind::Map(MapShape {
            key: "String",
            value: "String",
            key_location_name: None,
            value_location_name: None,
            flattened: false,
        }),
    ),
    st(
        "CreateThingInput",
        &[
            mem("Name", "NameString"),
            mem("Tags", "TagList"),
            mem("VpcSecurityGroupIds", "SgList"),
            mem("Attrs", "AttrMap"),
            mem("Plain", "PlainList"),
            mem("Flat", "FlatList"),
            mem("Count", "Integer"),
            mem("Enabled", "Boolean"),
            mem("When", "Timestamp"),
            mem("Nested", "Nested"),
            mem("Mode", "Mode"),
            mem("Secret", "SecretString"),
        ],
        &["Name"],
    ),
    st("CreateThingOutput", &[mem("Thing", "Thing")], &[]),
    st(
        "CreateVolumePermission",
        &[
            loc("Group", "String", "group"),
            loc("UserId", "String", "userId"),
        ],
        &[],
    ),
    list(
        "CreateVolumePermissionList",
        "CreateVolumePermission",
        Some("item"),
    ),
    st(
        "CreateVolumePermissionModifications",
        &[
            mem("Add", "CreateVolumePermissionList"),
            mem("Remove", "CreateVolumePermissionList"),
        ],
        &[],
    ),
    st(
        "DescribeInput",
        &[
            loc("Filters", "FilterList", "Filter"),
            loc("OwnerIds", "OwnerList", "Owner"),
            mem("MaxResults", "Integer"),
            loc("DryRun", "Boolean", "dryRun"),
            Member {
                query_name: Some("Size"),
                ..loc("VolumeSize", "Integer", "size")
            },
            mem("StartTime", "Timestamp"),
            mem(
                "CreateVolumePermission",
                "CreateVolumePermissionModifications",
            ),
            mem("Data", "Blob"),
            mem("Ratio", "Double"),
            mem("Big", "Long"),
        ],
        &["OwnerIds"],
    ),
    st(
        "DescribeOutput",
        &[
            loc("Snapshots", "SnapshotList", "snapshotSet"),
            loc("NextToken", "String", "nextToken"),
        ],
        &[],
    ),
    shape("Double", ShapeKind::Double),
    st(
        "EncryptRequest",
        &[
            mem("KeyId", "KeyIdType"),
            mem("Plaintext", "PlaintextType"),
            mem("EncryptionContext", "ContextMapType"),
            mem("Tags", "TagList"),
            mem("Limit", "LimitType"),
            mem("When", "Timestamp"),
            mem("Flag", "Boolean"),
            mem("Ratio", "Double"),
        ],
        &["KeyId"],
    ),
    st(
        "EncryptResponse",
        &[
            mem("KeyId", "String"),
            mem("CiphertextBlob", "Blob"),
            mem("When", "Timestamp"),
        ],
        &[],
    ),
    st(
        "Filter",
        &[
            mem("Name", "String"),
            loc("Values", "ValueStringList", "Value"),
        ],
        &[],
    ),
    list("FilterList", "Filter", Some("Filter")),
    shape(
        "FlatList",
        ShapeKind::List(ListShape {
            member: "String",
            member_location_name: Some("FlatItem"),
            flattened: true,
        }),
    ),
    st(
        "GetBlockRequest",
        &[
            at("SnapshotId", "String", Location::Uri, "snapshotId"),
            at("BlockIndex", "Integer", Location::Uri, "blockIndex"),
            at("BlockToken", "String", Location::QueryString, "blockToken"),
        ],
        &["SnapshotId", "BlockIndex", "BlockToken"],
    ),
    Shape {
        kind: ShapeKind::Structure(StructureShape {
            members: &[
                at(
                    "DataLength",
                    "Integer",
                    Location::Header,
                    "x-amz-Data-Length",
                ),
                at("Checksum", "String", Location::Header, "x-amz-Checksum"),
                mem("BlockData", "StreamBlob"),
            ],
            required: &[],
            payload: Some("BlockData"),
            error: None,
        }),
        ..shape("GetBlockResponse", STRING)
    },
    st(
        "GetFileRequest",
        &[at("Key", "String", Location::Uri, "Key")],
        &["Key"],
    ),
    shape("Integer", ShapeKind::Integer),
    Shape {
        min: Some(1),
        max: Some(20),
        ..shape("KeyIdType", STRING)
    },
    Shape {
        min: Some(1),
        max: Some(100),
        ..shape("LimitType", ShapeKind::Integer)
    },
    st(
        "ListPointsInput",
        &[
            at("VaultName", "String", Location::Uri, "vaultName"),
            at("PointArn", "String", Location::Uri, "pointArn"),
            at(
                "CreatedBefore",
                "Timestamp",
                Location::QueryString,
                "createdBefore",
            ),
            at("MaxResults", "Integer", Location::QueryString, "maxResults"),
            at("States", "PlainList", Location::QueryString, "state"),
            at("ByFlag", "Boolean", Location::QueryString, "flag"),
            at("Since", "Timestamp", Location::Header, "x-since"),
            at("Meta", "AttrMap", Location::Headers, "x-meta-"),
            mem("Name", "String"),
            mem("Tags", "TagList"),
        ],
        &["VaultName", "PointArn"],
    ),
    st(
        "ListPointsOutput",
        &[
            mem("Points", "PointList"),
            mem("NextToken", "String"),
            mem("Created", "Timestamp"),
            at("Etag", "String", Location::Header, "ETag"),
        ],
        &[],
    ),
    shape("Long", ShapeKind::Long),
    shape(
        "Mode",
        ShapeKind::String {
            enum_values: &["fast", "slow"],
        },
    ),
    Shape {
        min: Some(1),
        max: Some(8),
        ..shape("NameString", STRING)
    },
    st(
        "Nested",
        &[mem("Inner", "PlainList"), mem("Deeper", "Nested")],
        &[],
    ),
    list("OwnerList", "String", Some("Owner")),
    shape(
        "PlainList",
        ShapeKind::List(ListShape {
            member: "String",
            member_location_name: None,
            flattened: false,
        }),
    ),
    Shape {
        sensitive: true,
        min: Some(1),
        max: Some(4096),
        ..shape("PlaintextType", ShapeKind::Blob { streaming: false })
    },
    st("Point", &[mem("Arn", "String"), mem("Size", "Long")], &[]),
    list("PointList", "Point", None),
    Shape {
        kind: ShapeKind::Structure(StructureShape {
            members: &[
                at("SnapshotId", "String", Location::Uri, "snapshotId"),
                at("BlockIndex", "Integer", Location::Uri, "blockIndex"),
                mem("BlockData", "StreamBlob"),
                at(
                    "DataLength",
                    "Integer",
                    Location::Header,
                    "x-amz-Data-Length",
                ),
                at("Checksum", "String", Location::Header, "x-amz-Checksum"),
                at("Progress", "Integer", Location::Header, "x-amz-Progress"),
            ],
            required: &["SnapshotId", "BlockIndex", "BlockData", "DataLength"],
            payload: Some("BlockData"),
            error: None,
        }),
        ..shape("PutBlockRequest", STRING)
    },
    st(
        "PutBlockResponse",
        &[
            at("Checksum", "String", Location::Header, "x-amz-Checksum"),
            at(
                "ChecksumAlgorithm",
                "String",
                Location::Header,
                "x-amz-Checksum-Algorithm",
            ),
        ],
        &[],
    ),
    Shape {
        kind: ShapeKind::Structure(StructureShape {
            members: &[mem("Config", "Config")],
            required: &[],
            payload: Some("Config"),
            error: None,
        }),
        ..shape("PutConfigRequest", STRING)
    },
    st("PutConfigResponse", &[mem("Ok", "Boolean")], &[]),
    Shape {
        sensitive: true,
        max: Some(4),
        ..shape("SecretString", STRING)
    },
    list("SgList", "String", Some("VpcSecurityGroupId")),
    st(
        "Snapshot",
        &[
            loc("SnapshotId", "String", "snapshotId"),
            loc("StartTime", "Timestamp", "startTime"),
            loc("VolumeSize", "Integer", "volumeSize"),
            loc("Encrypted", "Boolean", "encrypted"),
            loc("Tags", "TagList", "tagSet"),
            loc("Description", "String", "description"),
        ],
        &[],
    ),
    list("SnapshotList", "Snapshot", Some("item")),
    shape("StreamBlob", ShapeKind::Blob { streaming: true }),
    shape("String", STRING),
    st(
        "Tag",
        &[mem("TagKey", "TagKeyType"), mem("TagValue", "String")],
        &["TagKey"],
    ),
    Shape {
        min: Some(1),
        max: Some(128),
        ..shape("TagKeyType", STRING)
    },
    list("TagList", "Tag", Some("Tag")),
    st(
        "Thing",
        &[
            mem("Name", "String"),
            mem("Tags", "TagList"),
            mem("Attrs", "AttrMap"),
            mem("Flat", "FlatList"),
            mem("Created", "Timestamp"),
            mem("Enabled", "Boolean"),
            mem("Count", "Integer"),
            mem("Plain", "PlainList"),
            mem("Data", "Blob"),
        ],
        &[],
    ),
    shape("Timestamp", ShapeKind::Timestamp { format: None }),
    list("ValueStringList", "String", Some("item")),
];

macro_rules! model {
    ($name:ident, $proto:expr) => {
        pub(crate) static $name: ServiceModel = ServiceModel {
            name: "test",
            protocol: $proto,
            api_version: "2020-01-01",
            signing_name: "test",
            target_prefix: Some("TestService"),
            json_version: Some("1.1"),
            xml_namespace: Some("http://test.amazonaws.com/doc/2020-01-01/"),
            operations: OPERATIONS,
            all_operation_names: &[],
            unscoped_routes: &[],
            shapes: SHAPES,
        };
    };
}

model!(TEST, Protocol::Json);
model!(TEST_EC2, Protocol::Ec2);
model!(TEST_QUERY, Protocol::Query);
model!(TEST_REST, Protocol::RestJson);

/// An owned request for tests; [`TestReq::req`] borrows it as the codec's [`HttpRequest`].
pub(crate) struct TestReq {
    method: String,
    path: String,
    query: String,
    headers: http::HeaderMap,
    body: Bytes,
}

impl TestReq {
    pub(crate) fn new(
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Self {
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        TestReq {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers: map,
            body: Bytes::copy_from_slice(body),
        }
    }

    pub(crate) fn req(&self) -> HttpRequest<'_> {
        HttpRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
        }
    }
}

/// A response header, looked up case-insensitively.
pub(crate) fn header<'a>(r: &'a HttpResponse, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[test]
fn tables_are_sorted_and_complete() {
    assert!(
        SHAPES.windows(2).all(|w| w[0].name < w[1].name),
        "shapes not sorted"
    );
    assert!(
        OPERATIONS.windows(2).all(|w| w[0].name < w[1].name),
        "operations not sorted"
    );
    for s in SHAPES {
        let targets: Vec<&str> = match &s.kind {
            ShapeKind::Structure(st) => st.members.iter().map(|m| m.shape).collect(),
            ShapeKind::List(l) => vec![l.member],
            ShapeKind::Map(m) => vec![m.key, m.value],
            _ => vec![],
        };
        for t in targets {
            assert!(
                TEST.shape(t).is_some(),
                "{} references missing shape {t}",
                s.name
            );
        }
    }
}
