//! [`Event`]: one CloudTrail record, serialised exactly as docs/cloudtrail.md §2 shows it (field
//! names, order, `null` for absent request/response elements). The struct has no field that
//! could hold a plaintext, a data key or key material; request parameters pass through
//! [`redact_request_parameters`](crate::redact_request_parameters) on the way in.

use chrono::{DateTime, SecondsFormat, Utc};
use kmsnap_auth::{PrincipalKind, RequestContext};
use kmsnap_core::Arn;
use serde::{Deserialize, Serialize};

/// CloudTrail's record format version.
pub const EVENT_VERSION: &str = "1.08";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub event_version: String,
    pub user_identity: UserIdentity,
    #[serde(with = "event_time")]
    pub event_time: DateTime<Utc>,
    pub event_source: String,
    pub event_name: String,
    pub aws_region: String,
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: String,
    pub user_agent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    pub request_parameters: serde_json::Value,
    pub response_elements: serde_json::Value,
    /// Absent for service events (no request).
    #[serde(rename = "requestID", default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(rename = "eventID")]
    pub event_id: String,
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<EventResource>,
    pub event_type: String,
    pub management_event: bool,
    pub recipient_account_id: String,
    /// Details of an `AwsServiceEvent` (KMS rotation: `{"rotationType": "AUTOMATIC", "keyId"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_event_details: Option<serde_json::Value>,
    pub event_category: String,
}

/// `userIdentity`. Which members appear depends on `type` (absent for AWS-internal events).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_context: Option<SessionContext>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext {
    pub session_issuer: SessionIssuer,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer {
    #[serde(rename = "type")]
    pub kind: String,
    pub principal_id: String,
    pub arn: String,
    pub account_id: String,
    pub user_name: String,
}

/// One entry of `resources`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventResource {
    #[serde(rename = "accountId")]
    pub account_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "ARN")]
    pub arn: String,
}

impl UserIdentity {
    /// The identity of the authenticated caller of `ctx`, with `invokedBy` when a service acts
    /// for them.
    pub fn from_context(ctx: &RequestContext) -> Self {
        let p = &ctx.principal;
        let account = p.account.as_str().to_owned();
        let mut id = UserIdentity {
            principal_id: Some(p.user_id.clone()),
            arn: Some(p.arn.clone()),
            account_id: Some(account.clone()),
            access_key_id: Some(p.access_key_id.clone()),
            invoked_by: ctx.via_service.clone(),
            ..Default::default()
        };
        match &p.kind {
            PrincipalKind::Root => id.kind = Some("Root".into()),
            PrincipalKind::User { name } => {
                id.kind = Some("IAMUser".into());
                id.user_name = Some(name.clone());
            }
            PrincipalKind::AssumedRole {
                role_name,
                role_arn,
                ..
            } => {
                id.kind = Some("AssumedRole".into());
                let role_id = p
                    .user_id
                    .split_once(':')
                    .map_or(p.user_id.as_str(), |(role_id, _)| role_id)
                    .to_owned();
                id.session_context = Some(SessionContext {
                    session_issuer: SessionIssuer {
                        kind: "Role".into(),
                        principal_id: role_id,
                        arn: role_arn.clone(),
                        account_id: account,
                        user_name: role_name.clone(),
                    },
                });
            }
        }
        id
    }

    /// A service acting under its own service principal (`{"type": "AWSService",
    /// "invokedBy": "backup.amazonaws.com"}`).
    pub fn aws_service(service: &str) -> Self {
        UserIdentity {
            kind: Some("AWSService".into()),
            invoked_by: Some(service.to_owned()),
            ..Default::default()
        }
    }

    /// KMS-internal actions (rotation, end of a deletion window): `{accountId, invokedBy:
    /// "AWS Internal"}`.
    pub fn aws_internal(account: &str) -> Self {
        UserIdentity {
            account_id: Some(account.to_owned()),
            invoked_by: Some("AWS Internal".into()),
            ..Default::default()
        }
    }

    /// LookupEvents' `Username`: the IAM user name, the role session name, or `root`.
    pub fn username(&self) -> Option<String> {
        match self.kind.as_deref() {
            Some("Root") => Some("root".into()),
            Some("IAMUser") => self.user_name.clone(),
            Some("AssumedRole") => self
                .arn
                .as_deref()
                .and_then(|a| a.rsplit_once('/'))
                .map(|(_, session)| session.to_owned()),
            _ => None,
        }
    }
}

impl Event {
    /// An `AwsApiCall` event for operation `event_name` of `event_source` (e.g.
    /// `kms.amazonaws.com`) made with `ctx`. When a service acts for the caller
    /// (`ctx.via_service`), `sourceIPAddress` and `userAgent` are that service's name.
    pub fn api_call(
        ctx: &RequestContext,
        event_source: &str,
        event_name: &str,
        read_only: bool,
    ) -> Self {
        let (source_ip, agent) = match &ctx.via_service {
            Some(s) => (s.clone(), s.clone()),
            None => (ctx.source_ip.to_string(), ctx.user_agent.clone()),
        };
        Event {
            event_version: EVENT_VERSION.into(),
            user_identity: UserIdentity::from_context(ctx),
            event_time: ctx.now,
            event_source: event_source.into(),
            event_name: event_name.into(),
            aws_region: ctx.region.as_str().into(),
            source_ip_address: source_ip,
            user_agent: agent,
            error_code: None,
            error_message: None,
            request_parameters: serde_json::Value::Null,
            response_elements: serde_json::Value::Null,
            request_id: Some(ctx.request_id.clone()),
            event_id: kmsnap_core::ids::request_id(),
            read_only,
            resources: Vec::new(),
            event_type: "AwsApiCall".into(),
            management_event: true,
            recipient_account_id: ctx.principal.account.as_str().into(),
            service_event_details: None,
            event_category: "Management".into(),
        }
    }

    /// An `AwsServiceEvent` (rotation, key deletion) in `account`'s trail.
    pub fn service_event(
        account: &str,
        region: &str,
        event_source: &str,
        event_name: &str,
        now: DateTime<Utc>,
    ) -> Self {
        Event {
            event_version: EVENT_VERSION.into(),
            user_identity: UserIdentity::aws_internal(account),
            event_time: now,
            event_source: event_source.into(),
            event_name: event_name.into(),
            aws_region: region.into(),
            source_ip_address: "AWS Internal".into(),
            user_agent: "AWS Internal".into(),
            error_code: None,
            error_message: None,
            request_parameters: serde_json::Value::Null,
            response_elements: serde_json::Value::Null,
            request_id: None,
            event_id: kmsnap_core::ids::request_id(),
            read_only: false,
            resources: Vec::new(),
            event_type: "AwsServiceEvent".into(),
            management_event: true,
            recipient_account_id: account.into(),
            service_event_details: None,
            event_category: "Management".into(),
        }
    }

    /// Sets `requestParameters` from the request as the generated shape serialises it
    /// (PascalCase members), keeping only what CloudTrail logs for `service`/`op`.
    pub fn with_request(mut self, service: &str, op: &str, request: serde_json::Value) -> Self {
        self.request_parameters = crate::redact_request_parameters(service, op, request);
        self
    }

    /// [`Event::with_request`] from the typed request itself: members that are not logged
    /// (plaintexts, ciphertexts, tokens) are never serialised, see
    /// [`request_parameters_of`](crate::request_parameters_of).
    pub fn with_request_of<T: Serialize + ?Sized>(
        mut self,
        service: &str,
        op: &str,
        request: &T,
    ) -> Self {
        self.request_parameters = crate::redact::request_parameters_of(service, op, request);
        self
    }

    /// [`Event::with_response`] from the typed response: `null` for KMS crypto operations
    /// without serialising the response (it holds plaintexts), secret-looking members dropped.
    pub fn with_response_of<T: Serialize + ?Sized>(
        mut self,
        service: &str,
        op: &str,
        response: &T,
    ) -> Self {
        self.response_elements = crate::redact::response_elements_of(service, op, response);
        self
    }

    /// Sets `serviceEventDetails` (service events only).
    pub fn with_service_event_details(mut self, details: serde_json::Value) -> Self {
        self.service_event_details = Some(details);
        self
    }

    /// Sets `responseElements` (already reduced to what may be logged; passed through the same
    /// secret filter as a safety net).
    pub fn with_response(mut self, service: &str, op: &str, response: serde_json::Value) -> Self {
        self.response_elements = crate::redact::redact_response_elements(service, op, response);
        self
    }

    /// Marks the call as failed.
    pub fn with_error(mut self, code: &str, message: &str) -> Self {
        self.error_code = Some(code.into());
        self.error_message = Some(message.into());
        self
    }

    /// Adds a resource; its account is parsed from the ARN (`arn:aws:kms:<region>:<acct>:...`).
    pub fn with_resource(mut self, kind: &str, arn: &str) -> Self {
        let account = Arn::parse(arn).map(|a| a.account).unwrap_or_default();
        if !self.resources.iter().any(|r| r.arn == arn) {
            self.resources.push(EventResource {
                account_id: account,
                kind: kind.into(),
                arn: arn.into(),
            });
        }
        self
    }

    /// Adds the KMS key `key_arn` as a resource (`AWS::KMS::Key`).
    pub fn with_kms_key(self, key_arn: &str) -> Self {
        self.with_resource("AWS::KMS::Key", key_arn)
    }

    /// The accounts whose trail gets a copy of this event: the caller's account, then every
    /// resource owner's account that differs from it (a call on another account's key is
    /// recorded in both, as AWS does).
    pub fn recipients(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::with_capacity(2);
        let caller = self
            .user_identity
            .account_id
            .clone()
            .unwrap_or_else(|| self.recipient_account_id.clone());
        if !caller.is_empty() {
            out.push(caller);
        }
        for r in &self.resources {
            if !r.account_id.is_empty() && !out.contains(&r.account_id) {
                out.push(r.account_id.clone());
            }
        }
        if out.is_empty() {
            out.push(self.recipient_account_id.clone());
        }
        out
    }
}

/// `eventTime` as CloudTrail writes it: `2026-11-23T07:00:00Z` (whole seconds, UTC).
mod event_time {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Secs, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}
