//! The CloudTrail record of every KMS call (DESIGN.md "Audit", docs/cloudtrail.md §2, docs/kms.md §15): allowed or
//! denied, direct or made by another service in-process, each call leaves exactly one event,
//! durable before the caller gets its answer.
//!
//! Operations are plain synchronous functions (`ops::<family>::<op>(kms, ctx, input)`); rather
//! than threading an audit handle through every one of them, each call runs inside a per-call
//! **scope** on its thread (`Kms::scoped`, opened by the `delegate!` macro in `lib.rs` for the
//! async [`KmsHandler`](kmsnap_api::gen::kms::KmsHandler) and for [`BlockingKms`]). The scope
//! holds the call's [`Event`], built up front from the request context and the typed request
//! (requestParameters through the audit crate's per-operation allowlist, so plaintexts,
//! ciphertexts and tokens are never even serialised). Nothing awaits while a scope is open, so
//! a thread-local is exactly as long-lived as the call.
//!
//! * The key: `ops::common::load`, and Decrypt/ReEncrypt when the ciphertext header names the
//!   key, call [`note_key`] *before* authorizing, so a denied call on another account's key has
//!   the key as its resource and lands in the owner's trail as well as the caller's. CreateKey
//!   notes its new key and its response ([`note_response`]) before it writes.
//! * A call that changes something: `KeyStore::write` (in `store`) appends
//!   the event (success, with what was noted) inside its own transaction the first time the
//!   call writes (`append_pending`), so the change and its record commit — or abort —
//!   together.
//! * Any other call (crypto, reads, and every failure, AccessDenied included) ends with its
//!   event unwritten; `Kms::call` hands it to the [`AuditWriter`] (group commit: on the
//!   server, one journal write and one fsync for every call that arrived meanwhile) and
//!   answers only once that batch is durable. If the record cannot be written the call fails
//!   (`KMSInternalException`): nothing is answered without its record.
//! * A write that is not the call's own effect (the AWS managed key that the first use of
//!   `alias/aws/ebs` creates) runs under [`not_this_call`] and leaves the event alone.
//!
//! Workers (automatic rotation, end of a deletion window) have no caller: they append an
//! `AwsServiceEvent` (`service_event`) in the transaction that makes the change.

use crate::{blocking, Kms, KmsError};
use chrono::{DateTime, Utc};
use kmsnap_api::AwsError;
use kmsnap_audit::{AuditWriter, Event, WriterConfig};
use kmsnap_auth::RequestContext;
use kmsnap_core::arn::Arn;
use kmsnap_store::WriteTxn;
use serde::Serialize;
use std::cell::RefCell;

/// `eventSource` of every KMS event.
pub const EVENT_SOURCE: &str = "kms.amazonaws.com";

/// The `service` name the audit crate's redaction tables use for KMS.
const SERVICE: &str = "kms";

/// How the direct-mode writer of [`Kms::new`] groups records: at most this many events per
/// transaction. No linger: submissions that arrive while a batch commits form the next batch on
/// their own, so a lone call is never delayed. (The server's writer is the audit journal's,
/// passed to [`Kms::with_audit`].)
pub fn writer_config() -> WriterConfig {
    WriterConfig {
        max_batch: 4096,
        linger: std::time::Duration::ZERO,
    }
}

/// Starts the direct-mode writer of [`Kms::new`].
pub(crate) fn start_writer(
    meta: std::sync::Arc<dyn kmsnap_store::MetaStore>,
) -> Result<AuditWriter, KmsError> {
    AuditWriter::with_config(meta, writer_config()).map_err(|e| {
        tracing::error!(error = %e, "cannot start the KMS audit writer");
        KmsError::Internal("audit writer")
    })
}

/// CloudTrail's `readOnly` for a KMS operation: metadata reads (`Describe*`, `Get*`, `List*`)
/// and the cryptographic operations, which change nothing.
pub fn is_read_only(op: &str) -> bool {
    op.starts_with("Describe")
        || op.starts_with("Get")
        || op.starts_with("List")
        || kmsnap_audit::kms_cryptographic_operation(op)
}

/// CloudTrail's `errorCode` for a KMS error code: the exception name, except that a denial is
/// recorded as `AccessDenied` (the form CloudTrail uses for KMS authorization failures).
pub fn cloudtrail_error_code(code: &str) -> &str {
    match code {
        "AccessDeniedException" => "AccessDenied",
        other => other,
    }
}

/// The event of one call in progress.
struct Scope {
    /// Always `Some` between [`Kms::scoped`]'s push and pop (taken only to rebuild it).
    event: Option<Event>,
    /// Appended inside a committed write transaction of the call.
    recorded: bool,
    /// `responseElements` were set by [`note_response`] (before a write).
    response_noted: bool,
    /// > 0 while a write that is not the call's effect runs ([`not_this_call`]).
    suspended: u32,
}

thread_local! {
    /// Open scopes of this thread, innermost last (a scoped call may make another).
    static SCOPES: RefCell<Vec<Scope>> = const { RefCell::new(Vec::new()) };
}

fn with_current(f: impl FnOnce(&mut Scope)) {
    SCOPES.with_borrow_mut(|s| {
        if let Some(scope) = s.last_mut() {
            f(scope);
        }
    });
}

fn update_event(scope: &mut Scope, f: impl FnOnce(Event) -> Event) {
    if let Some(e) = scope.event.take() {
        scope.event = Some(f(e));
    }
}

/// Names the KMS key the current call acts on (`resources`, and the key owner's trail gets a
/// copy). Outside a scoped call it does nothing.
pub fn note_key(arn: &str) {
    with_current(|s| update_event(s, |e| e.with_kms_key(arn)));
}

/// Sets the current call's `responseElements` before it writes (a call that writes records its
/// event inside the transaction, before its response exists otherwise). The response passes
/// the audit crate's filter: secrets never reach the log.
pub fn note_response<T: Serialize + ?Sized>(response: &T) {
    with_current(|s| {
        update_event(s, |e| {
            let op = e.event_name.clone();
            e.with_response_of(SERVICE, &op, response)
        });
        s.response_noted = true;
    });
}

/// While the returned guard lives, writes on this thread do not carry the current call's event
/// (for writes that are a side effect, not the call's own change).
pub fn not_this_call() -> Suspended {
    with_current(|s| s.suspended += 1);
    Suspended(())
}

/// See [`not_this_call`].
#[must_use = "the event is held back only while the guard lives"]
pub struct Suspended(());

impl Drop for Suspended {
    fn drop(&mut self) {
        with_current(|s| s.suspended = s.suspended.saturating_sub(1));
    }
}

/// Called by `KeyStore::write` (in `store`) just before it commits: appends
/// the current call's event to `txn` unless it is already recorded (or held back). Returns
/// whether it did; the caller reports a successful commit with [`mark_recorded`].
pub(crate) fn append_pending(txn: &mut dyn WriteTxn) -> Result<bool, KmsError> {
    SCOPES.with_borrow(|s| match s.last() {
        Some(Scope { event: Some(event), recorded: false, suspended: 0, .. }) => {
            kmsnap_audit::append(txn, std::slice::from_ref(event)).map_err(|e| {
                tracing::error!(error = %e, op = %event.event_name, "appending the audit record failed");
                KmsError::Internal("audit append")
            })?;
            Ok(true)
        }
        _ => Ok(false),
    })
}

/// The transaction that [`append_pending`] wrote into has committed.
pub(crate) fn mark_recorded() {
    with_current(|s| s.recorded = true);
}

/// Pops the scope pushed by [`Kms::scoped`], also when the operation unwinds.
struct Entered {
    left: bool,
}

impl Entered {
    fn enter(event: Event) -> Self {
        SCOPES.with_borrow_mut(|s| {
            s.push(Scope {
                event: Some(event),
                recorded: false,
                response_noted: false,
                suspended: 0,
            })
        });
        Entered { left: false }
    }

    fn leave(mut self) -> Option<Scope> {
        self.left = true;
        SCOPES.with_borrow_mut(Vec::pop)
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        if !self.left {
            SCOPES.with_borrow_mut(Vec::pop);
        }
    }
}

/// A KMS operation as `ops` implements it.
pub type OpFn<I, O> = fn(&Kms, &RequestContext, I) -> Result<O, KmsError>;

/// An `AwsServiceEvent` for a KMS-internal action on `key_arn` (`RotateKey`, `DeleteKey`),
/// appended in the worker's transaction `txn`.
pub(crate) fn service_event(
    txn: &mut dyn WriteTxn,
    name: &str,
    key_arn: &str,
    now: DateTime<Utc>,
    details: Option<serde_json::Value>,
) -> Result<(), KmsError> {
    let (region, account) = Arn::parse(key_arn)
        .map(|a| (a.region, a.account))
        .unwrap_or_default();
    let mut event =
        Event::service_event(&account, &region, EVENT_SOURCE, name, now).with_kms_key(key_arn);
    if let Some(d) = details {
        event = event.with_service_event_details(d);
    }
    kmsnap_audit::append(txn, &[event]).map_err(|e| {
        tracing::error!(error = %e, event = name, key = key_arn, "appending the audit record failed");
        KmsError::Internal("audit append")
    })
}

fn audit_failed(op: &str, e: &kmsnap_audit::AuditError) -> KmsError {
    tracing::error!(error = %e, op, "audit record not written; failing the call");
    KmsError::Internal("audit record not written")
}

impl Kms {
    /// Runs `f` inside a scope for operation `op` and returns its result and, unless the call
    /// recorded it in one of its write transactions, its finished event for the writer.
    pub(crate) fn scoped<I: Serialize, O: Serialize>(
        &self,
        ctx: &RequestContext,
        op: &'static str,
        input: I,
        f: OpFn<I, O>,
    ) -> (Result<O, KmsError>, Option<Event>) {
        let event = Event::api_call(ctx, EVENT_SOURCE, op, is_read_only(op))
            .with_request_of(SERVICE, op, &input);
        let entered = Entered::enter(event);
        let result = f(self, ctx, input);
        let Some(scope) = entered.leave() else {
            tracing::error!(op, "audit scope vanished");
            return (result, None);
        };
        if scope.recorded {
            if let Err(e) = &result {
                // Its success was recorded with the change; the call failed after committing.
                tracing::warn!(op, error = %e, "call failed after its change and audit record were committed");
            }
            return (result, None);
        }
        let Some(mut event) = scope.event else {
            return (result, None);
        };
        match &result {
            Ok(out) if !scope.response_noted => event = event.with_response_of(SERVICE, op, out),
            Ok(_) => {}
            Err(e) => {
                let aws = AwsError::from(e.clone());
                event = event.with_error(cloudtrail_error_code(&aws.code), &aws.message);
                event.response_elements = serde_json::Value::Null;
            }
        }
        (result, Some(event))
    }

    /// One audited call for async callers (the `KmsHandler` methods): the answer waits for the
    /// record's batch to be durable.
    pub(crate) async fn call<I, O>(
        &self,
        ctx: &RequestContext,
        op: &'static str,
        input: I,
        f: OpFn<I, O>,
    ) -> Result<O, KmsError>
    where
        I: Serialize + Send,
        O: Serialize + Send,
    {
        let (result, pending) = self.scoped(ctx, op, input, f);
        if let Some(event) = pending {
            self.audit
                .submit_event(&event)
                .await
                .map_err(|e| audit_failed(op, &e))?;
        }
        result
    }

    /// [`Kms::call`] for synchronous callers: blocks until the record is durable.
    pub(crate) fn call_blocking<I: Serialize, O: Serialize>(
        &self,
        ctx: &RequestContext,
        op: &'static str,
        input: I,
        f: OpFn<I, O>,
    ) -> Result<O, KmsError> {
        let (result, pending) = self.scoped(ctx, op, input, f);
        if let Some(event) = pending {
            blocking(|| self.audit.submit_event_wait(&event)).map_err(|e| audit_failed(op, &e))?;
        }
        result
    }

    /// The KMS operations for synchronous callers (workers of other services that run on their
    /// own threads); see the crate documentation.
    pub fn blocking(&self) -> BlockingKms<'_> {
        BlockingKms { kms: self }
    }
}

/// Every KMS operation as a blocking call, audited exactly like the
/// [`KmsHandler`](kmsnap_api::gen::kms::KmsHandler) methods of the same name; returned by
/// [`Kms::blocking`]. Inside a multi-threaded tokio runtime the wait for the audit record hands
/// the worker thread over (`block_in_place`); async code should still prefer the async methods.
#[derive(Debug, Clone, Copy)]
pub struct BlockingKms<'a> {
    pub(crate) kms: &'a Kms,
}

#[cfg(test)]
mod tests;
