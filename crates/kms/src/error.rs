//! KMS's typed errors and their one mapping to AWS codes and messages (docs/kms.md §4's
//! message table, verbatim so that clients' log matching works). The match has no catch-all arm:
//! a new variant forces a decision.

use crate::model::KeyState;
use kmsnap_api::AwsError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KmsError {
    #[error("key not found")]
    KeyNotFound { arn: String },
    #[error("alias not found")]
    AliasNotFound { alias_arn: String },
    /// A `KeyId` that is not a key id (UUID or `mrk-` + 32 hex), a form AWS refuses before any
    /// lookup (docs/fidelity.md §3).
    #[error("invalid key id")]
    InvalidKeyId { key_id: String },
    /// A key ARN of another region than the request's (docs/fidelity.md §3).
    #[error("key ARN of region {region}")]
    ArnOfOtherRegion { region: String },
    /// Something other than a key or alias that does not exist (a policy name), with AWS's message.
    #[error("not found: {0}")]
    NotFound(String),
    #[error("key disabled")]
    Disabled { arn: String },
    #[error("key in invalid state")]
    InvalidState { arn: String, state: KeyState },
    #[error("key not pending deletion")]
    NotPendingDeletion { arn: String },
    /// KMSInvalidStateException with a message of its own (not one of the state templates).
    #[error("invalid state: {0}")]
    InvalidStateMessage(String),
    #[error("invalid ciphertext")]
    InvalidCiphertext,
    #[error("incorrect key")]
    IncorrectKey,
    /// Verify: the signature does not verify (never answered as `SignatureValid: false`).
    #[error("invalid signature")]
    InvalidSignature,
    /// VerifyMac: the MAC does not match.
    #[error("invalid mac")]
    InvalidMac,
    /// ImportKeyMaterial: the token is not one this key's GetParametersForImport gave.
    #[error("invalid import token")]
    InvalidImportToken,
    /// ImportKeyMaterial: the token's parameters are past their ParametersValidTo.
    #[error("expired import token")]
    ExpiredImportToken,
    /// ImportKeyMaterial: not the material the key expects, with AWS's message.
    #[error("incorrect key material: {0}")]
    IncorrectKeyMaterial(String),
    #[error("validation: {0}")]
    Validation(String),
    #[error("invalid arn: {0}")]
    InvalidArn(String),
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// `alias/aws/…` names are reserved for AWS managed keys (CreateAlias/DeleteAlias; the code
    /// moto answers, docs/kms.md §5).
    #[error("not authorized")]
    NotAuthorized,
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    #[error("tag: {0}")]
    Tag(String),
    #[error("invalid marker")]
    InvalidMarker,
    #[error("malformed policy: {0}")]
    MalformedPolicy(String),
    #[error("invalid alias name: {0}")]
    InvalidAliasName(String),
    #[error("invalid key usage: {0}")]
    InvalidKeyUsage(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid grant token")]
    InvalidGrantToken,
    #[error("invalid grant id")]
    InvalidGrantId(String),
    #[error("dry run")]
    DryRun,
    /// An operation (or an option of one, such as an asymmetric KeySpec) not built yet.
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
    /// The cause is logged where it happens; the client sees only KMSInternalException.
    #[error("internal: {0}")]
    Internal(&'static str),
}

impl From<kmsnap_store::StoreError> for KmsError {
    fn from(e: kmsnap_store::StoreError) -> Self {
        tracing::error!(error = %e, "kms store failure");
        KmsError::Internal("store")
    }
}

/// Failures of the cryptography (`crypto`, `asym`, `import`), before they become a
/// [`KmsError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Tampered, truncated, foreign or wrong-context ciphertext: indistinguishable to callers.
    #[error("invalid ciphertext")]
    InvalidCiphertext,
    #[error("stored key material could not be unwrapped")]
    Unwrap,
    #[error("random number generator failed")]
    Rng,
    /// Verify: the signature does not match (any reason; callers see one error).
    #[error("invalid signature")]
    InvalidSignature,
    /// VerifyMac: the MAC does not match.
    #[error("invalid mac")]
    InvalidMac,
    /// DeriveSharedSecret: the peer's public key is not a DER SubjectPublicKeyInfo of a point on
    /// the key's curve.
    #[error("invalid peer public key")]
    InvalidPeerKey,
    #[error("cryptographic operation failed")]
    Internal,
}

impl From<CryptoError> for KmsError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::InvalidCiphertext => KmsError::InvalidCiphertext,
            CryptoError::InvalidSignature => KmsError::InvalidSignature,
            CryptoError::InvalidMac => KmsError::InvalidMac,
            // AWS answers a bad peer key with an empty ValidationException (docs/kms-asymmetric.md §8).
            CryptoError::InvalidPeerKey => KmsError::Validation(String::new()),
            other => {
                tracing::error!(error = %other, "kms crypto failure");
                KmsError::Internal("crypto")
            }
        }
    }
}

fn state_message(arn: &str, state: KeyState) -> String {
    match state {
        KeyState::PendingDeletion | KeyState::PendingReplicaDeletion => {
            format!("{arn} is pending deletion.")
        }
        KeyState::PendingImport => format!("{arn} is pending import."),
        KeyState::Unavailable => format!("{arn} is unavailable."),
        KeyState::Creating => format!("{arn} is creating."),
        KeyState::Updating => format!("{arn} is updating."),
        KeyState::Disabled => format!("{arn} is disabled."),
        KeyState::Enabled => format!("{arn} is enabled."),
    }
}

impl From<KmsError> for AwsError {
    fn from(e: KmsError) -> AwsError {
        let c = |code: &'static str, msg: String| AwsError::new(code, 400, msg);
        match e {
            KmsError::KeyNotFound { arn } => c("NotFoundException", format!("Key '{arn}' does not exist")),
            KmsError::AliasNotFound { alias_arn } => c("NotFoundException", format!("Alias {alias_arn} is not found.")),
            KmsError::InvalidKeyId { key_id } => c("NotFoundException", format!("Invalid keyId '{key_id}'")),
            KmsError::ArnOfOtherRegion { region } => c("NotFoundException", format!("Invalid arn {region}")),
            KmsError::NotFound(m) => c("NotFoundException", m),
            KmsError::Disabled { arn } => c("DisabledException", format!("{arn} is disabled.")),
            KmsError::InvalidState { arn, state } => c("KMSInvalidStateException", state_message(&arn, state)),
            KmsError::InvalidStateMessage(m) => c("KMSInvalidStateException", m),
            KmsError::NotPendingDeletion { arn } => {
                c("KMSInvalidStateException", format!("{arn} is not pending deletion."))
            }
            KmsError::InvalidCiphertext => c("InvalidCiphertextException", String::new()),
            KmsError::IncorrectKey => c(
                "IncorrectKeyException",
                "The key ID in the request does not identify a CMK that can perform this operation.".into(),
            ),
            KmsError::InvalidSignature => c("KMSInvalidSignatureException", String::new()),
            KmsError::InvalidMac => c("KMSInvalidMacException", String::new()),
            KmsError::InvalidImportToken => c("InvalidImportTokenException", String::new()),
            KmsError::ExpiredImportToken => c("ExpiredImportTokenException", String::new()),
            KmsError::IncorrectKeyMaterial(m) => c("IncorrectKeyMaterialException", m),
            KmsError::Validation(m) => c("ValidationException", m),
            KmsError::InvalidArn(m) => c("InvalidArnException", m),
            KmsError::AlreadyExists(m) => c("AlreadyExistsException", m),
            KmsError::Unsupported(m) => c("UnsupportedOperationException", m),
            KmsError::AccessDenied(m) => c("AccessDeniedException", m),
            KmsError::NotAuthorized => c("NotAuthorizedException", String::new()),
            KmsError::LimitExceeded(m) => c("LimitExceededException", m),
            KmsError::Tag(m) => c("TagException", m),
            KmsError::InvalidMarker => c("InvalidMarkerException", "Invalid marker".into()),
            KmsError::MalformedPolicy(m) => c("MalformedPolicyDocumentException", m),
            KmsError::InvalidAliasName(m) => c("InvalidAliasNameException", m),
            KmsError::InvalidKeyUsage(m) => c("InvalidKeyUsageException", m),
            KmsError::Conflict(m) => c("ConflictException", m),
            KmsError::InvalidGrantToken => c("InvalidGrantTokenException", "Invalid grant token".into()),
            KmsError::InvalidGrantId(m) => c("InvalidGrantIdException", m),
            KmsError::DryRun => c(
                "DryRunOperationException",
                "The request would have succeeded, but the DryRun option is set.".into(),
            ),
            KmsError::NotImplemented(what) => AwsError::not_implemented("kms", what),
            KmsError::Internal(_) => AwsError::new("KMSInternalException", 500, "An internal error occurred."),
        }
    }
}
