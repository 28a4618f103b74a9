//! kmsnap-audit: CloudTrail-format audit events, the hash-chained append-only log in the
//! MetaStore, and CloudTrail `LookupEvents`.
//!
//! - [`Event`] — one CloudTrail record (docs/cloudtrail.md §2), built from a
//!   [`RequestContext`](kmsnap_auth::RequestContext) with [`Event::api_call`] or for
//!   service-internal actions with [`Event::service_event`]; [`Event::recipients`] names the
//!   accounts whose trail gets a copy (caller and resource owner).
//! - [`redact_request_parameters`] — the per-operation allowlist that turns a request into
//!   CloudTrail's camelCase `requestParameters` and drops every secret.
//! - [`append`] — writes events into the log inside the *caller's* write transaction, so the
//!   audit record commits with the effect it records, one record per recipient account.
//! - [`AuditWriter`] — group commit for calls that persist nothing else (crypto): many
//!   concurrent submitters share one synchronous write to the audit journal
//!   ([`AuditWriter::with_journal`]; [`JOURNAL_DIR`] in the data directory), each is
//!   acknowledged only after its batch is durable, and a mover takes the journal into the log
//!   in large transactions. [`recover_journal`] moves what a stopped server left in the
//!   journal (for the offline CLI).
//! - [`lookup`] / [`Cloudtrail`] — `LookupEvents` per account and region, newest first
//!   ([`Cloudtrail::with_writer`] first waits until the writer's acknowledged records are in
//!   the log).
//! - [`verify`] / [`export`] — chain verification and JSON-lines export for the CLI.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod error;
mod event;
mod journal;
mod log;
mod lookup;
mod pack;
mod redact;
mod writer;

pub use error::AuditError;
pub use event::{Event, EventResource, SessionContext, SessionIssuer, UserIdentity};
pub use journal::{recover as recover_journal, JournalConfig, JOURNAL_DIR, JOURNAL_FORMAT};
pub use log::{
    append, export, verify, VerifyReport, HEAD_TABLE, INDEX_TABLE, LOG_TABLE, RECORD_VERSION,
};
pub use lookup::{lookup, Cloudtrail, MAX_SCAN_PER_CALL};
pub use redact::{kms_cryptographic_operation, redact_request_parameters, request_parameters_of};
pub use writer::{AuditWriter, WriterConfig};

#[cfg(test)]
mod tests;
