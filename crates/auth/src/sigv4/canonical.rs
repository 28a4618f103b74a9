//! The canonical request and string to sign of SigV4, built exactly as botocore's `SigV4Auth`
//! builds them for non-S3 services (docs/protocols.md §3.2), plus the signing key derivation.
//!
//! The canonical request is built as bytes: header values may carry obs-text and the query may
//! decode to bytes that are not UTF-8; both are percent-encoded or copied, never rejected.

use aws_lc_rs::{digest, hmac};
use http::HeaderMap;
use percent_encoding::{percent_decode, percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::model::Secret;

/// RFC 3986 unreserved characters stay bare; everything else is `%XX`.
const QUERY_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// Like [`QUERY_SET`] but `/` also stays bare (canonical URI).
const PATH_SET: &AsciiSet = &QUERY_SET.remove(b'/');

/// Hex SHA-256 of the empty payload.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, data))
}

/// RFC 3986 §5.2.4 dot-segment removal, with empty segments (`//`) collapsed as AWS requires.
/// A trailing `/`, `/.` or `/..` keeps a trailing slash.
pub fn normalize_path(raw: &str) -> String {
    if raw.is_empty() {
        return "/".to_owned();
    }
    let mut out: Vec<&str> = Vec::new();
    for seg in raw.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut result = String::with_capacity(raw.len() + 1);
    result.push('/');
    result.push_str(&out.join("/"));
    let trailing = ["/", "/.", "/.."].iter().any(|s| raw.ends_with(s));
    if trailing && !result.ends_with('/') {
        result.push('/');
    }
    result
}

/// The canonical URI of a non-S3 service: the normalised raw path percent-encoded once more,
/// so `%3A` on the wire becomes `%253A` (double encoding).
pub fn canonical_uri(raw_path: &str) -> String {
    percent_encode(normalize_path(raw_path).as_bytes(), PATH_SET).to_string()
}

/// Decoded `(key, value)` pairs of a raw query string. `+` decodes to a space (form encoding,
/// as the `aws-sigv4` crate does); empty pieces (`a&&b`) are skipped.
pub fn query_pairs(raw_query: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

fn decode_component(s: &str) -> Vec<u8> {
    let plus: Vec<u8> = s
        .bytes()
        .map(|b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&plus).collect()
}

pub fn encode_component(b: &[u8]) -> String {
    percent_encode(b, QUERY_SET).to_string()
}

/// The canonical query string: every pair re-encoded with only unreserved characters bare,
/// sorted by encoded key then encoded value. Pairs whose decoded key is `skip` are left out
/// (`X-Amz-Signature` of a presigned request).
pub fn canonical_query(pairs: &[(Vec<u8>, Vec<u8>)], skip: Option<&[u8]>) -> String {
    let mut enc: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| Some(k.as_slice()) != skip)
        .map(|(k, v)| (encode_component(k), encode_component(v)))
        .collect();
    enc.sort();
    let mut out = String::new();
    for (i, (k, v)) in enc.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// A header value trimmed with inner whitespace runs collapsed to one space (botocore's
/// `' '.join(value.split())`).
fn trim_all(v: &[u8], out: &mut Vec<u8>) {
    let mut first = true;
    for word in v
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
    {
        if !first {
            out.push(b' ');
        }
        out.extend_from_slice(word);
        first = false;
    }
}

/// Everything that goes into a canonical request besides the request itself.
pub struct CanonicalInput<'a> {
    pub method: &'a str,
    pub raw_path: &'a str,
    pub canonical_query: &'a str,
    pub headers: &'a HeaderMap,
    /// Lower-case names, in the order they are signed.
    pub signed_headers: &'a [String],
    pub payload_hash: &'a str,
}

pub fn canonical_request(input: &CanonicalInput<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(input.method.to_ascii_uppercase().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(input.raw_path).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(input.canonical_query.as_bytes());
    out.push(b'\n');
    for name in input.signed_headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        for (i, v) in input.headers.get_all(name.as_str()).iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            trim_all(v.as_bytes(), &mut out);
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(input.signed_headers.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(input.payload_hash.as_bytes());
    out
}

/// `AWS4-HMAC-SHA256\n<amz date>\n<scope>\n<hex sha256(canonical request)>`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!(
        "{}\n{amz_date}\n{scope}\n{}",
        super::ALGORITHM,
        sha256_hex(canonical_request)
    )
}

/// `kSigning` of the SigV4 key derivation.
pub fn signing_key(secret: &Secret, date: &str, region: &str, service: &str) -> hmac::Key {
    let mut k = zeroize::Zeroizing::new(Vec::with_capacity(4 + secret.expose().len()));
    k.extend_from_slice(b"AWS4");
    k.extend_from_slice(secret.expose().as_bytes());
    let k_date = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &k), date.as_bytes());
    let k_region = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, k_date.as_ref()),
        region.as_bytes(),
    );
    let k_service = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, k_region.as_ref()),
        service.as_bytes(),
    );
    let k_signing = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, k_service.as_ref()),
        b"aws4_request",
    );
    hmac::Key::new(hmac::HMAC_SHA256, k_signing.as_ref())
}

/// Lower-case hex HMAC of the string to sign.
pub fn signature(key: &hmac::Key, string_to_sign: &str) -> String {
    hex::encode(hmac::sign(key, string_to_sign.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_encodes_path() {
        assert_eq!(
            canonical_uri("/backup-vaults/vault-b/recovery-points/arn%3Aaws%3Aec2%3Aus-west-2%3A%3Asnapshot%2Fsnap-0fedcba9876543210"),
            "/backup-vaults/vault-b/recovery-points/arn%253Aaws%253Aec2%253Aus-west-2%253A%253Asnapshot%252Fsnap-0fedcba9876543210"
        );
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(
            canonical_uri("/test/@connections/x%3D"),
            "/test/%40connections/x%253D"
        );
    }

    #[test]
    fn normalizes_paths() {
        for (i, o) in [
            ("/", "/"),
            ("//example//", "/example/"),
            ("/./", "/"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("/example/.", "/example/"),
            ("/a/./b/../c", "/a/c"),
            ("/../x", "/x"),
            ("/a/b", "/a/b"),
        ] {
            assert_eq!(normalize_path(i), o, "{i}");
        }
    }

    #[test]
    fn query_is_decoded_reencoded_and_sorted() {
        let p = query_pairs("b=2&a=%7e&A=x+y&a=1&&c");
        assert_eq!(canonical_query(&p, None), "A=x%20y&a=1&a=~&b=2&c=");
        assert_eq!(canonical_query(&p, Some(b"a")), "A=x%20y&b=2&c=");
    }

    #[test]
    fn trims_header_values() {
        let mut o = Vec::new();
        trim_all(b"  value1   value2\t value3  ", &mut o);
        assert_eq!(o, b"value1 value2 value3");
    }
}
