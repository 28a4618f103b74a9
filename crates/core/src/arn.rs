//! Amazon Resource Names: `arn:partition:service:region:account:resource`.

use std::fmt;

/// A parsed ARN. Region and account may be empty (IAM, EC2 snapshots in Backup ARNs).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Arn {
    pub partition: String,
    pub service: String,
    pub region: String,
    pub account: String,
    pub resource: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid ARN")]
pub struct InvalidArn;

impl Arn {
    pub fn parse(s: &str) -> Result<Self, InvalidArn> {
        let mut parts = s.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some(service),
            Some(region),
            Some(account),
            Some(resource),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return Err(InvalidArn);
        };
        if partition.is_empty() || service.is_empty() || resource.is_empty() {
            return Err(InvalidArn);
        }
        Ok(Arn {
            partition: partition.to_owned(),
            service: service.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            resource: resource.to_owned(),
        })
    }

    pub fn new(service: &str, region: &str, account: &str, resource: &str) -> Self {
        Arn {
            partition: "aws".into(),
            service: service.into(),
            region: region.into(),
            account: account.into(),
            resource: resource.into(),
        }
    }
}

/// The kinds of RDS resource kmsnap names. RDS separates kind and name with `:`, not `/`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RdsKind {
    Db,
    Cluster,
    Snapshot,
    ClusterSnapshot,
}

impl RdsKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RdsKind::Db => "db",
            RdsKind::Cluster => "cluster",
            RdsKind::Snapshot => "snapshot",
            RdsKind::ClusterSnapshot => "cluster-snapshot",
        }
    }
}

/// Constructors for every ARN kmsnap builds, so the layouts (which separator, which part is
/// empty) live in one place. docs/arns.md lists them with AWS's documentation.
impl Arn {
    /// `arn:aws:kms:<region>:<account>:key/<key-id>`.
    pub fn kms_key(region: &str, account: &str, key_id: &str) -> Self {
        Arn::new("kms", region, account, &format!("key/{key_id}"))
    }

    /// `arn:aws:kms:<region>:<account>:alias/<name>`; `alias_name` includes the `alias/` prefix.
    pub fn kms_alias(region: &str, account: &str, alias_name: &str) -> Self {
        Arn::new("kms", region, account, alias_name)
    }

    /// `arn:aws:ec2:<region>:<account>:volume/<vol-id>`.
    pub fn ec2_volume(region: &str, account: &str, volume_id: &str) -> Self {
        Arn::new("ec2", region, account, &format!("volume/{volume_id}"))
    }

    /// `arn:aws:ec2:<region>::snapshot/<snap-id>`: EC2 snapshot ARNs carry no account.
    pub fn ec2_snapshot(region: &str, snapshot_id: &str) -> Self {
        Arn::new("ec2", region, "", &format!("snapshot/{snapshot_id}"))
    }

    /// `arn:aws:rds:<region>:<account>:<kind>:<name>`.
    pub fn rds(region: &str, account: &str, kind: RdsKind, name: &str) -> Self {
        Arn::new("rds", region, account, &format!("{}:{name}", kind.as_str()))
    }

    /// `arn:aws:backup:<region>:<account>:backup-vault:<name>`.
    pub fn backup_vault(region: &str, account: &str, name: &str) -> Self {
        Arn::new("backup", region, account, &format!("backup-vault:{name}"))
    }

    /// `arn:aws:backup:<region>:<account>:recovery-point:<id>`.
    pub fn backup_recovery_point(region: &str, account: &str, id: &str) -> Self {
        Arn::new("backup", region, account, &format!("recovery-point:{id}"))
    }

    /// `arn:aws:iam::<account>:root`.
    pub fn iam_root(account: &str) -> Self {
        Arn::new("iam", "", account, "root")
    }

    /// `arn:aws:iam::<account>:user<path><name>`; `path` starts and ends with `/`.
    pub fn iam_user(account: &str, path: &str, name: &str) -> Self {
        Arn::new("iam", "", account, &format!("user{path}{name}"))
    }

    /// `arn:aws:iam::<account>:role<path><name>`; `path` starts and ends with `/`.
    pub fn iam_role(account: &str, path: &str, name: &str) -> Self {
        Arn::new("iam", "", account, &format!("role{path}{name}"))
    }

    /// `arn:aws:iam::<account>:policy<path><name>`.
    pub fn iam_policy(account: &str, path: &str, name: &str) -> Self {
        Arn::new("iam", "", account, &format!("policy{path}{name}"))
    }

    /// `arn:aws:sts::<account>:assumed-role/<role-name>/<session>`.
    pub fn sts_assumed_role(account: &str, role_name: &str, session: &str) -> Self {
        Arn::new(
            "sts",
            "",
            account,
            &format!("assumed-role/{role_name}/{session}"),
        )
    }

    /// The resource after `<type><sep>` when the ARN is of `service` and its resource starts
    /// with `prefix` (e.g. `("kms", "key/")`, `("rds", "db:")`, `("backup", "backup-vault:")`).
    pub fn resource_id(&self, service: &str, prefix: &str) -> Option<&str> {
        if self.service != service {
            return None;
        }
        self.resource
            .strip_prefix(prefix)
            .filter(|rest| !rest.is_empty())
    }

    /// The key id of a KMS key ARN.
    pub fn kms_key_id(&self) -> Option<&str> {
        self.resource_id("kms", "key/")
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:{}:{}:{}:{}",
            self.partition, self.service, self.region, self.account, self.resource
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let s = "arn:aws:kms:ap-northeast-1:111111111111:key/0b3f2f9e-6a1d-4c1e-9a55-2f1c3d4e5f60";
        let a = Arn::parse(s).unwrap();
        assert_eq!(a.service, "kms");
        assert_eq!(a.region, "ap-northeast-1");
        assert_eq!(a.resource, "key/0b3f2f9e-6a1d-4c1e-9a55-2f1c3d4e5f60");
        assert_eq!(a.to_string(), s);
        let s3 = "arn:aws:ec2:us-west-2::snapshot/snap-0fedcba9876543210";
        assert_eq!(Arn::parse(s3).unwrap().account, "");
        assert!(Arn::parse("arn:aws:kms").is_err());
        assert!(Arn::parse("nope:aws:kms:r:a:x").is_err());
    }

    #[test]
    fn constructors_give_aws_layouts() {
        let r = "us-west-2";
        let a = "111122223333";
        let cases = [
            (
                Arn::kms_key(r, a, "k1"),
                "arn:aws:kms:us-west-2:111122223333:key/k1",
            ),
            (
                Arn::kms_alias(r, a, "alias/x"),
                "arn:aws:kms:us-west-2:111122223333:alias/x",
            ),
            (
                Arn::ec2_volume(r, a, "vol-1"),
                "arn:aws:ec2:us-west-2:111122223333:volume/vol-1",
            ),
            (
                Arn::ec2_snapshot(r, "snap-1"),
                "arn:aws:ec2:us-west-2::snapshot/snap-1",
            ),
            (
                Arn::rds(r, a, RdsKind::Db, "d"),
                "arn:aws:rds:us-west-2:111122223333:db:d",
            ),
            (
                Arn::rds(r, a, RdsKind::Cluster, "c"),
                "arn:aws:rds:us-west-2:111122223333:cluster:c",
            ),
            (
                Arn::rds(r, a, RdsKind::Snapshot, "s"),
                "arn:aws:rds:us-west-2:111122223333:snapshot:s",
            ),
            (
                Arn::rds(r, a, RdsKind::ClusterSnapshot, "s"),
                "arn:aws:rds:us-west-2:111122223333:cluster-snapshot:s",
            ),
            (
                Arn::backup_vault(r, a, "v"),
                "arn:aws:backup:us-west-2:111122223333:backup-vault:v",
            ),
            (
                Arn::backup_recovery_point(r, a, "p"),
                "arn:aws:backup:us-west-2:111122223333:recovery-point:p",
            ),
            (Arn::iam_root(a), "arn:aws:iam::111122223333:root"),
            (
                Arn::iam_user(a, "/", "alice"),
                "arn:aws:iam::111122223333:user/alice",
            ),
            (
                Arn::iam_role(a, "/p/", "r"),
                "arn:aws:iam::111122223333:role/p/r",
            ),
            (
                Arn::iam_policy(a, "/", "x"),
                "arn:aws:iam::111122223333:policy/x",
            ),
            (
                Arn::sts_assumed_role(a, "r", "s"),
                "arn:aws:sts::111122223333:assumed-role/r/s",
            ),
        ];
        for (arn, want) in cases {
            assert_eq!(arn.to_string(), want);
            assert_eq!(Arn::parse(want).unwrap(), arn);
        }
        let k = Arn::parse("arn:aws:kms:us-west-2:111122223333:key/k1").unwrap();
        assert_eq!(k.kms_key_id(), Some("k1"));
        assert_eq!(
            Arn::parse("arn:aws:kms:r:1:alias/x").unwrap().kms_key_id(),
            None
        );
        assert_eq!(
            Arn::parse("arn:aws:ec2:r:1:key/x").unwrap().kms_key_id(),
            None
        );
        assert_eq!(
            Arn::parse("arn:aws:kms:r:1:key/").unwrap().kms_key_id(),
            None
        );
        let d = Arn::rds(r, a, RdsKind::Db, "d");
        assert_eq!(d.resource_id("rds", "db:"), Some("d"));
    }
}
