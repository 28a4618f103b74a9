//! IAM operations, one file per family: [`users`], [`access_keys`], [`roles`] and the inline
//! [`policies`] of users and roles. Each function takes the [`Iam`](super::Iam) service, the
//! request context and the generated input shape, and returns the generated output shape.
//!
//! Shared here: `Marker`/`MaxItems` paging over name-ordered lists and the conversion of
//! records to the API's `User` and `Role` shapes; in [`entity`], what users and roles share.

pub mod access_keys;
pub(crate) mod entity;
pub mod policies;
pub mod roles;
pub mod users;

use kmsnap_api::gen::iam as api;

use crate::model::{encode_policy_document, timestamp, RoleRecord, TagRecord, UserRecord};
use crate::validate::Problems;

/// `MaxItems` when the request gives none.
pub const DEFAULT_MAX_ITEMS: usize = 100;

/// One page of a list: the items, and the marker of the next page when truncated.
#[derive(Debug)]
pub(crate) struct Page<T> {
    pub items: Vec<T>,
    pub marker: Option<String>,
}

impl<T> Page<T> {
    pub fn is_truncated(&self) -> Option<bool> {
        Some(self.marker.is_some())
    }
}

/// The page of `items` (ordered by `key`) after `marker`, at most `max_items` long. The next
/// marker is the key of the page's last item.
pub(crate) fn paginate<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    marker: Option<&str>,
    max_items: Option<i32>,
) -> Page<T> {
    let max = max_items
        .and_then(|m| usize::try_from(m).ok())
        .filter(|&m| m > 0)
        .unwrap_or(DEFAULT_MAX_ITEMS);
    let mut rest: Vec<T> = match marker {
        Some(m) => items.into_iter().filter(|i| key(i).as_str() > m).collect(),
        None => items,
    };
    let truncated = rest.len() > max;
    rest.truncate(max);
    let marker = if truncated {
        rest.last().map(&key)
    } else {
        None
    };
    Page {
        items: rest,
        marker,
    }
}

pub(crate) fn check_marker(p: &mut Problems, marker: Option<&str>) {
    if let Some(m) = marker {
        p.marker(m, "marker");
    }
}

pub(crate) fn check_tags(p: &mut Problems, tags: Option<&[api::Tag]>) -> Vec<TagRecord> {
    let tags = tags.unwrap_or_default();
    for (i, t) in tags.iter().enumerate() {
        p.tag(&t.key, &t.value, i + 1);
    }
    tags.iter()
        .map(|t| TagRecord {
            key: t.key.clone(),
            value: t.value.clone(),
        })
        .collect()
}

fn tags_shape(tags: &[TagRecord]) -> Option<Vec<api::Tag>> {
    if tags.is_empty() {
        return None;
    }
    Some(
        tags.iter()
            .map(|t| api::Tag {
                key: t.key.clone(),
                value: t.value.clone(),
            })
            .collect(),
    )
}

/// The API's `User`; tags only where AWS returns them (CreateUser, GetUser).
pub(crate) fn user_shape(u: &UserRecord, with_tags: bool) -> api::User {
    api::User {
        path: u.path.clone(),
        user_name: u.name.clone(),
        user_id: u.user_id.clone(),
        arn: u.arn(),
        create_date: timestamp(u.created_ms),
        password_last_used: None,
        permissions_boundary: None,
        tags: if with_tags { tags_shape(&u.tags) } else { None },
    }
}

/// The API's `Role`, its trust policy URL-encoded as IAM returns it. `detail` adds what only
/// CreateRole/GetRole return (tags, `RoleLastUsed`).
pub(crate) fn role_shape(r: &RoleRecord, detail: bool) -> api::Role {
    api::Role {
        path: r.path.clone(),
        role_name: r.name.clone(),
        role_id: r.role_id.clone(),
        arn: r.arn(),
        create_date: timestamp(r.created_ms),
        assume_role_policy_document: Some(encode_policy_document(&r.trust_policy)),
        description: r.description.clone(),
        max_session_duration: Some(r.max_session_duration),
        permissions_boundary: None,
        tags: if detail { tags_shape(&r.tags) } else { None },
        role_last_used: detail.then(api::RoleLastUsed::default),
        source_role_template: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging() {
        let items: Vec<String> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p = paginate(items.clone(), |s| s.clone(), None, Some(2));
        assert_eq!(p.items, ["a", "b"]);
        assert_eq!(p.marker.as_deref(), Some("b"));
        let p = paginate(items.clone(), |s| s.clone(), Some("b"), Some(2));
        assert_eq!(p.items, ["c", "d"]);
        let p = paginate(items.clone(), |s| s.clone(), Some("d"), Some(2));
        assert_eq!(p.items, ["e"]);
        assert_eq!(p.marker, None);
        assert_eq!(p.is_truncated(), Some(false));
        let p = paginate(items, |s| s.clone(), None, None);
        assert_eq!(p.items.len(), 5);
    }
}
