//! SigV4 (`AWS4-HMAC-SHA256`) verification and signing, our own code on aws-lc-rs HMAC and
//! SHA-256 (DESIGN.md "Dependencies").
//!
//! Verification is two steps so the server can look up the secret in between:
//! [`parse`] extracts the access key, credential scope, date, signed headers and session token
//! from either the `Authorization` header or presigned query parameters, validating everything
//! that needs no secret (scope region and service, scope date); [`verify`] then checks freshness
//! against real time and recomputes the signature, comparing in constant time.
//!
//! The canonical request follows botocore for non-S3 services ([`canonical`]): the path is
//! normalised and percent-encoded again (double encoding), the query is decoded and re-encoded
//! with only unreserved characters bare and sorted, header values are trimmed with inner
//! whitespace collapsed.
//!
//! Every `x-amz-*` header the request carries must be among the signed headers
//! ([`unsigned_amz_headers`]), in both forms, as SigV4 requires: otherwise a captured request
//! could be replayed with, say, another `X-Amz-Target` (another operation) or another
//! `x-amz-checksum` beside an unsigned body. Every AWS SDK signs all of them already.
//!
//! Payload hash: the value of `X-Amz-Content-SHA256` when present, else the SHA-256 of the body
//! (for a presigned GET that is the empty-body hash, as botocore's `SigV4QueryAuth` signs it).
//! AWS signs with the header's value as given; we additionally refuse a hex value that is not the
//! body's hash (otherwise the body would be unauthenticated) and refuse `UNSIGNED-PAYLOAD` unless
//! the routed operation is modelled with an unsigned body ([`SignedRequest::allow_unsigned_payload`],
//! EBS `PutSnapshotBlock`).

pub mod canonical;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use http::{HeaderMap, HeaderValue};
use kmsnap_core::Region;
use std::fmt;

use crate::error::AuthError;
use crate::model::Secret;
use canonical::CanonicalInput;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// Allowed clock skew between the request's date and real time, either way.
pub const MAX_SKEW: Duration = Duration::minutes(15);
/// The longest `X-Amz-Expires` AWS accepts (seven days).
pub const MAX_PRESIGNED_EXPIRES: i64 = 604_800;

const X_AMZ_ALGORITHM: &str = "X-Amz-Algorithm";
const X_AMZ_CREDENTIAL: &str = "X-Amz-Credential";
const X_AMZ_DATE: &str = "X-Amz-Date";
const X_AMZ_EXPIRES: &str = "X-Amz-Expires";
const X_AMZ_SIGNED_HEADERS: &str = "X-Amz-SignedHeaders";
const X_AMZ_SIGNATURE: &str = "X-Amz-Signature";
const X_AMZ_SECURITY_TOKEN: &str = "X-Amz-Security-Token";

/// Headers botocore never signs (plus `authorization` itself).
const UNSIGNED_HEADERS: &[&str] = &[
    "authorization",
    "expect",
    "transfer-encoding",
    "user-agent",
    "x-amzn-trace-id",
];

/// A request as the verifier sees it: raw (still percent-encoded) path and query as received.
#[derive(Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path as on the wire, e.g. `/recovery-points/arn%3Aaws%3A…`.
    pub raw_path: &'a str,
    /// The query string as on the wire, without `?`; empty when absent.
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The SigV4 signing name of the routed service (`kms`, `ec2`, …); the credential scope's
    /// service must equal it.
    pub service: &'a str,
    /// Whether the routed operation is modelled with an unsigned body (`authtype:
    /// v4-unsigned-body`), so `X-Amz-Content-SHA256: UNSIGNED-PAYLOAD` is acceptable.
    pub allow_unsigned_payload: bool,
}

/// Where the signature travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthForm {
    /// `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
    Header,
    /// Presigned query parameters, valid for `expires_secs` after `X-Amz-Date`.
    Query { expires_secs: i64 },
}

/// What [`parse`] extracts; enough to look up the caller's credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct ParsedAuth {
    pub form: AuthForm,
    pub access_key_id: String,
    /// Credential scope date, `yyyymmdd`.
    pub scope_date: String,
    /// Credential scope region: the request's authoritative region.
    pub region: Region,
    /// Credential scope service (equal to [`SignedRequest::service`]).
    pub service: String,
    /// The request date in ISO-8601 basic form, as it enters the string to sign.
    pub amz_date: String,
    pub time: DateTime<Utc>,
    /// Signed header names, lower case, in the order signed.
    pub signed_headers: Vec<String>,
    /// The signature as sent (hex). Never log it.
    pub signature: String,
    /// `X-Amz-Security-Token` (header or query), for temporary credentials.
    pub session_token: Option<String>,
}

impl ParsedAuth {
    /// `<date>/<region>/<service>/aws4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.scope_date, self.region, self.service
        )
    }
}

impl fmt::Debug for ParsedAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedAuth")
            .field("form", &self.form)
            .field("access_key_id", &self.access_key_id)
            .field("scope", &self.scope())
            .field("amz_date", &self.amz_date)
            .field("signed_headers", &self.signed_headers)
            .field("signature", &"<redacted>")
            .field(
                "session_token",
                &self
                    .session_token
                    .as_ref()
                    .map(|t| format!("<{} bytes>", t.len())),
            )
            .finish()
    }
}

fn malformed(s: impl Into<String>) -> AuthError {
    AuthError::Malformed(s.into())
}

/// Parses `yyyymmddTHHMMSSZ`.
fn parse_basic_date(s: &str) -> Option<DateTime<Utc>> {
    if s.len() != 16 {
        return None;
    }
    NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|n| n.and_utc())
}

fn basic_date(t: &DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Parses `<akid>/<date>/<region>/<service>/aws4_request` and checks region and service.
fn parse_credential(
    cred: &str,
    expected_service: &str,
) -> Result<(String, String, Region, String), AuthError> {
    let parts: Vec<&str> = cred.split('/').collect();
    let [akid, date, region, service, terminator] = parts.as_slice() else {
        return Err(malformed(format!(
            "Credential should be scoped to a valid region, service and terminator: '{cred}'."
        )));
    };
    if akid.is_empty() {
        return Err(malformed("Credential must have an access key id."));
    }
    if *terminator != "aws4_request" {
        return Err(malformed(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
        )));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(format!(
            "Invalid credential date '{date}'. Date is not the required format: yyyyMMdd."
        )));
    }
    let region = Region::parse(region).map_err(|e| AuthError::InvalidRegion(e.0))?;
    if *service != expected_service {
        return Err(AuthError::WrongService {
            expected: expected_service.to_owned(),
        });
    }
    Ok((
        (*akid).to_owned(),
        (*date).to_owned(),
        region,
        (*service).to_owned(),
    ))
}

fn parse_signed_headers(s: &str) -> Result<Vec<String>, AuthError> {
    let names: Vec<String> = s
        .split(';')
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    if names.iter().any(String::is_empty) {
        return Err(malformed(format!("Invalid SignedHeaders '{s}'.")));
    }
    if !names.iter().any(|n| n == "host") {
        return Err(malformed(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    Ok(names)
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, AuthError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(Some)
            .map_err(|_| malformed(format!("Header {name} is not valid ASCII."))),
    }
}

/// Extracts the signature parts of `req` without any secret (see the module docs).
pub fn parse(req: &SignedRequest<'_>) -> Result<ParsedAuth, AuthError> {
    let pairs = canonical::query_pairs(req.raw_query);
    let qp = |name: &str| -> Option<String> {
        pairs
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    let query_auth = [X_AMZ_ALGORITHM, X_AMZ_CREDENTIAL, X_AMZ_SIGNATURE]
        .iter()
        .any(|n| qp(n).is_some());
    let mut auth_headers = req.headers.get_all(http::header::AUTHORIZATION).iter();
    let auth_header = auth_headers.next();
    if auth_headers.next().is_some() {
        return Err(malformed("Only one Authorization header is allowed."));
    }

    if let Some(h) = auth_header {
        if query_auth {
            return Err(malformed("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified"));
        }
        let h = h
            .to_str()
            .map_err(|_| malformed("Authorization header is not valid ASCII."))?;
        parse_header_form(req, h)
    } else if query_auth {
        parse_query_form(req, &qp)
    } else {
        Err(AuthError::Missing)
    }
}

fn parse_header_form(req: &SignedRequest<'_>, h: &str) -> Result<ParsedAuth, AuthError> {
    let h = h.trim();
    let (alg, rest) = h
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((h, ""));
    if alg != ALGORITHM {
        return Err(malformed(format!(
            "Unsupported Authorization Type '{alg}'; only {ALGORITHM} is supported."
        )));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((k, v)) = part.split_once('=') else {
            // The fragment itself is not echoed: it may be (part of) a signature.
            return Err(malformed(
                "Authorization header requires key=value pairs separated by commas.",
            ));
        };
        let slot = match k.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            other => {
                return Err(malformed(format!(
                    "Unknown Authorization header parameter '{other}'."
                )))
            }
        };
        if slot.replace(v.trim()).is_some() {
            return Err(malformed(format!(
                "Authorization header parameter '{}' appears twice.",
                k.trim()
            )));
        }
    }
    let mut missing = String::new();
    for (name, v) in [
        ("Credential", &credential),
        ("Signature", &signature),
        ("SignedHeaders", &signed_headers),
    ] {
        if v.is_none() {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(malformed(missing.trim_end().to_owned()));
    };
    let (access_key_id, scope_date, region, service) = parse_credential(credential, req.service)?;

    let (amz_date, time) = if let Some(d) = header_str(req.headers, "x-amz-date")? {
        let t = parse_basic_date(d.trim()).ok_or_else(|| {
            malformed(format!(
                "Invalid X-Amz-Date '{d}'; it must be in ISO 8601 basic format."
            ))
        })?;
        (d.trim().to_owned(), t)
    } else if let Some(d) = header_str(req.headers, "date")? {
        let t = DateTime::parse_from_rfc2822(d.trim())
            .map(|t| t.with_timezone(&Utc))
            .ok()
            .or_else(|| parse_basic_date(d.trim()))
            .ok_or_else(|| malformed(format!("Invalid Date header '{d}'.")))?;
        (basic_date(&t), t)
    } else {
        return Err(malformed(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ));
    };
    check_scope_date(&scope_date, &amz_date)?;
    let session_token = header_str(req.headers, "x-amz-security-token")?.map(str::to_owned);
    let signed_headers = parse_signed_headers(signed_headers)?;
    require_amz_headers_signed(req.headers, &signed_headers)?;
    Ok(ParsedAuth {
        form: AuthForm::Header,
        access_key_id,
        scope_date,
        region,
        service,
        amz_date,
        time,
        signed_headers,
        signature: signature.to_owned(),
        session_token,
    })
}

fn check_scope_date(scope_date: &str, amz_date: &str) -> Result<(), AuthError> {
    if amz_date.get(..8) != Some(scope_date) {
        return Err(AuthError::ScopeDateMismatch {
            scope_date: scope_date.to_owned(),
            amz_date: amz_date.to_owned(),
        });
    }
    Ok(())
}

fn parse_query_form(
    req: &SignedRequest<'_>,
    qp: &dyn Fn(&str) -> Option<String>,
) -> Result<ParsedAuth, AuthError> {
    let need = |name: &str| {
        qp(name).ok_or_else(|| malformed(format!("AWS query-string parameters must include '{name}'. Re-examine the query-string parameters.")))
    };
    let alg = need(X_AMZ_ALGORITHM)?;
    if alg != ALGORITHM {
        return Err(malformed(format!(
            "X-Amz-Algorithm only supports \"{ALGORITHM}\""
        )));
    }
    let credential = need(X_AMZ_CREDENTIAL)?;
    let amz_date = need(X_AMZ_DATE)?;
    let expires = need(X_AMZ_EXPIRES)?;
    let signed_headers = need(X_AMZ_SIGNED_HEADERS)?;
    let signature = need(X_AMZ_SIGNATURE)?;
    let (access_key_id, scope_date, region, service) = parse_credential(&credential, req.service)?;
    let time = parse_basic_date(&amz_date)
        .ok_or_else(|| malformed(format!("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"; got '{amz_date}'.")))?;
    let expires_secs: i64 = expires
        .parse()
        .ok()
        .filter(|e| (0..=MAX_PRESIGNED_EXPIRES).contains(e))
        .ok_or_else(|| malformed(format!("X-Amz-Expires must be a non-negative integer of at most {MAX_PRESIGNED_EXPIRES} seconds.")))?;
    check_scope_date(&scope_date, &amz_date)?;
    let signed_headers = parse_signed_headers(&signed_headers)?;
    require_amz_headers_signed(req.headers, &signed_headers)?;
    Ok(ParsedAuth {
        form: AuthForm::Query { expires_secs },
        access_key_id,
        scope_date,
        region,
        service,
        amz_date,
        time,
        signed_headers,
        signature,
        session_token: qp(X_AMZ_SECURITY_TOKEN),
    })
}

/// The `x-amz-*` headers of `headers` that `signed` (lower-case names) does not list, sorted
/// and deduplicated. Two exceptions (docs/security.md, "Signed headers"): `x-amzn-trace-id` is
/// not an `x-amz-` header (proxies add it, and no signer signs it); `x-amz-security-token` may
/// be added after signing, as AWS's own signing test suite does (`post-sts-header-after`) and
/// SDKs do for some services — harmless, because a session token only opens the one temporary
/// access key it was minted for ([`crate::keyring`]), so it cannot be swapped for another.
pub fn unsigned_amz_headers(headers: &HeaderMap, signed: &[String]) -> Vec<String> {
    let mut out: Vec<String> = headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| k.starts_with("x-amz-") && *k != "x-amz-security-token")
        .filter(|k| !signed.iter().any(|s| s == k))
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    out
}

fn require_amz_headers_signed(headers: &HeaderMap, signed: &[String]) -> Result<(), AuthError> {
    let unsigned = unsigned_amz_headers(headers, signed);
    if unsigned.is_empty() {
        Ok(())
    } else {
        Err(AuthError::HeadersNotSigned(unsigned))
    }
}

/// The payload hash that enters the canonical request (see the module docs).
fn payload_hash(
    headers: &HeaderMap,
    body: &[u8],
    allow_unsigned: bool,
) -> Result<String, AuthError> {
    let computed = || canonical::sha256_hex(body);
    match header_str(headers, "x-amz-content-sha256")? {
        None => Ok(computed()),
        Some(v) if v == UNSIGNED_PAYLOAD => {
            if allow_unsigned {
                Ok(UNSIGNED_PAYLOAD.to_owned())
            } else {
                Err(AuthError::UnsignedPayloadNotAllowed)
            }
        }
        Some(v) if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) => {
            if v.eq_ignore_ascii_case(&computed()) {
                Ok(v.to_owned())
            } else {
                Err(AuthError::PayloadHashMismatch)
            }
        }
        Some(_) => Err(malformed("Unsupported x-amz-content-sha256 value; kmsnap accepts a hex SHA-256 or UNSIGNED-PAYLOAD.")),
    }
}

/// The canonical request of `req` as `parsed` describes its signing; useful in logs on a
/// mismatch (it holds no secret).
pub fn canonical_request(
    req: &SignedRequest<'_>,
    parsed: &ParsedAuth,
) -> Result<Vec<u8>, AuthError> {
    let payload = payload_hash(req.headers, req.body, req.allow_unsigned_payload)?;
    let pairs = canonical::query_pairs(req.raw_query);
    let skip = match parsed.form {
        AuthForm::Header => None,
        AuthForm::Query { .. } => Some(X_AMZ_SIGNATURE.as_bytes()),
    };
    let query = canonical::canonical_query(&pairs, skip);
    Ok(canonical::canonical_request(&CanonicalInput {
        method: req.method,
        raw_path: req.raw_path,
        canonical_query: &query,
        headers: req.headers,
        signed_headers: &parsed.signed_headers,
        payload_hash: &payload,
    }))
}

/// The string to sign of `req`.
pub fn string_to_sign(req: &SignedRequest<'_>, parsed: &ParsedAuth) -> Result<String, AuthError> {
    let creq = canonical_request(req, parsed)?;
    Ok(canonical::string_to_sign(
        &parsed.amz_date,
        &parsed.scope(),
        &creq,
    ))
}

/// Checks freshness against real time (`now_real`; never the domain clock, which tests move)
/// and the signature, in constant time.
pub fn verify(
    req: &SignedRequest<'_>,
    parsed: &ParsedAuth,
    secret: &Secret,
    now_real: DateTime<Utc>,
) -> Result<(), AuthError> {
    check_time(parsed, now_real)?;
    let sts = string_to_sign(req, parsed)?;
    let key = canonical::signing_key(
        secret,
        &parsed.scope_date,
        parsed.region.as_str(),
        &parsed.service,
    );
    let expected = canonical::signature(&key, &sts);
    verify_slices_are_equal(expected.as_bytes(), parsed.signature.as_bytes())
        .map_err(|_| AuthError::SignatureMismatch)
}

/// Header form: `time` within ±15 minutes of `now`. Presigned: not more than 15 minutes in the
/// future and `now` not past `time + expires`.
pub fn check_time(parsed: &ParsedAuth, now: DateTime<Utc>) -> Result<(), AuthError> {
    if parsed.time > now + MAX_SKEW {
        return Err(AuthError::NotYetValid {
            signed_at: parsed.time,
            now,
        });
    }
    match parsed.form {
        AuthForm::Header => {
            if parsed.time < now - MAX_SKEW {
                return Err(AuthError::Expired {
                    signed_at: parsed.time,
                    now,
                });
            }
        }
        AuthForm::Query { expires_secs } => {
            let expired_at = parsed.time + Duration::seconds(expires_secs);
            if now > expired_at {
                return Err(AuthError::PresignedExpired { expired_at, now });
            }
        }
    }
    Ok(())
}

/// The caller's side of signing (tests, and server-built presigned URLs).
#[derive(Debug, Clone, Copy)]
pub struct SigningParams<'a> {
    pub access_key_id: &'a str,
    pub secret: &'a Secret,
    pub session_token: Option<&'a str>,
    pub region: &'a str,
    pub service: &'a str,
    pub time: DateTime<Utc>,
}

impl SigningParams<'_> {
    fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.time.format("%Y%m%d"),
            self.region,
            self.service
        )
    }
    fn sign(&self, creq: &[u8]) -> String {
        let amz_date = basic_date(&self.time);
        let sts = canonical::string_to_sign(&amz_date, &self.scope(), creq);
        let key = canonical::signing_key(
            self.secret,
            &self.time.format("%Y%m%d").to_string(),
            self.region,
            self.service,
        );
        canonical::signature(&key, &sts)
    }
}

fn header_value(s: &str) -> Result<HeaderValue, AuthError> {
    HeaderValue::from_str(s).map_err(|_| malformed("value not allowed in a header"))
}

/// Signs in header form as botocore does: sets `X-Amz-Date` (and `X-Amz-Security-Token`), signs
/// every header present except those botocore never signs, and sets `Authorization`. `host`
/// must be present. The payload hash follows the same rule as verification (an existing
/// `X-Amz-Content-SHA256` is used; `UNSIGNED-PAYLOAD` is allowed when signing).
pub fn sign_headers(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &mut HeaderMap,
    body: &[u8],
    params: &SigningParams<'_>,
) -> Result<(), AuthError> {
    if !headers.contains_key(http::header::HOST) {
        return Err(malformed("signing requires a Host header"));
    }
    headers.remove(http::header::AUTHORIZATION);
    headers.insert("x-amz-date", header_value(&basic_date(&params.time))?);
    if let Some(t) = params.session_token {
        headers.insert("x-amz-security-token", header_value(t)?);
    }
    let mut names: Vec<String> = headers
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| !UNSIGNED_HEADERS.contains(&k.as_str()))
        .collect();
    names.sort();
    names.dedup();
    let payload = payload_hash(headers, body, true)?;
    let query = canonical::canonical_query(&canonical::query_pairs(raw_query), None);
    let creq = canonical::canonical_request(&CanonicalInput {
        method,
        raw_path,
        canonical_query: &query,
        headers,
        signed_headers: &names,
        payload_hash: &payload,
    });
    let signature = params.sign(&creq);
    let auth = format!(
        "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={signature}",
        params.access_key_id,
        params.scope(),
        names.join(";")
    );
    headers.insert(http::header::AUTHORIZATION, header_value(&auth)?);
    Ok(())
}

/// Presigns in query form as botocore's `SigV4QueryAuth` does: signs only `host`, payload hash of
/// `body` (empty for a GET). Returns the new raw query: `raw_query`, then the `X-Amz-*`
/// parameters, `X-Amz-Signature` last.
pub fn presign(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    params: &SigningParams<'_>,
    expires_secs: i64,
) -> Result<String, AuthError> {
    if !headers.contains_key(http::header::HOST) {
        return Err(malformed("signing requires a Host header"));
    }
    if !(0..=MAX_PRESIGNED_EXPIRES).contains(&expires_secs) {
        return Err(malformed("X-Amz-Expires out of range"));
    }
    let enc = canonical::encode_component;
    let mut query = raw_query.to_owned();
    let mut add = |k: &str, v: &str| {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&enc(k.as_bytes()));
        query.push('=');
        query.push_str(&enc(v.as_bytes()));
    };
    add(X_AMZ_ALGORITHM, ALGORITHM);
    add(
        X_AMZ_CREDENTIAL,
        &format!("{}/{}", params.access_key_id, params.scope()),
    );
    add(X_AMZ_DATE, &basic_date(&params.time));
    add(X_AMZ_EXPIRES, &expires_secs.to_string());
    add(X_AMZ_SIGNED_HEADERS, "host");
    if let Some(t) = params.session_token {
        add(X_AMZ_SECURITY_TOKEN, t);
    }
    let payload = payload_hash(headers, body, true)?;
    let cq = canonical::canonical_query(&canonical::query_pairs(&query), None);
    let creq = canonical::canonical_request(&CanonicalInput {
        method,
        raw_path,
        canonical_query: &cq,
        headers,
        signed_headers: &["host".to_owned()],
        payload_hash: &payload,
    });
    let signature = params.sign(&creq);
    query.push('&');
    query.push_str(X_AMZ_SIGNATURE);
    query.push('=');
    query.push_str(&signature);
    Ok(query)
}

#[cfg(test)]
mod tests;
