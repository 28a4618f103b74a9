//! CloudTrail `LookupEvents`: the management events of the caller's account in the request
//! Region, newest first, filtered by at most one lookup attribute and a time window.
//!
//! Filtering scans the account/Region index inside the time window and tests each record; a
//! call looks at no more than [`MAX_SCAN_PER_CALL`] index rows and then returns what it has with
//! a `NextToken` (AWS too may return short pages with a token). The token is opaque base64 of
//! the last index key examined; it is accepted only for the same account and Region.

use crate::error::AuditError;
use crate::event::Event;
use crate::log::{
    decode_log, index_prefix, inverted, parse_index_value, Stored, INDEX_TABLE, LOG_TABLE,
};
use crate::writer::AuditWriter;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use kmsnap_api::gen::cloudtrail::{
    CloudtrailHandler, Event as LookupEvent, LookupAttributeKey, LookupEventsRequest,
    LookupEventsResponse, Resource,
};
use kmsnap_api::{AwsError, Timestamp};
use kmsnap_auth::RequestContext;
use kmsnap_store::MetaStore;
use std::sync::Arc;

/// Most index rows one LookupEvents call examines before answering with a NextToken.
pub const MAX_SCAN_PER_CALL: usize = 10_000;
const DEFAULT_MAX_RESULTS: i32 = 50;
const PAGE: usize = 256;
const TOKEN_PREFIX: &str = "v1:";

struct Filter {
    key: LookupAttributeKey,
    value: String,
}

impl Filter {
    fn matches(&self, e: &Event) -> bool {
        let v = self.value.as_str();
        match self.key {
            LookupAttributeKey::EventId => e.event_id == v,
            LookupAttributeKey::EventName => e.event_name == v,
            LookupAttributeKey::ReadOnly => (if e.read_only { "true" } else { "false" }) == v,
            LookupAttributeKey::Username => e.user_identity.username().as_deref() == Some(v),
            LookupAttributeKey::ResourceType => e.resources.iter().any(|r| r.kind == v),
            LookupAttributeKey::ResourceName => e
                .resources
                .iter()
                .any(|r| r.arn == v || r.arn.rsplit_once('/').is_some_and(|(_, id)| id == v)),
            LookupAttributeKey::EventSource => e.event_source == v,
            LookupAttributeKey::AccessKeyId => e.user_identity.access_key_id.as_deref() == Some(v),
        }
    }
}

fn encode_token(key: &[u8]) -> String {
    let mut t = TOKEN_PREFIX.as_bytes().to_vec();
    t.extend_from_slice(key);
    base64::engine::general_purpose::STANDARD.encode(t)
}

fn decode_token(token: &str, prefix: &str) -> Result<Vec<u8>, AuditError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|_| AuditError::InvalidNextToken)?;
    let key = raw
        .strip_prefix(TOKEN_PREFIX.as_bytes())
        .ok_or(AuditError::InvalidNextToken)?;
    if !key.starts_with(prefix.as_bytes()) {
        return Err(AuditError::InvalidNextToken);
    }
    Ok(key.to_vec())
}

/// The inverted-time component of an index key, if it has one.
fn key_inverted(key: &[u8], prefix_len: usize) -> Option<i64> {
    let rest = key.get(prefix_len..prefix_len + 16)?;
    std::str::from_utf8(rest).ok()?.parse().ok()
}

fn to_lookup_event(e: &Event, json: String) -> LookupEvent {
    let resources: Vec<Resource> = e
        .resources
        .iter()
        .map(|r| Resource {
            resource_type: Some(r.kind.clone()),
            resource_name: Some(r.arn.clone()),
        })
        .collect();
    LookupEvent {
        event_id: Some(e.event_id.clone()),
        event_name: Some(e.event_name.clone()),
        read_only: Some(if e.read_only { "true" } else { "false" }.to_owned()),
        access_key_id: e.user_identity.access_key_id.clone(),
        event_time: Some(Timestamp(e.event_time)),
        event_source: Some(e.event_source.clone()),
        username: e.user_identity.username(),
        resources: if resources.is_empty() {
            None
        } else {
            Some(resources)
        },
        cloud_trail_event: Some(json),
    }
}

/// LookupEvents for `account` in `region` at time `now` (the injected clock; the default
/// window is the 90 days before it).
pub fn lookup(
    store: &dyn MetaStore,
    account: &str,
    region: &str,
    now: DateTime<Utc>,
    req: LookupEventsRequest,
) -> Result<LookupEventsResponse, AuditError> {
    let filter = match req.lookup_attributes.as_deref().unwrap_or_default() {
        [] => None,
        [one] => {
            if one.attribute_key == LookupAttributeKey::ReadOnly
                && !matches!(one.attribute_value.as_str(), "true" | "false")
            {
                return Err(AuditError::InvalidLookupAttributes {
                    message: "ReadOnly must be true or false.".into(),
                });
            }
            Some(Filter {
                key: one.attribute_key,
                value: one.attribute_value.clone(),
            })
        }
        _ => {
            return Err(AuditError::InvalidLookupAttributes {
                message: "You cannot specify more than one lookup attribute.".into(),
            })
        }
    };
    let max = req.max_results.unwrap_or(DEFAULT_MAX_RESULTS);
    if !(1..=DEFAULT_MAX_RESULTS).contains(&max) {
        return Err(AuditError::InvalidMaxResults { value: max });
    }
    let max = usize::try_from(max).unwrap_or(50);
    let end = req.end_time.map_or(now, |t| t.0);
    let start = req
        .start_time
        .map_or_else(|| end - Duration::days(90), |t| t.0);
    if start > end {
        return Err(AuditError::InvalidTimeRange);
    }
    let prefix = index_prefix(account, region);
    let inv_end = inverted(end.timestamp_millis());
    let inv_start = inverted(start.timestamp_millis());
    // Keys with inverted time < inv_end (events after `end`) sort before this bound.
    let window_start = format!("{prefix}{:016}0", inv_end.saturating_sub(1)).into_bytes();
    let mut after = match &req.next_token {
        Some(t) => {
            let k = decode_token(t, &prefix)?;
            if k.as_slice() > window_start.as_slice() {
                k
            } else {
                window_start
            }
        }
        None => window_start,
    };

    let txn = store.read()?;
    let mut events = Vec::new();
    let mut scanned = 0usize;
    let mut next_token = None;
    // The last `audit_log` value read (its key and records).
    let mut held: Option<(u64, Vec<Stored>)> = None;
    'outer: loop {
        let page = txn.scan(INDEX_TABLE, prefix.as_bytes(), Some(&after), PAGE)?;
        if page.is_empty() {
            break;
        }
        for (key, rec) in page {
            let Some(inv) = key_inverted(&key, prefix.len()) else {
                after = key;
                continue;
            };
            if inv > inv_start {
                break 'outer; // older than the window
            }
            if events.len() == max || scanned == MAX_SCAN_PER_CALL {
                next_token = Some(encode_token(&after));
                break 'outer;
            }
            scanned += 1;
            let (seq, at) = parse_index_value(&rec.value).ok_or_else(|| AuditError::Corrupt {
                seq: 0,
                detail: "index entry is not a sequence number".into(),
            })?;
            // Consecutive rows of one account mostly fall in the same pack: read each once.
            if held.as_ref().is_none_or(|(k, _)| *k != at) {
                let Some(log) = txn.get(LOG_TABLE, &at.to_be_bytes())? else {
                    return Err(AuditError::Corrupt {
                        seq,
                        detail: "indexed record missing".into(),
                    });
                };
                held = Some((at, decode_log(at, &log.value)?));
            }
            let r = held
                .as_ref()
                .and_then(|(_, recs)| recs.iter().find(|r| r.seq == seq))
                .ok_or_else(|| AuditError::Corrupt {
                    seq,
                    detail: "indexed record missing".into(),
                })?;
            let ev: Event = serde_json::from_str(&r.event).map_err(|e| AuditError::Corrupt {
                seq,
                detail: e.to_string(),
            })?;
            if filter.as_ref().is_none_or(|f| f.matches(&ev)) {
                events.push(to_lookup_event(&ev, r.event.clone()));
            }
            after = key;
        }
    }
    Ok(LookupEventsResponse {
        events: Some(events),
        next_token,
    })
}

/// The CloudTrail service: `LookupEvents` over the audit log; every other operation keeps the
/// generated `NotImplemented` answer.
pub struct Cloudtrail {
    meta: Arc<dyn MetaStore>,
    /// The writer whose acknowledged records a lookup must see (they may still be on their
    /// way from the journal to the log).
    writer: Option<Arc<AuditWriter>>,
}

impl Cloudtrail {
    /// LookupEvents over the log as it is (every record written directly).
    pub fn new(meta: Arc<dyn MetaStore>) -> Self {
        Cloudtrail { meta, writer: None }
    }

    /// LookupEvents that first waits until every record `writer` has acknowledged is in the
    /// log, so a call that was answered is always found.
    pub fn with_writer(meta: Arc<dyn MetaStore>, writer: Arc<AuditWriter>) -> Self {
        Cloudtrail {
            meta,
            writer: Some(writer),
        }
    }
}

impl CloudtrailHandler<RequestContext> for Cloudtrail {
    async fn lookup_events(
        &self,
        ctx: &RequestContext,
        input: LookupEventsRequest,
    ) -> Result<LookupEventsResponse, AwsError> {
        if let Some(w) = &self.writer {
            w.flushed().await.map_err(AwsError::from)?;
        }
        lookup(
            self.meta.as_ref(),
            ctx.principal.account.as_str(),
            ctx.region.as_str(),
            ctx.now,
            input,
        )
        .map_err(AwsError::from)
    }
}
