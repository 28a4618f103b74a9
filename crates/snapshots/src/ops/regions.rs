//! DescribeRegions (every region of [`kmsnap_core::region::REGIONS`], all enabled) and
//! DescribeAvailabilityZones (`<region>a`, `b`, `c` of the request's region), and the zone
//! checks CreateVolume makes. Zone ids follow AWS's form: the region's short code and `-azN`
//! (`ap-northeast-1a` → `apne1-az1`).

use super::filters::Filters;
use super::trail;
use crate::error::EbsError;
use kmsnap_api::gen::ec2;
use kmsnap_auth::RequestContext;
use kmsnap_core::region::REGIONS;
use kmsnap_core::Region;

const REGION_FILTERS: &[&str] = &["endpoint", "opt-in-status", "region-name"];
const ZONE_FILTERS: &[&str] = &[
    "group-name",
    "message",
    "opt-in-status",
    "region-name",
    "state",
    "zone-id",
    "zone-name",
    "zone-type",
    "group-long-name",
];

const OPT_IN_NOT_REQUIRED: &str = "opt-in-not-required";

/// `ap-northeast-1` → `apne1`, `us-west-2` → `usw2`, `eu-central-1` → `euc1`.
pub fn short_code(region: Region) -> String {
    let mut parts = region.as_str().split('-');
    let (area, dir, num) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let d = match dir {
        "northeast" => "ne",
        "northwest" => "nw",
        "southeast" => "se",
        "southwest" => "sw",
        "central" => "c",
        other => other.get(..1).unwrap_or_default(),
    };
    format!("{area}{d}{num}")
}

/// The zones of `region` as (name, id).
pub fn zones(region: Region) -> Vec<(String, String)> {
    let code = short_code(region);
    region
        .zones()
        .into_iter()
        .enumerate()
        .map(|(i, name)| (name, format!("{code}-az{}", i + 1)))
        .collect()
}

/// The zone a CreateVolume names (`AvailabilityZone` or `AvailabilityZoneId`), which must be
/// one of the request region's zones.
pub fn zone_for_volume(
    region: Region,
    name: Option<&str>,
    id: Option<&str>,
) -> Result<String, EbsError> {
    let all = zones(region);
    match (name, id) {
        (Some(_), Some(_)) => Err(EbsError::InvalidParameterCombination(
            "The parameters AvailabilityZone and AvailabilityZoneId cannot be used together".into(),
        )),
        (Some(n), None) => all
            .into_iter()
            .find(|(zn, _)| zn == n)
            .map(|(zn, _)| zn)
            .ok_or_else(|| EbsError::ZoneNotFound { zone: n.to_owned() }),
        (None, Some(i)) => all
            .into_iter()
            .find(|(_, zi)| zi == i)
            .map(|(zn, _)| zn)
            .ok_or_else(|| EbsError::ZoneNotFound { zone: i.to_owned() }),
        (None, None) => Err(EbsError::MissingParameter(
            "The request must contain the parameter AvailabilityZone".into(),
        )),
    }
}

/// The id of a zone name of `region`.
pub fn zone_id(region: Region, name: &str) -> Option<String> {
    zones(region)
        .into_iter()
        .find(|(zn, _)| zn == name)
        .map(|(_, id)| id)
}

pub fn describe_regions(
    ctx: &RequestContext,
    input: ec2::DescribeRegionsRequest,
) -> Result<ec2::DescribeRegionsResult, EbsError> {
    let _ = ctx;
    let filters = Filters::parse(input.filters, REGION_FILTERS)?;
    let names = input.region_names.unwrap_or_default();
    if let Some(bad) = names.iter().find(|n| Region::parse(n).is_err()) {
        return Err(EbsError::InvalidParameterValue(format!(
            "Invalid region: {bad}"
        )));
    }
    trail::dry_run(input.dry_run)?;
    let regions = REGIONS
        .iter()
        .filter(|r| names.is_empty() || names.iter().any(|n| n == *r))
        .map(|r| (r.to_string(), format!("ec2.{r}.amazonaws.com")))
        .filter(|(name, endpoint)| {
            filters.matches(&[], |f| match f {
                "region-name" => vec![name.clone()],
                "endpoint" => vec![endpoint.clone()],
                "opt-in-status" => vec![OPT_IN_NOT_REQUIRED.to_owned()],
                _ => vec![],
            })
        })
        .map(|(name, endpoint)| ec2::Region {
            region_name: Some(name),
            endpoint: Some(endpoint),
            opt_in_status: Some(OPT_IN_NOT_REQUIRED.to_owned()),
            geography: None,
        })
        .collect();
    Ok(ec2::DescribeRegionsResult {
        regions: Some(regions),
    })
}

pub fn describe_zones(
    ctx: &RequestContext,
    input: ec2::DescribeAvailabilityZonesRequest,
) -> Result<ec2::DescribeAvailabilityZonesResult, EbsError> {
    let region = ctx.region;
    let filters = Filters::parse(input.filters, ZONE_FILTERS)?;
    let all = zones(region);
    let names = input.zone_names.unwrap_or_default();
    let ids = input.zone_ids.unwrap_or_default();
    if let Some(bad) = names.iter().find(|n| !all.iter().any(|(zn, _)| zn == *n)) {
        return Err(EbsError::InvalidParameterValue(format!(
            "Invalid availability zone: [{bad}]"
        )));
    }
    if let Some(bad) = ids.iter().find(|i| !all.iter().any(|(_, zi)| zi == *i)) {
        return Err(EbsError::InvalidParameterValue(format!(
            "Invalid availability zone id: [{bad}]"
        )));
    }
    trail::dry_run(input.dry_run)?;
    let r = region.as_str().to_owned();
    let zones = all
        .into_iter()
        .filter(|(n, i)| {
            (names.is_empty() && ids.is_empty()) || names.contains(n) || ids.contains(i)
        })
        .filter(|(n, i)| {
            filters.matches(&[], |f| match f {
                "zone-name" => vec![n.clone()],
                "zone-id" => vec![i.clone()],
                "region-name" | "group-name" => vec![r.clone()],
                "state" => vec!["available".to_owned()],
                "zone-type" => vec!["availability-zone".to_owned()],
                "opt-in-status" => vec![OPT_IN_NOT_REQUIRED.to_owned()],
                _ => vec![],
            })
        })
        .map(|(n, i)| ec2::AvailabilityZone {
            zone_name: Some(n),
            zone_id: Some(i),
            region_name: Some(r.clone()),
            state: Some(ec2::AvailabilityZoneState::Available),
            opt_in_status: Some(ec2::AvailabilityZoneOptInStatus::OptInNotRequired),
            group_name: Some(r.clone()),
            network_border_group: Some(r.clone()),
            zone_type: Some("availability-zone".to_owned()),
            messages: Some(Vec::new()),
            ..Default::default()
        })
        .collect();
    Ok(ec2::DescribeAvailabilityZonesResult {
        availability_zones: Some(zones),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Region {
        Region::parse(s).unwrap()
    }

    #[test]
    fn short_codes() {
        for (region, code) in [
            ("ap-northeast-1", "apne1"),
            ("us-west-2", "usw2"),
            ("eu-central-1", "euc1"),
            ("ap-southeast-2", "apse2"),
            ("ca-west-1", "caw1"),
            ("sa-east-1", "sae1"),
        ] {
            assert_eq!(short_code(r(region)), code);
        }
    }

    #[test]
    fn volume_zones() {
        let tokyo = r("ap-northeast-1");
        assert_eq!(
            zone_for_volume(tokyo, Some("ap-northeast-1c"), None).unwrap(),
            "ap-northeast-1c"
        );
        assert_eq!(
            zone_for_volume(tokyo, None, Some("apne1-az2")).unwrap(),
            "ap-northeast-1b"
        );
        assert_eq!(
            zone_for_volume(tokyo, Some("us-west-2a"), None).unwrap_err(),
            EbsError::ZoneNotFound {
                zone: "us-west-2a".into()
            }
        );
        assert!(matches!(
            zone_for_volume(tokyo, None, None),
            Err(EbsError::MissingParameter(_))
        ));
        assert_eq!(
            zone_id(tokyo, "ap-northeast-1a").as_deref(),
            Some("apne1-az1")
        );
    }
}
