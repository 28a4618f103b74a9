//! KMS: keys, key material, policies, aliases, rotation, multi-region keys and the
//! cryptography behind Encrypt/Decrypt (docs/kms.md).
//!
//! * [`Kms`]: the service; implements the generated [`KmsHandler`](kmsnap_api::gen::kms::KmsHandler)
//!   by delegating each operation to `ops::<family>`.
//! * [`model`]: persisted records — [`model::KeyRecord`] per region, [`model::SharedKey`] per key
//!   id (what multi-region replicas share: material, rotation, roster).
//! * [`store`]: tables, the write path (one durable transaction per change) and the cache that
//!   keeps crypto calls in memory.
//! * [`crypto`]: material, wrapping at rest under the root key, the ciphertext blob format.
//! * [`import`]: wrapping parameters and checks of imported key material.
//! * [`keyspec`], [`asym`]: key specs and usages and their algorithms; the private keys of
//!   asymmetric and HMAC keys and what they do (sign, verify, MAC, RSAES-OAEP, ECDH).
//! * [`resolve`], [`authz`], [`metadata`]: KeyId parsing, who may use a key (key policy,
//!   identity policies from IAM, grants), KeyMetadata.
//! * [`grants`]: the grant tables, tokens and matching (the record is [`model::GrantRecord`]);
//!   the operations are in `ops::grants`.
//! * [`key_status`]: a key's state and manager for services that keep data under it (read
//!   from their transaction; other crates never read KMS's tables).
//! * [`workers`]: deletion windows and automatic rotation, advanced on the injected clock.
//! * [`audit`]: the CloudTrail record of every call (see below).
//! * [`error`]: [`KmsError`] and its one mapping to AWS codes.
//!
//! # Audit, and calls from other services
//!
//! Every call made through the [`KmsHandler`](kmsnap_api::gen::kms::KmsHandler) methods or
//! [`Kms::blocking`] — allowed or denied — writes one CloudTrail event, and is answered only
//! once that event is durable: a call that changes something records it in the same
//! transaction as the change; any other call (crypto, reads, failures) through the grouped
//! [`AuditWriter`](kmsnap_audit::AuditWriter) given to [`Kms::with_audit`] (the server's
//! writes the audit journal) or that [`Kms::new`] starts on the same store (direct mode,
//! stopped when the `Kms` is dropped). Calling `ops::…` functions directly bypasses the audit
//! and is for this crate's unit tests only.
//!
//! EBS, RDS and Backup use KMS in-process as AWS's services do, with the caller's context
//! marked as theirs, so authorization sees `kms:ViaService` and the event carries
//! `invokedBy`, `sourceIPAddress` and `userAgent` = the service:
//!
//! ```ignore
//! use kmsnap_api::gen::kms::{GenerateDataKeyRequest, KmsHandler};
//! let via = ctx.via("ec2.amazonaws.com");
//! // async code (request handlers): the trait method
//! let dk = kms.generate_data_key(&via, GenerateDataKeyRequest { key_id, ..Default::default() }).await?;
//! // synchronous code (a worker thread copying blocks): the same call, blocking
//! let dk = kms.blocking().generate_data_key(&via, GenerateDataKeyRequest { key_id, ..Default::default() })?;
//! ```
//!
//! The blocking form returns [`KmsError`] (the async one AWS's error, as the wire needs) and
//! may be called inside a multi-threaded runtime (it hands the worker thread over while it
//! waits), but async code should prefer the trait methods.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod asym;
pub mod audit;
pub mod authz;
pub mod crypto;
pub mod error;
pub mod grants;
pub mod import;
pub mod key_status;
pub mod keyspec;
pub mod managed;
pub mod metadata;
pub mod model;
pub mod ops;
pub mod resolve;
pub mod store;
/// Test scaffolding: this crate's unit tests, and other crates' tests through the
/// `testsupport` feature (enabled only in their `[dev-dependencies]`); never in release builds.
#[cfg(any(test, feature = "testsupport"))]
#[doc(hidden)]
pub mod testsupport;
pub mod workers;

#[cfg(test)]
mod authz_tests;
#[cfg(test)]
mod security_tests;

pub use audit::BlockingKms;
pub use error::KmsError;

use kmsnap_api::gen::kms as api;
use kmsnap_api::AwsError;
use kmsnap_auth::RequestContext;
use kmsnap_core::{Clock, RootKey};
use kmsnap_iam::{IdentityPolicySource, NoIdentityPolicies};
use kmsnap_store::MetaStore;
use std::sync::Arc;

/// Blocking work (the store, waiting for an audit record) from async code: hand the worker
/// thread over while it runs.
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// The KMS service of one server: every account and region.
pub struct Kms {
    pub(crate) store: store::KeyStore,
    pub(crate) clock: Arc<dyn Clock>,
    /// Where authorization finds callers' identity policies (IAM), given at construction.
    pub(crate) identity: Arc<dyn IdentityPolicySource>,
    /// Group commit of the audit records of calls that write nothing else.
    pub(crate) audit: Arc<kmsnap_audit::AuditWriter>,
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kms").finish_non_exhaustive()
    }
}

impl Kms {
    /// KMS on `meta` with its own audit writer in direct mode: a call's record is in the log
    /// when the call returns, and without IAM: users and roles have no identity policies
    /// (tests, tools). The server passes its journal writer and IAM to [`Kms::with_audit`]
    /// instead.
    pub fn new(
        meta: Arc<dyn MetaStore>,
        root: &RootKey,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, KmsError> {
        let audit = Arc::new(audit::start_writer(meta.clone())?);
        Self::with_audit(meta, root, clock, audit, Arc::new(NoIdentityPolicies))
    }

    /// KMS on `meta` whose calls that write nothing else hand their records to `audit` (the
    /// server's: the audit journal on the embedded store). `audit` must write to the same
    /// store, so the log has one chain. `identity` is where authorization finds callers'
    /// identity policies: IAM's ([`kmsnap_iam::IamPolicies`]) in the server.
    pub fn with_audit(
        meta: Arc<dyn MetaStore>,
        root: &RootKey,
        clock: Arc<dyn Clock>,
        audit: Arc<kmsnap_audit::AuditWriter>,
        identity: Arc<dyn IdentityPolicySource>,
    ) -> Result<Self, KmsError> {
        let wrapper = crypto::MaterialWrapper::new(root)?;
        Ok(Kms {
            audit,
            store: store::KeyStore::new(meta, wrapper),
            clock,
            identity,
        })
    }

    /// Forget cached keys (after a dev-mode reset wiped the store).
    pub fn clear_cache(&self) {
        self.store.clear_cache();
    }
}

/// Each operation, audited ([`audit`]): the async [`KmsHandler`](api::KmsHandler) method and the
/// [`BlockingKms`] method of the same name. The CloudTrail event name is the request shape's
/// name without `Request`.
macro_rules! delegate {
    ($( $name:ident : $module:ident ( $input:ident ) -> $out:ty ; )*) => {
        impl api::KmsHandler<RequestContext> for Kms {
            $(
                async fn $name(&self, ctx: &RequestContext, input: api::$input) -> Result<$out, AwsError> {
                    let op = stringify!($input).trim_end_matches("Request");
                    self.call(ctx, op, input, ops::$module::$name).await.map_err(AwsError::from)
                }
            )*
        }

        impl BlockingKms<'_> {
            $(
                #[doc = concat!("`", stringify!($input), "`, blocking until its audit record is durable.")]
                pub fn $name(&self, ctx: &RequestContext, input: api::$input) -> Result<$out, KmsError> {
                    let op = stringify!($input).trim_end_matches("Request");
                    self.kms.call_blocking(ctx, op, input, ops::$module::$name)
                }
            )*
        }
    };
}

delegate! {
    create_key: keys(CreateKeyRequest) -> api::CreateKeyResponse;
    describe_key: keys(DescribeKeyRequest) -> api::DescribeKeyResponse;
    list_keys: keys(ListKeysRequest) -> api::ListKeysResponse;
    update_key_description: keys(UpdateKeyDescriptionRequest) -> ();
    enable_key: keys(EnableKeyRequest) -> ();
    disable_key: keys(DisableKeyRequest) -> ();
    schedule_key_deletion: keys(ScheduleKeyDeletionRequest) -> api::ScheduleKeyDeletionResponse;
    cancel_key_deletion: keys(CancelKeyDeletionRequest) -> api::CancelKeyDeletionResponse;
    tag_resource: tags(TagResourceRequest) -> ();
    untag_resource: tags(UntagResourceRequest) -> ();
    list_resource_tags: tags(ListResourceTagsRequest) -> api::ListResourceTagsResponse;
    get_key_policy: policies(GetKeyPolicyRequest) -> api::GetKeyPolicyResponse;
    put_key_policy: policies(PutKeyPolicyRequest) -> ();
    list_key_policies: policies(ListKeyPoliciesRequest) -> api::ListKeyPoliciesResponse;
    encrypt: crypto(EncryptRequest) -> api::EncryptResponse;
    decrypt: crypto(DecryptRequest) -> api::DecryptResponse;
    re_encrypt: crypto(ReEncryptRequest) -> api::ReEncryptResponse;
    generate_data_key: crypto(GenerateDataKeyRequest) -> api::GenerateDataKeyResponse;
    generate_data_key_without_plaintext: crypto(GenerateDataKeyWithoutPlaintextRequest) -> api::GenerateDataKeyWithoutPlaintextResponse;
    generate_random: crypto(GenerateRandomRequest) -> api::GenerateRandomResponse;
    generate_data_key_pair: data_key_pair(GenerateDataKeyPairRequest) -> api::GenerateDataKeyPairResponse;
    generate_data_key_pair_without_plaintext: data_key_pair(GenerateDataKeyPairWithoutPlaintextRequest) -> api::GenerateDataKeyPairWithoutPlaintextResponse;
    sign: sign(SignRequest) -> api::SignResponse;
    verify: sign(VerifyRequest) -> api::VerifyResponse;
    get_public_key: sign(GetPublicKeyRequest) -> api::GetPublicKeyResponse;
    generate_mac: mac(GenerateMacRequest) -> api::GenerateMacResponse;
    verify_mac: mac(VerifyMacRequest) -> api::VerifyMacResponse;
    derive_shared_secret: agreement(DeriveSharedSecretRequest) -> api::DeriveSharedSecretResponse;
    get_parameters_for_import: import(GetParametersForImportRequest) -> api::GetParametersForImportResponse;
    import_key_material: import(ImportKeyMaterialRequest) -> api::ImportKeyMaterialResponse;
    delete_imported_key_material: import(DeleteImportedKeyMaterialRequest) -> api::DeleteImportedKeyMaterialResponse;
    create_alias: aliases(CreateAliasRequest) -> ();
    update_alias: aliases(UpdateAliasRequest) -> ();
    delete_alias: aliases(DeleteAliasRequest) -> ();
    list_aliases: aliases(ListAliasesRequest) -> api::ListAliasesResponse;
    enable_key_rotation: rotation(EnableKeyRotationRequest) -> ();
    disable_key_rotation: rotation(DisableKeyRotationRequest) -> ();
    get_key_rotation_status: rotation(GetKeyRotationStatusRequest) -> api::GetKeyRotationStatusResponse;
    rotate_key_on_demand: rotation(RotateKeyOnDemandRequest) -> api::RotateKeyOnDemandResponse;
    list_key_rotations: rotation(ListKeyRotationsRequest) -> api::ListKeyRotationsResponse;
    replicate_key: multi_region(ReplicateKeyRequest) -> api::ReplicateKeyResponse;
    create_grant: grants(CreateGrantRequest) -> api::CreateGrantResponse;
    list_grants: grants(ListGrantsRequest) -> api::ListGrantsResponse;
    list_retirable_grants: grants(ListRetirableGrantsRequest) -> api::ListGrantsResponse;
    retire_grant: grants(RetireGrantRequest) -> ();
    revoke_grant: grants(RevokeGrantRequest) -> ();
    update_primary_region: multi_region(UpdatePrimaryRegionRequest) -> ();
}
