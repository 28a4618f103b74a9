//! What every mutating EC2 operation of EBS does the same way: its CloudTrail event (written
//! with [`append`] in the transaction of the change it records), the resource ARNs the event
//! names, the `DryRun` answer, and the form check of `vol-`/`snap-` ids.

use crate::error::EbsError;
use kmsnap_audit::Event;
use kmsnap_auth::RequestContext;
use kmsnap_core::arn::Arn;
use kmsnap_core::{AccountId, Region};
use kmsnap_store::WriteTxn;
use serde::Serialize;

/// `eventSource` of EC2 API calls.
pub const EC2_SOURCE: &str = "ec2.amazonaws.com";

/// An `AwsApiCall` event for EC2 operation `op` with its request parameters (secret-looking
/// members such as `ClientToken` are dropped by the audit crate's denylist).
pub fn event<T: Serialize>(ctx: &RequestContext, op: &str, input: &T) -> Event {
    Event::api_call(ctx, EC2_SOURCE, op, false).with_request_of("ec2", op, input)
}

/// `arn:aws:ec2:<region>:<account>:volume/<id>` (docs/arns.md).
pub fn volume_arn(region: Region, account: AccountId, id: &str) -> String {
    Arn::ec2_volume(region.as_str(), account.as_str(), id).to_string()
}

/// `arn:aws:ec2:<region>::snapshot/<id>` (snapshot ARNs carry no account, as in AWS).
pub fn snapshot_arn(region: Region, id: &str) -> String {
    Arn::ec2_snapshot(region.as_str(), id).to_string()
}

/// Adds the resource an EC2 event is about (`AWS::EC2::Volume` / `AWS::EC2::Snapshot`).
pub fn with_ec2_resource(e: Event, region: Region, account: AccountId, id: &str) -> Event {
    if id.starts_with("snap-") {
        e.with_resource("AWS::EC2::Snapshot", &snapshot_arn(region, id))
    } else {
        e.with_resource("AWS::EC2::Volume", &volume_arn(region, account, id))
    }
}

/// Writes `events` in `txn` (the change's own transaction).
pub fn append(txn: &mut dyn WriteTxn, events: &[Event]) -> Result<(), EbsError> {
    kmsnap_audit::append(txn, events).map_err(|e| {
        tracing::error!(error = %e, "ebs audit append");
        EbsError::Internal("audit")
    })
}

/// Records `events` in `txn` and commits it: the change and its audit record together.
pub fn commit(mut txn: Box<dyn WriteTxn + '_>, events: &[Event]) -> Result<(), EbsError> {
    append(txn.as_mut(), events)?;
    txn.commit()?;
    Ok(())
}

/// `DryRun=true`: EC2's 412 `DryRunOperation`, once the checks a real call makes first passed.
pub fn dry_run(flag: Option<bool>) -> Result<(), EbsError> {
    if flag == Some(true) {
        return Err(EbsError::DryRun);
    }
    Ok(())
}

/// Whether `id` has the form of an EC2 id with `prefix` (`vol`, `snap`): the prefix, a dash and
/// 8 or 17 lowercase hex digits.
pub fn well_formed(prefix: &str, id: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('-'))
        .is_some_and(|h| {
            matches!(h.len(), 8 | 17)
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// `Ok` when `id`, given in the single-id parameter EC2 calls `param` (`volumeId`,
/// `snapshotId`, `sourceSnapshotId`), is a well-formed `kind` id; otherwise
/// `InvalidParameterValue` naming the parameter, whatever its prefix (docs/fidelity.md §4).
pub fn check_id(param: &'static str, kind: &'static str, id: &str) -> Result<(), EbsError> {
    if well_formed(kind, id) {
        return Ok(());
    }
    Err(EbsError::InvalidIdParameter {
        param,
        kind,
        id: id.to_owned(),
    })
}

/// The same for an id in a list parameter (`volumes`, `snapshots`): one without the `kind-`
/// prefix is `InvalidParameterValue` naming the list; one with it, but malformed after it, is
/// `Invalid…ID.Malformed` (docs/fidelity.md §4).
pub fn check_listed_id(param: &'static str, kind: &'static str, id: &str) -> Result<(), EbsError> {
    if well_formed(kind, id) {
        return Ok(());
    }
    if id.strip_prefix(kind).is_some_and(|r| r.starts_with('-')) {
        return Err(EbsError::MalformedId {
            kind,
            id: id.to_owned(),
        });
    }
    Err(EbsError::InvalidIdParameter {
        param,
        kind,
        id: id.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_forms() {
        assert!(well_formed("vol", "vol-0123456789abcdef0"));
        assert!(well_formed("vol", "vol-ffffffff"));
        assert!(well_formed("snap", "snap-0123456789abcdef0"));
        for bad in [
            "vol-",
            "vol-XYZ",
            "vol-0123456789ABCDEF0",
            "snap-0123456789abcdef0",
            "vol-123",
            "vol0123456789abcdef0",
        ] {
            assert!(!well_formed("vol", bad), "{bad}");
        }
    }

    #[test]
    fn arns() {
        let r = Region::parse("ap-northeast-1").unwrap();
        let a = AccountId::parse("123412341234").unwrap();
        assert_eq!(
            volume_arn(r, a, "vol-1"),
            "arn:aws:ec2:ap-northeast-1:123412341234:volume/vol-1"
        );
        assert_eq!(
            snapshot_arn(r, "snap-1"),
            "arn:aws:ec2:ap-northeast-1::snapshot/snap-1"
        );
    }

    #[test]
    fn refusals_name_the_parameter_or_the_malformed_id() {
        assert_eq!(check_id("volumeId", "vol", "vol-0123456789abcdef0"), Ok(()));
        for bad in ["standard", "vol-ahsg23h", "i-0123456789abcdef0"] {
            assert_eq!(
                check_id("volumeId", "vol", bad),
                Err(EbsError::InvalidIdParameter {
                    param: "volumeId",
                    kind: "vol",
                    id: bad.into()
                })
            );
        }
        assert_eq!(
            check_listed_id("volumes", "vol", "malformed-id"),
            Err(EbsError::InvalidIdParameter {
                param: "volumes",
                kind: "vol",
                id: "malformed-id".into()
            })
        );
        assert_eq!(
            check_listed_id("volumes", "vol", "vol-malformedvolume"),
            Err(EbsError::MalformedId {
                kind: "vol",
                id: "vol-malformedvolume".into()
            })
        );
        assert_eq!(
            check_listed_id("snapshots", "snap", "snap-0123456789abcdef0"),
            Ok(())
        );
    }
}
