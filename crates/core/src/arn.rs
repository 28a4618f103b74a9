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
}
