//! [`AuthError`]: every way authentication can fail, and its one mapping to each protocol's AWS
//! error code, HTTP status and message (docs/protocols.md §3.4).
//!
//! Messages never carry secrets, signatures or session tokens: only access key ids, dates,
//! regions and service names, which AWS echoes too.

use chrono::{DateTime, Utc};
use kmsnap_api::schema::Protocol;
use kmsnap_api::AwsError;

/// Why a request could not be authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Neither an `Authorization` header nor presigned query parameters.
    #[error("request is missing authentication")]
    Missing,
    /// The signature parts are present but unusable; the reason is safe to show the client.
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// The access key id is not known (or, in strict mode, a dev-convention key).
    #[error("unknown access key id")]
    UnknownAccessKey,
    /// The signature we computed differs from the one sent.
    #[error("signature mismatch")]
    SignatureMismatch,
    /// `X-Amz-Content-SHA256` carries a hash that is not the body's.
    #[error("payload hash does not match the body")]
    PayloadHashMismatch,
    /// The request carries `x-amz-*` headers that its signature does not cover (names, lower
    /// case, sorted). SigV4 requires every `x-amz-*` header present to be signed: an unsigned
    /// one could be changed by anyone replaying the request (`X-Amz-Target` chooses the
    /// operation, `x-amz-checksum` vouches for an unsigned body).
    #[error("x-amz-* headers not signed: {0:?}")]
    HeadersNotSigned(Vec<String>),
    /// `X-Amz-Content-SHA256: UNSIGNED-PAYLOAD` on an operation that signs its payload.
    #[error("unsigned payload not allowed for this operation")]
    UnsignedPayloadNotAllowed,
    /// The credential scope's date is not the request date's first eight characters.
    #[error("credential scope date {scope_date} does not match request date {amz_date}")]
    ScopeDateMismatch {
        scope_date: String,
        amz_date: String,
    },
    /// Header form: the request time is more than 15 minutes before `now`.
    #[error("signature expired")]
    Expired {
        signed_at: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    /// The request time is more than 15 minutes after `now`.
    #[error("signature not yet current")]
    NotYetValid {
        signed_at: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    /// Presigned form: `X-Amz-Date + X-Amz-Expires` is in the past.
    #[error("presigned request expired")]
    PresignedExpired {
        expired_at: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    /// The credential scope names a region outside the `aws` partition's list.
    #[error("invalid region {0:?} in credential scope")]
    InvalidRegion(String),
    /// The credential scope names another service than the one the request was routed to.
    #[error("credential scope service is not {expected}")]
    WrongService { expected: String },
    /// A session token that does not decrypt, belongs to another key, or is missing for a
    /// temporary key (or is sent with a long-term configured key).
    #[error("invalid session token")]
    InvalidSessionToken,
    /// A valid session token whose expiry has passed.
    #[error("expired session token")]
    ExpiredSessionToken,
    /// Looking the credentials up failed (the IAM store); the detail is for the log only.
    #[error("credential lookup failed: {0}")]
    Internal(String),
}

const INVALID_TOKEN: &str = "The security token included in the request is invalid.";
const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
/// S3's text for the same refusal (its `HeadersNotSigned` error); the other services use their
/// signature-mismatch code with it.
const HEADERS_NOT_SIGNED: &str = "There were headers present in the request which were not signed";
const MISSING_TOKEN: &str = "Request is missing Authentication Token";
const EXPIRED_TOKEN: &str = "The security token included in the request is expired";
const EC2_AUTH_FAILURE: &str = "AWS was not able to validate the provided access credentials";
const EC2_REQUEST_EXPIRED: &str = "Request has expired.";

/// AWS's ISO-8601 basic form, as used in "Signature expired" messages.
fn basic(t: &DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The per-protocol codes of the three families of failure.
struct Codes {
    invalid_client: (&'static str, u16),
    bad_signature: (&'static str, u16),
    missing: (&'static str, u16),
    incomplete: (&'static str, u16),
    expired_token: (&'static str, u16),
}

fn codes(protocol: Protocol) -> Codes {
    match protocol {
        Protocol::Json => Codes {
            invalid_client: ("UnrecognizedClientException", 400),
            bad_signature: ("InvalidSignatureException", 400),
            missing: ("MissingAuthenticationTokenException", 400),
            incomplete: ("IncompleteSignatureException", 400),
            expired_token: ("ExpiredTokenException", 400),
        },
        Protocol::Ec2 => Codes {
            invalid_client: ("AuthFailure", 401),
            bad_signature: ("SignatureDoesNotMatch", 403),
            missing: ("MissingAuthenticationToken", 401),
            incomplete: ("IncompleteSignature", 400),
            expired_token: ("RequestExpired", 400),
        },
        Protocol::Query => Codes {
            invalid_client: ("InvalidClientTokenId", 403),
            bad_signature: ("SignatureDoesNotMatch", 403),
            missing: ("MissingAuthenticationToken", 403),
            incomplete: ("IncompleteSignature", 400),
            expired_token: ("ExpiredToken", 403),
        },
        Protocol::RestJson => Codes {
            invalid_client: ("UnrecognizedClientException", 403),
            bad_signature: ("InvalidSignatureException", 403),
            missing: ("MissingAuthenticationTokenException", 403),
            incomplete: ("IncompleteSignatureException", 403),
            expired_token: ("ExpiredTokenException", 403),
        },
    }
}

impl AuthError {
    /// The error the client sees for this failure under `protocol` (docs/protocols.md §3.4).
    ///
    /// Every variant is mapped explicitly, so a new variant forces a decision here.
    pub fn to_aws_error(&self, protocol: Protocol) -> AwsError {
        let c = codes(protocol);
        let bad_sig = |msg: String| AwsError::new(c.bad_signature.0, c.bad_signature.1, msg);
        match self {
            AuthError::Missing => {
                let msg = if protocol == Protocol::RestJson { "Missing Authentication Token" } else { MISSING_TOKEN };
                AwsError::new(c.missing.0, c.missing.1, msg)
            }
            AuthError::Malformed(reason) => AwsError::new(c.incomplete.0, c.incomplete.1, reason.clone()),
            AuthError::UnknownAccessKey | AuthError::InvalidSessionToken => {
                let msg = if protocol == Protocol::Ec2 { EC2_AUTH_FAILURE } else { INVALID_TOKEN };
                AwsError::new(c.invalid_client.0, c.invalid_client.1, msg)
            }
            AuthError::SignatureMismatch | AuthError::PayloadHashMismatch | AuthError::UnsignedPayloadNotAllowed => {
                bad_sig(SIGNATURE_MISMATCH.to_owned())
            }
            AuthError::HeadersNotSigned(names) => bad_sig(format!(
                "{HEADERS_NOT_SIGNED}: {}",
                names.join(", ")
            )),
            AuthError::ScopeDateMismatch { scope_date, amz_date } => bad_sig(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope_date}' != '{}', from '{amz_date}'.",
                amz_date.get(..8).unwrap_or(amz_date)
            )),
            AuthError::Expired { signed_at, now } => {
                if protocol == Protocol::Ec2 {
                    return AwsError::new("RequestExpired", 400, EC2_REQUEST_EXPIRED);
                }
                let limit = *now - chrono::Duration::minutes(15);
                bad_sig(format!(
                    "Signature expired: {} is now earlier than {} ({} - 15 min.)",
                    basic(signed_at),
                    basic(&limit),
                    basic(now)
                ))
            }
            AuthError::NotYetValid { signed_at, now } => {
                if protocol == Protocol::Ec2 {
                    return AwsError::new("RequestExpired", 400, EC2_REQUEST_EXPIRED);
                }
                let limit = *now + chrono::Duration::minutes(15);
                bad_sig(format!(
                    "Signature not yet current: {} is still later than {} ({} + 15 min.)",
                    basic(signed_at),
                    basic(&limit),
                    basic(now)
                ))
            }
            AuthError::PresignedExpired { expired_at, now } => {
                if protocol == Protocol::Ec2 {
                    return AwsError::new("RequestExpired", 400, EC2_REQUEST_EXPIRED);
                }
                bad_sig(format!(
                    "Signature expired: {} is now earlier than {}",
                    basic(expired_at),
                    basic(now)
                ))
            }
            AuthError::InvalidRegion(region) => {
                bad_sig(format!("Credential should be scoped to a valid region, not '{region}'. "))
            }
            AuthError::WrongService { expected } => {
                bad_sig(format!("Credential should be scoped to correct service: '{expected}'. "))
            }
            AuthError::ExpiredSessionToken => {
                let msg = if protocol == Protocol::Ec2 { EC2_REQUEST_EXPIRED } else { EXPIRED_TOKEN };
                AwsError::new(c.expired_token.0, c.expired_token.1, msg)
            }
            AuthError::Internal(_) => AwsError::internal("InternalFailure"),
        }
    }
}
