//! Key tags: TagResource, UntagResource, ListResourceTags (docs/kms.md §3, §5), and the tag
//! checks CreateKey shares. Tags live in the key's regional record in insertion order;
//! TagResource upserts by TagKey (an existing key keeps its position).

use crate::ops::common::{
    check_limit, load, require_not_pending_deletion, update_record, validation,
};
use crate::resolve::Accept;
use crate::{Kms, KmsError};
use base64::Engine as _;
use kmsnap_api::gen::kms as api;
use kmsnap_auth::RequestContext;

/// Tags per key (docs/kms.md §14).
pub const MAX_TAGS: usize = 50;

fn check_tag_key(key: &str, path: &str) -> Result<(), KmsError> {
    let n = key.chars().count();
    if n < 1 {
        return Err(validation(
            key,
            path,
            "Member must have length greater than or equal to 1",
        ));
    }
    if n > 128 {
        return Err(validation(
            key,
            path,
            "Member must have length less than or equal to 128",
        ));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(KmsError::Tag(
            "Tags beginning with aws: are reserved".to_owned(),
        ));
    }
    Ok(())
}

/// Checks the Tags of CreateKey/TagResource/ReplicateKey: key 1–128, value 0–256, no `aws:`
/// prefix, no key twice.
pub fn validate_tags(tags: &[api::Tag]) -> Result<(), KmsError> {
    for (i, t) in tags.iter().enumerate() {
        check_tag_key(&t.tag_key, &format!("tags.{}.member.tagKey", i + 1))?;
        if t.tag_value.chars().count() > 256 {
            return Err(validation(
                &t.tag_value,
                &format!("tags.{}.member.tagValue", i + 1),
                "Member must have length less than or equal to 256",
            ));
        }
    }
    for (i, t) in tags.iter().enumerate() {
        if tags[..i].iter().any(|o| o.tag_key == t.tag_key) {
            return Err(KmsError::Tag("Duplicate tag keys".to_owned()));
        }
    }
    Ok(())
}

/// Upsert `new` into `tags`, keeping the position of keys already there.
pub fn merge_tags(tags: &mut Vec<(String, String)>, new: &[api::Tag]) {
    for t in new {
        match tags.iter_mut().find(|(k, _)| *k == t.tag_key) {
            Some(slot) => slot.1 = t.tag_value.clone(),
            None => tags.push((t.tag_key.clone(), t.tag_value.clone())),
        }
    }
}

pub fn tag_resource(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::TagResourceRequest,
) -> Result<(), KmsError> {
    let key = load(kms, ctx, &input.key_id, Accept::KeyOnly, "TagResource")?;
    validate_tags(&input.tags)?;
    update_record(kms, &key.record, |rec, _| {
        require_not_pending_deletion(rec)?;
        let mut tags = rec.tags.clone();
        merge_tags(&mut tags, &input.tags);
        if tags.len() > MAX_TAGS {
            return Err(KmsError::LimitExceeded(format!(
                "The request was rejected because it would exceed the limit of {MAX_TAGS} tags per key."
            )));
        }
        rec.tags = tags;
        Ok(())
    })
}

pub fn untag_resource(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::UntagResourceRequest,
) -> Result<(), KmsError> {
    let key = load(kms, ctx, &input.key_id, Accept::KeyOnly, "UntagResource")?;
    for (i, k) in input.tag_keys.iter().enumerate() {
        check_tag_key(k, &format!("tagKeys.{}.member", i + 1))?;
    }
    update_record(kms, &key.record, |rec, _| {
        require_not_pending_deletion(rec)?;
        rec.tags.retain(|(k, _)| !input.tag_keys.contains(k));
        Ok(())
    })
}

const TAG_MARKER_PREFIX: &str = "kmsnap-tags/v1/";

fn encode_marker(index: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{TAG_MARKER_PREFIX}{index}"))
}

fn decode_marker(m: &str) -> Result<usize, KmsError> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(m)
        .map_err(|_| KmsError::InvalidMarker)?;
    let text = String::from_utf8(raw).map_err(|_| KmsError::InvalidMarker)?;
    text.strip_prefix(TAG_MARKER_PREFIX)
        .and_then(|n| n.parse().ok())
        .ok_or(KmsError::InvalidMarker)
}

pub fn list_resource_tags(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::ListResourceTagsRequest,
) -> Result<api::ListResourceTagsResponse, KmsError> {
    let limit = check_limit(input.limit, 1, MAX_TAGS as i32)?.unwrap_or(MAX_TAGS);
    let key = load(kms, ctx, &input.key_id, Accept::KeyOnly, "ListResourceTags")?;
    let start = match input.marker.as_deref() {
        Some(m) => decode_marker(m)?,
        None => 0,
    };
    let all = &key.record.tags;
    let page: Vec<api::Tag> = all
        .iter()
        .skip(start)
        .take(limit)
        .map(|(k, v)| api::Tag {
            tag_key: k.clone(),
            tag_value: v.clone(),
        })
        .collect();
    let end = start.saturating_add(page.len());
    let truncated = end < all.len();
    Ok(api::ListResourceTagsResponse {
        tags: Some(page),
        next_marker: truncated.then(|| encode_marker(end)),
        truncated: Some(truncated),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::KeyState;
    use crate::testsupport::env::*;

    fn tag(k: &str, v: &str) -> api::Tag {
        api::Tag {
            tag_key: k.into(),
            tag_value: v.into(),
        }
    }

    #[test]
    fn upsert_keeps_order_and_pages() {
        let env = Env::memory();
        let ctx = env.ctx();
        let id = env.create(&ctx);
        let tags: Vec<api::Tag> = (0..7).map(|i| tag(&format!("k{i}"), "v")).collect();
        tag_resource(
            &env.kms,
            &ctx,
            api::TagResourceRequest {
                key_id: id.clone(),
                tags,
            },
        )
        .unwrap();
        tag_resource(
            &env.kms,
            &ctx,
            api::TagResourceRequest {
                key_id: id.clone(),
                tags: vec![tag("k3", "new"), tag("z", "1")],
            },
        )
        .unwrap();
        untag_resource(
            &env.kms,
            &ctx,
            api::UntagResourceRequest {
                key_id: id.clone(),
                tag_keys: vec!["k0".into(), "absent".into()],
            },
        )
        .unwrap();

        let mut seen = Vec::new();
        let mut marker = None;
        loop {
            let r = list_resource_tags(
                &env.kms,
                &ctx,
                api::ListResourceTagsRequest {
                    key_id: id.clone(),
                    limit: Some(3),
                    marker: marker.clone(),
                },
            )
            .unwrap();
            let page = r.tags.unwrap();
            assert!(page.len() <= 3);
            seen.extend(page.into_iter().map(|t| (t.tag_key, t.tag_value)));
            if r.truncated != Some(true) {
                assert!(r.next_marker.is_none());
                break;
            }
            marker = r.next_marker;
        }
        let keys: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["k1", "k2", "k3", "k4", "k5", "k6", "z"]);
        assert_eq!(seen[2].1, "new");

        let e = list_resource_tags(
            &env.kms,
            &ctx,
            api::ListResourceTagsRequest {
                key_id: id.clone(),
                limit: None,
                marker: Some("garbage".into()),
            },
        )
        .unwrap_err();
        assert_eq!(e, KmsError::InvalidMarker);
    }

    #[test]
    fn rules() {
        let env = Env::memory();
        let ctx = env.ctx();
        let id = env.create(&ctx);
        let e = tag_resource(
            &env.kms,
            &ctx,
            api::TagResourceRequest {
                key_id: id.clone(),
                tags: vec![tag("aws:x", "v")],
            },
        )
        .unwrap_err();
        assert_eq!(
            e,
            KmsError::Tag("Tags beginning with aws: are reserved".into())
        );
        let e = tag_resource(
            &env.kms,
            &ctx,
            api::TagResourceRequest {
                key_id: id.clone(),
                tags: vec![tag(&"k".repeat(129), "v")],
            },
        )
        .unwrap_err();
        assert!(matches!(e, KmsError::Validation(_)));
        let many: Vec<api::Tag> = (0..51).map(|i| tag(&format!("k{i}"), "v")).collect();
        let e = tag_resource(
            &env.kms,
            &ctx,
            api::TagResourceRequest {
                key_id: id.clone(),
                tags: many,
            },
        )
        .unwrap_err();
        assert!(matches!(e, KmsError::LimitExceeded(_)));

        env.schedule(&ctx, &id, 7);
        let e = tag_resource(
            &env.kms,
            &ctx,
            api::TagResourceRequest {
                key_id: id.clone(),
                tags: vec![tag("a", "b")],
            },
        )
        .unwrap_err();
        assert!(matches!(
            e,
            KmsError::InvalidState {
                state: KeyState::PendingDeletion,
                ..
            }
        ));
        let e = untag_resource(
            &env.kms,
            &ctx,
            api::UntagResourceRequest {
                key_id: id.clone(),
                tag_keys: vec!["a".into()],
            },
        )
        .unwrap_err();
        assert!(matches!(e, KmsError::InvalidState { .. }));
        // Listing works in any state.
        list_resource_tags(
            &env.kms,
            &ctx,
            api::ListResourceTagsRequest {
                key_id: id,
                limit: None,
                marker: None,
            },
        )
        .unwrap();
    }
}
