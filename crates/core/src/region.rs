//! AWS regions of the `aws` partition. A region outside this list is refused by SigV4 with the
//! service's "Credential should be scoped to a valid region" error, as AWS does.

use std::fmt;

/// Regions of the commercial `aws` partition (botocore's endpoints data, 2026).
pub const REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// A validated region name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(&'static str);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown region '{0}'")]
pub struct UnknownRegion(pub String);

impl Region {
    pub fn parse(s: &str) -> Result<Self, UnknownRegion> {
        REGIONS
            .binary_search(&s)
            .map(|i| Region(REGIONS[i]))
            .map_err(|_| UnknownRegion(s.to_owned()))
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }

    /// Availability zone names of this region (`<region>a`, `b`, `c`).
    pub fn zones(&self) -> [String; 3] {
        ["a", "b", "c"].map(|z| format!("{}{}", self.0, z))
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Region({})", self.0)
    }
}

impl serde::Serialize for Region {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Region {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Region::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_for_binary_search() {
        let mut v = REGIONS.to_vec();
        v.sort_unstable();
        assert_eq!(v, REGIONS);
    }

    #[test]
    fn parses_known_and_refuses_unknown() {
        assert_eq!(
            Region::parse("ap-northeast-1").unwrap().as_str(),
            "ap-northeast-1"
        );
        assert!(Region::parse("xx-nowhere-1").is_err());
        assert!(Region::parse("").is_err());
    }
}
