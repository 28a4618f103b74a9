//! [`RequestContext`]: who is calling, from where, when, and through which service. Domains
//! receive it with every operation; a domain calling another in-process (EBS asking KMS for a
//! data key) passes a context with `via_service` set, so KMS can check `kms:ViaService`, match
//! grants and record `invokedBy` in the audit event.

use crate::model::Principal;
use chrono::{DateTime, Utc};
use kmsnap_core::Region;

#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The authenticated caller (for a service call: the original principal).
    pub principal: Principal,
    /// The region of the request's credential scope.
    pub region: Region,
    pub request_id: String,
    pub source_ip: std::net::IpAddr,
    pub user_agent: String,
    /// The injected clock's time when the request was authenticated.
    pub now: DateTime<Utc>,
    /// `Some("ec2.amazonaws.com")` when a service acts on the caller's behalf.
    pub via_service: Option<String>,
}

impl RequestContext {
    /// The same caller, acting through `service` (e.g. `ec2.amazonaws.com`).
    pub fn via(&self, service: &str) -> RequestContext {
        RequestContext {
            via_service: Some(service.to_owned()),
            ..self.clone()
        }
    }
}
