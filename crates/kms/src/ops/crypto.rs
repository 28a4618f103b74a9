//! Encrypt, Decrypt, ReEncrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext and
//! GenerateRandom (docs/kms.md §5, §10), for symmetric keys and — Encrypt, Decrypt and either
//! side of ReEncrypt — RSA ENCRYPT_DECRYPT keys with RSAES_OAEP_SHA_1/256
//! (docs/kms-asymmetric.md §5: raw OAEP ciphertext, no encryption context, AWS's size limits).
//!
//! Every call runs from the store's cache (unwrapped material, no disk read) and persists
//! nothing, so the hot path is: validate the input, load + authorize + state-check the key,
//! one AES-256-GCM seal or open with [`crate::crypto`], encode the response.
//!
//! Which key decrypts a blob is read from the blob's header (account + key id + material id, no
//! region): the key is looked up in the header's account *in the request's region*. A blob whose
//! key does not exist there — a single-region key of another region, a deleted key, a forged
//! header — answers `InvalidCiphertextException`, as docs/kms.md §10 says (tamper, a wrong encryption context
//! and a wrong account or Region look the same to the caller); a multi-region replica here, having the same key
//! id and the shared material, decrypts what its primary encrypted.
//!
//! Order of checks (what a caller sees when several things are wrong): input validation,
//! then the key (NotFound, AccessDenied), its state (Disabled, KMSInvalidState), its usage and
//! the algorithm (InvalidKeyUsage), then DryRun, then the cryptography (InvalidCiphertext).
//!
//! Plaintexts and data keys only ever live in [`SensitiveBlob`] (zeroized on drop) or
//! [`Zeroizing`] buffers, and nothing here logs them.

use crate::asym::OaepAlg;
use crate::authz::Ask;
use crate::crypto::{self, Header};
use crate::ops::common::{load_for, require_crypto_usable, secret_of};
use crate::resolve::Accept;
use crate::store::LoadedKey;
use crate::{Kms, KmsError};
use kmsnap_api::gen::kms as api;
use kmsnap_api::{Blob, SensitiveBlob};
use kmsnap_auth::RequestContext;
use std::collections::BTreeMap;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Model limits (service-2.json) and docs/kms.md §14 quotas.
pub(crate) const MAX_PLAINTEXT: usize = 4096;
const MAX_CIPHERTEXT: usize = 6144;
const MAX_GRANT_TOKENS: usize = 10;
const MAX_GRANT_TOKEN_LEN: usize = 8192;
const MAX_NUMBER_OF_BYTES: i32 = 1024;

const SYMMETRIC_DEFAULT: &str = "SYMMETRIC_DEFAULT";
const ENCRYPT_DECRYPT: &str = "ENCRYPT_DECRYPT";

type Context = BTreeMap<String, String>;

// ---------------------------------------------------------------------------------------------
// Validation, worded like AWS's front end (and like kmsnap_api's model validator, which catches
// the same limits first on the HTTP path; these checks cover in-process callers too).

pub(crate) fn invalid(shown: &str, member: &str, constraint: &str) -> KmsError {
    KmsError::Validation(format!("1 validation error detected: {shown} '{member}' failed to satisfy constraint: {constraint}"))
}

pub(crate) fn check_blob_len(member: &str, len: usize, max: usize) -> Result<(), KmsError> {
    if len < 1 {
        return Err(invalid(
            "Value at",
            member,
            "Member must have length greater than or equal to 1",
        ));
    }
    if len > max {
        return Err(invalid(
            "Value at",
            member,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

pub(crate) fn tokens_of(tokens: &Option<Vec<String>>) -> &[String] {
    tokens.as_deref().unwrap_or_default()
}

pub(crate) fn check_grant_tokens(tokens: Option<&[String]>) -> Result<(), KmsError> {
    let Some(tokens) = tokens else { return Ok(()) };
    if tokens.len() > MAX_GRANT_TOKENS {
        return Err(invalid(
            &format!("Value '[{}]' at", tokens.join(", ")),
            "grantTokens",
            &format!("Member must have length less than or equal to {MAX_GRANT_TOKENS}"),
        ));
    }
    for t in tokens {
        if t.is_empty() || t.len() > MAX_GRANT_TOKEN_LEN {
            return Err(invalid(
                &format!("Value '[{}]' at", tokens.join(", ")),
                "grantTokens",
                &format!("Member must satisfy constraint: [Member must have length less than or equal to {MAX_GRANT_TOKEN_LEN}, Member must have length greater than or equal to 1]"),
            ));
        }
    }
    Ok(())
}

fn check_number_of_bytes(member: &str, n: i32) -> Result<usize, KmsError> {
    if n < 1 {
        return Err(invalid(
            &format!("Value '{n}' at"),
            member,
            "Member must have value greater than or equal to 1",
        ));
    }
    if n > MAX_NUMBER_OF_BYTES {
        return Err(invalid(
            &format!("Value '{n}' at"),
            member,
            &format!("Member must have value less than or equal to {MAX_NUMBER_OF_BYTES}"),
        ));
    }
    Ok(n as usize)
}

/// GenerateDataKey*: exactly one of KeySpec / NumberOfBytes.
fn data_key_len(spec: Option<&api::DataKeySpec>, n: Option<i32>) -> Result<usize, KmsError> {
    match (spec, n) {
        (Some(api::DataKeySpec::Aes256), None) => Ok(32),
        (Some(api::DataKeySpec::Aes128), None) => Ok(16),
        (None, Some(n)) => check_number_of_bytes("numberOfBytes", n),
        _ => Err(KmsError::Validation(
            "Please specify either number of bytes or key spec.".into(),
        )),
    }
}

fn ciphertext_of(blob: Option<&Blob>) -> Result<&[u8], KmsError> {
    let blob =
        blob.ok_or_else(|| invalid("Value null at", "ciphertextBlob", "Member must not be null"))?;
    check_blob_len("ciphertextBlob", blob.0.len(), MAX_CIPHERTEXT)?;
    Ok(&blob.0)
}

pub(crate) fn no_recipient(r: Option<&api::RecipientInfo>) -> Result<(), KmsError> {
    match r {
        Some(_) => Err(KmsError::NotImplemented("Recipient")),
        None => Ok(()),
    }
}

fn ignore_ciphertext(m: Option<&[api::DryRunModifierType]>) -> bool {
    m.is_some_and(|m| m.contains(&api::DryRunModifierType::IgnoreCiphertext))
}

// ---------------------------------------------------------------------------------------------
// Keys.

/// How a key encrypts: with its symmetric material (the blob format of [`crate::crypto`]), or
/// RSAES-OAEP with one of an RSA key's algorithms (the raw OAEP output, no header;
/// docs/kms-asymmetric.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cipher {
    Symmetric,
    Oaep(OaepAlg),
}

impl Cipher {
    pub(crate) fn wire(self) -> api::EncryptionAlgorithmSpec {
        match self {
            Cipher::Symmetric => api::EncryptionAlgorithmSpec::SymmetricDefault,
            Cipher::Oaep(OaepAlg::Sha1) => api::EncryptionAlgorithmSpec::RsaesOaepSha1,
            Cipher::Oaep(OaepAlg::Sha256) => api::EncryptionAlgorithmSpec::RsaesOaepSha256,
        }
    }
}

fn is_rsa(spec: &str) -> bool {
    matches!(spec, "RSA_2048" | "RSA_3072" | "RSA_4096")
}

fn require_encrypt_decrypt(key: &LoadedKey, op: &str) -> Result<(), KmsError> {
    let s = &key.shared.shared;
    if s.key_usage != ENCRYPT_DECRYPT {
        return Err(KmsError::InvalidKeyUsage(format!(
            "{} key usage is {} which is not valid for {op}.",
            key.record.arn(),
            s.key_usage
        )));
    }
    Ok(())
}

fn incompatible(alg: Option<&api::EncryptionAlgorithmSpec>, spec: &str) -> KmsError {
    let alg = alg.map_or(SYMMETRIC_DEFAULT, |a| a.as_str());
    KmsError::InvalidKeyUsage(format!(
        "Algorithm {alg} is incompatible with key spec {spec}."
    ))
}

/// The key may encrypt (ENCRYPT_DECRYPT usage) with `alg` (default SYMMETRIC_DEFAULT): which
/// cipher that is. An RSA key needs an RSAES_OAEP algorithm; a symmetric key SYMMETRIC_DEFAULT.
fn check_usage(
    key: &LoadedKey,
    op: &str,
    alg: Option<&api::EncryptionAlgorithmSpec>,
) -> Result<Cipher, KmsError> {
    require_encrypt_decrypt(key, op)?;
    let spec = key.shared.shared.key_spec.as_str();
    match alg {
        None | Some(api::EncryptionAlgorithmSpec::SymmetricDefault)
            if spec == SYMMETRIC_DEFAULT =>
        {
            Ok(Cipher::Symmetric)
        }
        Some(api::EncryptionAlgorithmSpec::RsaesOaepSha1) if is_rsa(spec) => {
            Ok(Cipher::Oaep(OaepAlg::Sha1))
        }
        Some(api::EncryptionAlgorithmSpec::RsaesOaepSha256) if is_rsa(spec) => {
            Ok(Cipher::Oaep(OaepAlg::Sha256))
        }
        other => Err(incompatible(other, spec)),
    }
}

/// Decrypt's and ReEncrypt's source side: as [`check_usage`], except that an RSA ciphertext
/// given without its algorithm (or with SYMMETRIC_DEFAULT, the default) cannot be decrypted:
/// InvalidCiphertextException, as AWS answers (observed).
fn check_decrypt_usage(
    key: &LoadedKey,
    op: &str,
    alg: Option<&api::EncryptionAlgorithmSpec>,
) -> Result<Cipher, KmsError> {
    require_encrypt_decrypt(key, op)?;
    if is_rsa(&key.shared.shared.key_spec)
        && matches!(
            alg,
            None | Some(api::EncryptionAlgorithmSpec::SymmetricDefault)
        )
    {
        return Err(KmsError::InvalidCiphertext);
    }
    check_usage(key, op, alg)
}

/// RSA encryption takes no encryption context; an empty map is accepted (observed).
fn no_context_for_rsa(cipher: Cipher, ec: Option<&Context>) -> Result<(), KmsError> {
    match cipher {
        Cipher::Oaep(_) if ec.is_some_and(|m| !m.is_empty()) => Err(KmsError::Validation(
            "EncryptionContext is not supported when encrypting/decrypting with asymmetric CMKs."
                .into(),
        )),
        _ => Ok(()),
    }
}

/// The plaintext fits the cipher: RSAES-OAEP takes at most `k − 2·hLen − 2` bytes.
fn check_encryptable(key: &LoadedKey, cipher: Cipher, len: usize) -> Result<(), KmsError> {
    let Cipher::Oaep(alg) = cipher else {
        return Ok(());
    };
    let k = secret_of(key)?
        .rsa_modulus_len()
        .ok_or(KmsError::Internal("RSA key without modulus"))?;
    let max = alg.max_plaintext(k);
    if len > max {
        return Err(KmsError::Validation(format!(
            "Algorithm {} and key spec {} cannot encrypt data larger than {max} bytes.",
            alg.as_str(),
            key.shared.shared.key_spec
        )));
    }
    Ok(())
}

/// A key to encrypt with: loaded by its KeyId parameter, authorized for `action`, usable, and
/// the cipher `alg` selects.
pub(crate) fn encryption_key(
    kms: &Kms,
    ctx: &RequestContext,
    key_id: &str,
    ask: Ask<'_>,
    op: &str,
    alg: Option<&api::EncryptionAlgorithmSpec>,
) -> Result<(Arc<LoadedKey>, Cipher), KmsError> {
    let key = load_for(kms, ctx, key_id, Accept::KeyOrAlias, ask)?;
    require_crypto_usable(&key)?;
    let cipher = check_usage(&key, op, alg)?;
    Ok((key, cipher))
}

/// Seal `plaintext` under the key's current material. Returns the blob and the material id.
pub(crate) fn seal(
    key: &LoadedKey,
    ec: Option<&Context>,
    plaintext: &[u8],
) -> Result<(Vec<u8>, String), KmsError> {
    let (material_id, material) = key.shared.current().ok_or_else(|| {
        tracing::error!(key = %key.record.arn(), "usable key without current material");
        KmsError::Internal("no current material")
    })?;
    let header = Header {
        account: key.record.account,
        key_id: key.record.key_id.clone(),
        material_id: material_id.to_owned(),
    };
    let blob = crypto::encrypt(material, &header, ec, plaintext)?;
    Ok((blob, header.material_id))
}

/// Encrypt with `cipher` (checked by [`check_usage`], [`no_context_for_rsa`] and
/// [`check_encryptable`]): the ciphertext, and the material id of a symmetric key.
fn seal_with(
    key: &LoadedKey,
    cipher: Cipher,
    ec: Option<&Context>,
    plaintext: &[u8],
) -> Result<(Vec<u8>, Option<String>), KmsError> {
    match cipher {
        Cipher::Symmetric => seal(key, ec, plaintext).map(|(b, id)| (b, Some(id))),
        Cipher::Oaep(alg) => {
            check_encryptable(key, cipher, plaintext.len())?;
            Ok((secret_of(key)?.oaep_encrypt(alg, plaintext)?, None))
        }
    }
}

/// A ciphertext's key, found and checked as Decrypt / ReEncrypt's source side does.
struct Source {
    key: Arc<LoadedKey>,
    /// `None` when the header was not read (DryRun with IGNORE_CIPHERTEXT and a KeyId), and
    /// for RSA ciphertexts (they have none).
    header: Option<(Header, usize)>,
    cipher: Cipher,
}

/// What Decrypt / ReEncrypt say about the ciphertext's key.
struct SourceRequest<'a> {
    blob: &'a [u8],
    /// The optional `KeyId` / `SourceKeyId` parameter.
    key_id: Option<&'a str>,
    /// IAM action to authorize (`Decrypt`, `ReEncryptFrom`).
    action: &'a str,
    /// Operation name for messages.
    op: &'a str,
    alg: Option<&'a api::EncryptionAlgorithmSpec>,
    /// DryRun with IGNORE_CIPHERTEXT: do not read the header when a KeyId names the key.
    skip_header: bool,
    /// The encryption context given for the ciphertext, and the request's grant tokens
    /// (authorization weighs both).
    ec: Option<&'a Context>,
    tokens: &'a [String],
}

/// Find the key of `blob`: from the `KeyId` parameter (a symmetric blob's header must then name
/// the same key; an RSA ciphertext has no header and needs it), or else from the blob's header
/// (account, key id) in the request's region. Authorizes `action`, checks the state, usage and
/// algorithm.
fn source_key(kms: &Kms, ctx: &RequestContext, req: SourceRequest<'_>) -> Result<Source, KmsError> {
    let SourceRequest {
        blob,
        key_id,
        action,
        op,
        alg,
        skip_header,
        ec,
        tokens,
    } = req;
    let alg_name = alg.map_or(SYMMETRIC_DEFAULT, |a| a.as_str());
    let conditions = [("kms:EncryptionAlgorithm", alg_name)];
    let ask = Ask {
        action,
        encryption_context: ec,
        grant_tokens: tokens,
        conditions: &conditions,
        ..Default::default()
    };
    let Some(id) = key_id else {
        if matches!(
            alg,
            Some(
                api::EncryptionAlgorithmSpec::RsaesOaepSha1
                    | api::EncryptionAlgorithmSpec::RsaesOaepSha256
            )
        ) {
            return Err(KmsError::Validation("KeyId must not be null".into()));
        }
        let (h, header_len) = crypto::parse_header(blob)?;
        let key = kms
            .store
            .get(h.account, ctx.region, &h.key_id)?
            .ok_or(KmsError::InvalidCiphertext)?;
        crate::audit::note_key(&key.record.arn());
        crate::authz::authorize(kms, ctx, &key, &ask)?;
        require_crypto_usable(&key)?;
        // Only symmetric keys write headers; one naming another kind of key is forged.
        if key.shared.shared.key_spec != SYMMETRIC_DEFAULT {
            return Err(KmsError::InvalidCiphertext);
        }
        let cipher = check_usage(&key, op, alg)?;
        return Ok(Source {
            key,
            header: Some((h, header_len)),
            cipher,
        });
    };
    let key = load_for(kms, ctx, id, Accept::KeyOrAlias, ask)?;
    let header = match (skip_header, key.shared.shared.key_spec.as_str()) {
        (false, SYMMETRIC_DEFAULT) => {
            let (h, header_len) = crypto::parse_header(blob)?;
            if h.account != key.record.account || h.key_id != key.record.key_id {
                return Err(KmsError::IncorrectKey);
            }
            Some((h, header_len))
        }
        _ => None,
    };
    require_crypto_usable(&key)?;
    let cipher = check_decrypt_usage(&key, op, alg)?;
    no_context_for_rsa(cipher, ec)?;
    Ok(Source {
        key,
        header,
        cipher,
    })
}

/// Open `blob` with the material its header names, or with the RSA private key. Returns the
/// plaintext and, for a symmetric key, the material id.
fn open(
    src: &Source,
    blob: &[u8],
    ec: Option<&Context>,
) -> Result<(Zeroizing<Vec<u8>>, Option<String>), KmsError> {
    match src.cipher {
        Cipher::Symmetric => {
            let (header, header_len) = src.header.as_ref().ok_or(KmsError::InvalidCiphertext)?;
            let material = src
                .key
                .shared
                .materials
                .get(&header.material_id)
                .ok_or(KmsError::InvalidCiphertext)?;
            let plain = crypto::decrypt(material, blob, *header_len, ec)?;
            Ok((plain, Some(header.material_id.clone())))
        }
        Cipher::Oaep(alg) => Ok((secret_of(&src.key)?.oaep_decrypt(alg, blob)?, None)),
    }
}

pub(crate) fn random(n: usize) -> Result<SensitiveBlob, KmsError> {
    let mut b = vec![0u8; n];
    kmsnap_core::ids::random_bytes(&mut b).map_err(|e| {
        tracing::error!(error = %e, "rng failure");
        KmsError::Internal("rng")
    })?;
    Ok(SensitiveBlob::new(b))
}

// ---------------------------------------------------------------------------------------------
// Operations.

pub fn encrypt(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::EncryptRequest,
) -> Result<api::EncryptResponse, KmsError> {
    check_blob_len("plaintext", input.plaintext.len(), MAX_PLAINTEXT)?;
    check_grant_tokens(input.grant_tokens.as_deref())?;
    let alg_name = input
        .encryption_algorithm
        .as_ref()
        .map_or(SYMMETRIC_DEFAULT, |a| a.as_str());
    let conditions = [("kms:EncryptionAlgorithm", alg_name)];
    let ask = Ask {
        action: "Encrypt",
        encryption_context: input.encryption_context.as_ref(),
        grant_tokens: tokens_of(&input.grant_tokens),
        conditions: &conditions,
        ..Default::default()
    };
    let (key, cipher) = encryption_key(
        kms,
        ctx,
        &input.key_id,
        ask,
        "Encrypt",
        input.encryption_algorithm.as_ref(),
    )?;
    no_context_for_rsa(cipher, input.encryption_context.as_ref())?;
    check_encryptable(&key, cipher, input.plaintext.len())?;
    if input.dry_run == Some(true) {
        return Err(KmsError::DryRun);
    }
    let (blob, _) = seal_with(
        &key,
        cipher,
        input.encryption_context.as_ref(),
        input.plaintext.expose(),
    )?;
    Ok(api::EncryptResponse {
        ciphertext_blob: Some(Blob(blob)),
        key_id: Some(key.record.arn()),
        encryption_algorithm: Some(cipher.wire()),
    })
}

pub fn decrypt(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::DecryptRequest,
) -> Result<api::DecryptResponse, KmsError> {
    let blob = ciphertext_of(input.ciphertext_blob.as_ref())?;
    check_grant_tokens(input.grant_tokens.as_deref())?;
    no_recipient(input.recipient.as_ref())?;
    let dry_run = input.dry_run == Some(true);
    let skip = dry_run && ignore_ciphertext(input.dry_run_modifiers.as_deref());
    let src = source_key(
        kms,
        ctx,
        SourceRequest {
            blob,
            key_id: input.key_id.as_deref(),
            action: "Decrypt",
            op: "Decrypt",
            alg: input.encryption_algorithm.as_ref(),
            skip_header: skip,
            ec: input.encryption_context.as_ref(),
            tokens: tokens_of(&input.grant_tokens),
        },
    )?;
    if skip {
        return Err(KmsError::DryRun);
    }
    let (mut plain, material_id) = open(&src, blob, input.encryption_context.as_ref())?;
    if dry_run {
        return Err(KmsError::DryRun);
    }
    Ok(api::DecryptResponse {
        key_id: Some(src.key.record.arn()),
        plaintext: Some(SensitiveBlob::new(std::mem::take(&mut *plain))),
        encryption_algorithm: Some(src.cipher.wire()),
        ciphertext_for_recipient: None,
        key_material_id: material_id,
    })
}

pub fn re_encrypt(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::ReEncryptRequest,
) -> Result<api::ReEncryptResponse, KmsError> {
    let blob = ciphertext_of(input.ciphertext_blob.as_ref())?;
    check_grant_tokens(input.grant_tokens.as_deref())?;
    let dry_run = input.dry_run == Some(true);
    let skip = dry_run && ignore_ciphertext(input.dry_run_modifiers.as_deref());
    let src = source_key(
        kms,
        ctx,
        SourceRequest {
            blob,
            key_id: input.source_key_id.as_deref(),
            action: "ReEncryptFrom",
            op: "ReEncrypt",
            alg: input.source_encryption_algorithm.as_ref(),
            skip_header: skip,
            ec: input.source_encryption_context.as_ref(),
            tokens: tokens_of(&input.grant_tokens),
        },
    )?;
    let dst_alg = input
        .destination_encryption_algorithm
        .as_ref()
        .map_or(SYMMETRIC_DEFAULT, |a| a.as_str());
    let dst_conditions = [("kms:EncryptionAlgorithm", dst_alg)];
    let (dst, dst_cipher) = encryption_key(
        kms,
        ctx,
        &input.destination_key_id,
        Ask {
            action: "ReEncryptTo",
            encryption_context: input.destination_encryption_context.as_ref(),
            grant_tokens: tokens_of(&input.grant_tokens),
            conditions: &dst_conditions,
            ..Default::default()
        },
        "ReEncrypt",
        input.destination_encryption_algorithm.as_ref(),
    )?;
    no_context_for_rsa(dst_cipher, input.destination_encryption_context.as_ref())?;
    if skip {
        return Err(KmsError::DryRun);
    }
    let (plain, source_material) = open(&src, blob, input.source_encryption_context.as_ref())?;
    if dry_run {
        return Err(KmsError::DryRun);
    }
    let (out, dest_material) = seal_with(
        &dst,
        dst_cipher,
        input.destination_encryption_context.as_ref(),
        &plain,
    )?;
    Ok(api::ReEncryptResponse {
        ciphertext_blob: Some(Blob(out)),
        source_key_id: Some(src.key.record.arn()),
        key_id: Some(dst.record.arn()),
        source_encryption_algorithm: Some(src.cipher.wire()),
        destination_encryption_algorithm: Some(dst_cipher.wire()),
        source_key_material_id: source_material,
        destination_key_material_id: dest_material,
    })
}

pub fn generate_data_key(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::GenerateDataKeyRequest,
) -> Result<api::GenerateDataKeyResponse, KmsError> {
    let n = data_key_len(input.key_spec.as_ref(), input.number_of_bytes)?;
    check_grant_tokens(input.grant_tokens.as_deref())?;
    no_recipient(input.recipient.as_ref())?;
    let ask = Ask {
        action: "GenerateDataKey",
        encryption_context: input.encryption_context.as_ref(),
        grant_tokens: tokens_of(&input.grant_tokens),
        conditions: &[("kms:EncryptionAlgorithm", SYMMETRIC_DEFAULT)],
        ..Default::default()
    };
    let (key, _) = encryption_key(kms, ctx, &input.key_id, ask, "GenerateDataKey", None)?;
    if input.dry_run == Some(true) {
        return Err(KmsError::DryRun);
    }
    let plaintext = random(n)?;
    let (blob, material_id) = seal(&key, input.encryption_context.as_ref(), plaintext.expose())?;
    Ok(api::GenerateDataKeyResponse {
        ciphertext_blob: Some(Blob(blob)),
        plaintext: Some(plaintext),
        key_id: Some(key.record.arn()),
        ciphertext_for_recipient: None,
        key_material_id: Some(material_id),
    })
}

pub fn generate_data_key_without_plaintext(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::GenerateDataKeyWithoutPlaintextRequest,
) -> Result<api::GenerateDataKeyWithoutPlaintextResponse, KmsError> {
    let n = data_key_len(input.key_spec.as_ref(), input.number_of_bytes)?;
    check_grant_tokens(input.grant_tokens.as_deref())?;
    let (key, _) = encryption_key(
        kms,
        ctx,
        &input.key_id,
        Ask {
            action: "GenerateDataKeyWithoutPlaintext",
            encryption_context: input.encryption_context.as_ref(),
            grant_tokens: tokens_of(&input.grant_tokens),
            conditions: &[("kms:EncryptionAlgorithm", SYMMETRIC_DEFAULT)],
            ..Default::default()
        },
        "GenerateDataKeyWithoutPlaintext",
        None,
    )?;
    if input.dry_run == Some(true) {
        return Err(KmsError::DryRun);
    }
    let plaintext = random(n)?;
    let (blob, material_id) = seal(&key, input.encryption_context.as_ref(), plaintext.expose())?;
    Ok(api::GenerateDataKeyWithoutPlaintextResponse {
        ciphertext_blob: Some(Blob(blob)),
        key_id: Some(key.record.arn()),
        key_material_id: Some(material_id),
    })
}

pub fn generate_random(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::GenerateRandomRequest,
) -> Result<api::GenerateRandomResponse, KmsError> {
    crate::authz::authorize_account(kms, ctx, &Ask::action("GenerateRandom"))?;
    // AWS words a missing NumberOfBytes like GenerateDataKey's check (**unconfirmed**).
    let n = input.number_of_bytes.ok_or_else(|| {
        KmsError::Validation("Please specify either number of bytes or key spec.".into())
    })?;
    let n = check_number_of_bytes("numberOfBytes", n)?;
    no_recipient(input.recipient.as_ref())?;
    if input.custom_key_store_id.is_some() {
        // No custom key stores exist yet; AWS would answer CustomKeyStoreNotFoundException.
        return Err(KmsError::NotImplemented(
            "GenerateRandom with CustomKeyStoreId",
        ));
    }
    Ok(api::GenerateRandomResponse {
        plaintext: Some(random(n)?),
        ciphertext_for_recipient: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{KeyState, RotationType};
    use crate::testsupport::{KeySetup, TestKms, ACCOUNT, OTHER_ACCOUNT, OTHER_REGION, REGION};
    use kmsnap_api::AwsError;
    use kmsnap_core::Clock;

    fn setup() -> (TestKms, RequestContext, String) {
        let t = TestKms::new().unwrap();
        let key = t.put_key(&KeySetup::default()).unwrap();
        let ctx = t.ctx().unwrap();
        (t, ctx, key)
    }

    fn ec(pairs: &[(&str, &str)]) -> Option<Context> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn enc(
        t: &TestKms,
        ctx: &RequestContext,
        key: &str,
        pt: &[u8],
        ctxt: Option<Context>,
    ) -> Result<api::EncryptResponse, KmsError> {
        encrypt(
            &t.kms,
            ctx,
            api::EncryptRequest {
                key_id: key.into(),
                plaintext: SensitiveBlob::new(pt.to_vec()),
                encryption_context: ctxt,
                ..Default::default()
            },
        )
    }

    fn blob_of(r: &api::EncryptResponse) -> Vec<u8> {
        r.ciphertext_blob.as_ref().unwrap().0.clone()
    }

    fn dec(
        t: &TestKms,
        ctx: &RequestContext,
        blob: &[u8],
        key: Option<&str>,
        ctxt: Option<Context>,
    ) -> Result<api::DecryptResponse, KmsError> {
        decrypt(
            &t.kms,
            ctx,
            api::DecryptRequest {
                ciphertext_blob: Some(Blob(blob.to_vec())),
                key_id: key.map(str::to_owned),
                encryption_context: ctxt,
                ..Default::default()
            },
        )
    }

    fn gdk(
        t: &TestKms,
        ctx: &RequestContext,
        key: &str,
        spec: Option<api::DataKeySpec>,
        n: Option<i32>,
    ) -> Result<api::GenerateDataKeyResponse, KmsError> {
        generate_data_key(
            &t.kms,
            ctx,
            api::GenerateDataKeyRequest {
                key_id: key.into(),
                key_spec: spec,
                number_of_bytes: n,
                ..Default::default()
            },
        )
    }

    fn current_material(t: &TestKms, key: &str) -> String {
        t.get(ACCOUNT, REGION, key)
            .unwrap()
            .unwrap()
            .shared
            .current()
            .unwrap()
            .0
            .to_owned()
    }

    #[test]
    fn encrypt_decrypt_round_trip() {
        let (t, ctx, key) = setup();
        let arn = t.arn(ACCOUNT, REGION, &key).unwrap();
        for key_param in [key.as_str(), arn.as_str()] {
            let r = enc(&t, &ctx, key_param, &[0x42; 64], None).unwrap();
            assert_eq!(
                r.key_id.as_deref(),
                Some(arn.as_str()),
                "Encrypt echoes the key ARN"
            );
            assert_eq!(
                r.encryption_algorithm,
                Some(api::EncryptionAlgorithmSpec::SymmetricDefault)
            );
            let blob = blob_of(&r);
            for kid in [None, Some(key.as_str()), Some(arn.as_str())] {
                let d = dec(&t, &ctx, &blob, kid, None).unwrap();
                assert_eq!(d.plaintext.as_ref().unwrap().expose(), &[0x42; 64][..]);
                assert_eq!(d.key_id.as_deref(), Some(arn.as_str()));
                assert_eq!(
                    d.encryption_algorithm,
                    Some(api::EncryptionAlgorithmSpec::SymmetricDefault)
                );
                assert_eq!(d.key_material_id, Some(current_material(&t, &key)));
            }
        }
        // Two encryptions of the same plaintext differ (fresh nonce).
        let a = blob_of(&enc(&t, &ctx, &key, b"same", None).unwrap());
        let b = blob_of(&enc(&t, &ctx, &key, b"same", None).unwrap());
        assert_ne!(a, b);
    }

    #[test]
    fn alias_resolves_for_encrypt_and_decrypt() {
        let (t, ctx, key) = setup();
        let now = t.clock.now();
        t.kms
            .store
            .write(|txn| {
                txn.put_alias(
                    ctx.principal.account,
                    ctx.region,
                    &crate::model::AliasRecord {
                        name: "alias/app".into(),
                        target_key_id: key.clone(),
                        created: now,
                        updated: now,
                    },
                )
            })
            .unwrap();
        let r = enc(&t, &ctx, "alias/app", b"via alias", None).unwrap();
        assert_eq!(r.key_id, Some(t.arn(ACCOUNT, REGION, &key).unwrap()));
        let d = dec(&t, &ctx, &blob_of(&r), Some("alias/app"), None).unwrap();
        assert_eq!(d.plaintext.unwrap().expose(), b"via alias");
        let alias_arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/app");
        assert!(enc(&t, &ctx, &alias_arn, b"x", None).is_ok());
        assert!(matches!(
            enc(&t, &ctx, "alias/nope", b"x", None),
            Err(KmsError::AliasNotFound { .. })
        ));
    }

    #[test]
    fn encryption_context_is_bound() {
        let (t, ctx, key) = setup();
        let blob = blob_of(
            &enc(
                &t,
                &ctx,
                &key,
                b"pt",
                ec(&[("purpose", "test"), ("a", "b")]),
            )
            .unwrap(),
        );
        for wrong in [
            None,
            ec(&[("purpose", "test")]),
            ec(&[("purpose", "Test"), ("a", "b")]),
            ec(&[("purpose", "test"), ("a", "b"), ("c", "d")]),
        ] {
            assert_eq!(
                dec(&t, &ctx, &blob, None, wrong).unwrap_err(),
                KmsError::InvalidCiphertext
            );
        }
        let ok = dec(
            &t,
            &ctx,
            &blob,
            None,
            ec(&[("a", "b"), ("purpose", "test")]),
        )
        .unwrap();
        assert_eq!(ok.plaintext.unwrap().expose(), b"pt");
        // No context at encryption = an empty map at decryption.
        let blob = blob_of(&enc(&t, &ctx, &key, b"pt", None).unwrap());
        assert!(dec(&t, &ctx, &blob, None, ec(&[])).is_ok());
        assert_eq!(
            dec(&t, &ctx, &blob, None, ec(&[("k", "v")])).unwrap_err(),
            KmsError::InvalidCiphertext
        );
    }

    #[test]
    fn tampered_truncated_or_garbage_ciphertext_is_invalid() {
        let (t, ctx, key) = setup();
        let blob = blob_of(&enc(&t, &ctx, &key, b"secret", None).unwrap());
        for i in 0..blob.len() {
            let mut b = blob.clone();
            b[i] ^= 0x80;
            let e = dec(&t, &ctx, &b, None, None).unwrap_err();
            // A flip in the account digits can make a syntactically valid foreign account whose
            // key does not exist: still InvalidCiphertext.
            assert_eq!(e, KmsError::InvalidCiphertext, "flip at {i}");
        }
        for n in 1..blob.len() {
            assert_eq!(
                dec(&t, &ctx, &blob[..n], None, None).unwrap_err(),
                KmsError::InvalidCiphertext,
                "truncated to {n}"
            );
        }
        assert_eq!(
            dec(&t, &ctx, b"not a ciphertext at all, just bytes", None, None).unwrap_err(),
            KmsError::InvalidCiphertext
        );
        // With a KeyId, garbage is still InvalidCiphertext (not IncorrectKey).
        assert_eq!(
            dec(&t, &ctx, &[0u8; 80], Some(&key), None).unwrap_err(),
            KmsError::InvalidCiphertext
        );
    }

    #[test]
    fn wrong_key_id_is_incorrect_key() {
        let (t, ctx, key) = setup();
        let other = t.put_key(&KeySetup::default()).unwrap();
        let blob = blob_of(&enc(&t, &ctx, &key, b"pt", None).unwrap());
        assert_eq!(
            dec(&t, &ctx, &blob, Some(&other), None).unwrap_err(),
            KmsError::IncorrectKey
        );
        let msg = AwsError::from(KmsError::IncorrectKey);
        assert_eq!(msg.code, "IncorrectKeyException");
        // A KeyId that names no key at all: NotFound.
        assert!(matches!(
            dec(
                &t,
                &ctx,
                &blob,
                Some("0b3f2f9e-6a1d-4c1e-9a55-2f1c3d4e5f60"),
                None
            ),
            Err(KmsError::KeyNotFound { .. })
        ));
    }

    #[test]
    fn disabled_key_refuses_every_crypto_op() {
        let (t, ctx, key) = setup();
        let blob = blob_of(&enc(&t, &ctx, &key, b"pt", None).unwrap());
        t.set_state(ACCOUNT, REGION, &key, KeyState::Disabled)
            .unwrap();
        let arn = t.arn(ACCOUNT, REGION, &key).unwrap();
        let disabled = KmsError::Disabled { arn: arn.clone() };
        assert_eq!(enc(&t, &ctx, &key, b"pt", None).unwrap_err(), disabled);
        assert_eq!(dec(&t, &ctx, &blob, None, None).unwrap_err(), disabled);
        assert_eq!(
            gdk(&t, &ctx, &key, Some(api::DataKeySpec::Aes256), None).unwrap_err(),
            disabled
        );
        let e = AwsError::from(disabled);
        assert_eq!(
            (e.code.as_ref(), e.message.as_str()),
            ("DisabledException", format!("{arn} is disabled.").as_str())
        );
        // Enabling again restores it (and the cache saw the change).
        t.set_state(ACCOUNT, REGION, &key, KeyState::Enabled)
            .unwrap();
        assert!(dec(&t, &ctx, &blob, None, None).is_ok());
    }

    #[test]
    fn pending_deletion_and_other_states_are_invalid_state() {
        let (t, ctx, key) = setup();
        let blob = blob_of(&enc(&t, &ctx, &key, b"pt", None).unwrap());
        let arn = t.arn(ACCOUNT, REGION, &key).unwrap();
        for state in [
            KeyState::PendingDeletion,
            KeyState::PendingReplicaDeletion,
            KeyState::PendingImport,
            KeyState::Creating,
            KeyState::Unavailable,
        ] {
            t.set_state(ACCOUNT, REGION, &key, state).unwrap();
            let want = KmsError::InvalidState {
                arn: arn.clone(),
                state,
            };
            assert_eq!(enc(&t, &ctx, &key, b"pt", None).unwrap_err(), want);
            assert_eq!(dec(&t, &ctx, &blob, None, None).unwrap_err(), want);
            assert_eq!(gdk(&t, &ctx, &key, None, Some(8)).unwrap_err(), want);
        }
        t.set_state(ACCOUNT, REGION, &key, KeyState::PendingDeletion)
            .unwrap();
        let e = AwsError::from(KmsError::InvalidState {
            arn: arn.clone(),
            state: KeyState::PendingDeletion,
        });
        assert_eq!(
            (e.code.as_ref(), e.message.as_str()),
            (
                "KMSInvalidStateException",
                format!("{arn} is pending deletion.").as_str()
            )
        );
        // Updating (primary region change) is usable.
        t.set_state(ACCOUNT, REGION, &key, KeyState::Updating)
            .unwrap();
        assert!(dec(&t, &ctx, &blob, None, None).is_ok());
    }

    #[test]
    fn other_account_is_denied() {
        let (t, ctx, key) = setup();
        let blob = blob_of(&enc(&t, &ctx, &key, b"pt", None).unwrap());
        let arn = t.arn(ACCOUNT, REGION, &key).unwrap();
        let other = t.ctx_for(OTHER_ACCOUNT, REGION).unwrap();
        let e = enc(&t, &other, &arn, b"pt", None).unwrap_err();
        let KmsError::AccessDenied(m) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(
            m,
            &format!("User: arn:aws:iam::{OTHER_ACCOUNT}:root is not authorized to perform: kms:Encrypt on resource: {arn} because no resource-based policy allows the kms:Encrypt action")
        );
        // Decrypt finds the key through the blob's header, then denies.
        let e = dec(&t, &other, &blob, None, None).unwrap_err();
        assert!(
            matches!(&e, KmsError::AccessDenied(m) if m.contains("kms:Decrypt")),
            "{e:?}"
        );
        assert!(matches!(
            gdk(&t, &other, &arn, Some(api::DataKeySpec::Aes128), None),
            Err(KmsError::AccessDenied(_))
        ));
        // A bare key id resolves in the caller's own account: not found there.
        assert!(matches!(
            enc(&t, &other, &key, b"pt", None),
            Err(KmsError::KeyNotFound { .. })
        ));
    }

    #[test]
    fn data_keys_have_the_asked_size_and_decrypt() {
        let (t, ctx, key) = setup();
        let mid = current_material(&t, &key);
        let arn = t.arn(ACCOUNT, REGION, &key).unwrap();
        for (spec, n, want) in [
            (Some(api::DataKeySpec::Aes256), None, 32),
            (Some(api::DataKeySpec::Aes128), None, 16),
            (None, Some(1), 1),
            (None, Some(1024), 1024),
        ] {
            let r = gdk(&t, &ctx, &key, spec, n).unwrap();
            let pt = r.plaintext.unwrap();
            assert_eq!(pt.len(), want);
            assert_eq!(r.key_id.as_deref(), Some(arn.as_str()));
            assert_eq!(r.key_material_id.as_deref(), Some(mid.as_str()));
            let d = dec(&t, &ctx, &r.ciphertext_blob.unwrap().0, None, None).unwrap();
            assert_eq!(d.plaintext.unwrap().expose(), pt.expose());
        }
        let bad = |spec, n| gdk(&t, &ctx, &key, spec, n).unwrap_err();
        let either =
            KmsError::Validation("Please specify either number of bytes or key spec.".into());
        assert_eq!(bad(None, None), either);
        assert_eq!(bad(Some(api::DataKeySpec::Aes256), Some(32)), either);
        assert_eq!(
            bad(None, Some(1025)),
            KmsError::Validation("1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024".into())
        );
        assert!(matches!(bad(None, Some(0)), KmsError::Validation(_)));

        // Without plaintext: a decryptable blob of the asked size, bound to the context.
        let r = generate_data_key_without_plaintext(
            &t.kms,
            &ctx,
            api::GenerateDataKeyWithoutPlaintextRequest {
                key_id: key.clone(),
                key_spec: Some(api::DataKeySpec::Aes256),
                encryption_context: ec(&[("k", "v")]),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(r.key_id.as_deref(), Some(arn.as_str()));
        assert_eq!(r.key_material_id.as_deref(), Some(mid.as_str()));
        let blob = r.ciphertext_blob.unwrap().0;
        assert_eq!(
            dec(&t, &ctx, &blob, None, None).unwrap_err(),
            KmsError::InvalidCiphertext
        );
        assert_eq!(
            dec(&t, &ctx, &blob, None, ec(&[("k", "v")]))
                .unwrap()
                .plaintext
                .unwrap()
                .len(),
            32
        );
    }

    #[test]
    fn generate_random_sizes() {
        let (t, ctx, _) = setup();
        let gr = |n: Option<i32>| {
            generate_random(
                &t.kms,
                &ctx,
                api::GenerateRandomRequest {
                    number_of_bytes: n,
                    ..Default::default()
                },
            )
        };
        assert_eq!(gr(Some(1)).unwrap().plaintext.unwrap().len(), 1);
        let a = gr(Some(1024)).unwrap().plaintext.unwrap();
        assert_eq!(a.len(), 1024);
        assert_ne!(
            a.expose(),
            gr(Some(1024)).unwrap().plaintext.unwrap().expose()
        );
        assert!(matches!(gr(None), Err(KmsError::Validation(_))));
        assert!(matches!(gr(Some(0)), Err(KmsError::Validation(_))));
        assert!(matches!(gr(Some(1025)), Err(KmsError::Validation(_))));
    }

    #[test]
    fn rotation_keeps_old_ciphertexts_and_uses_new_material() {
        let (t, ctx, key) = setup();
        let m1 = current_material(&t, &key);
        let old = blob_of(&enc(&t, &ctx, &key, b"before", None).unwrap());
        let m2 = t
            .add_material(ACCOUNT, &key, RotationType::OnDemand)
            .unwrap();
        assert_ne!(m1, m2);
        let new = blob_of(&enc(&t, &ctx, &key, b"after", None).unwrap());
        assert_eq!(crypto::parse_header(&new).unwrap().0.material_id, m2);
        assert_eq!(crypto::parse_header(&old).unwrap().0.material_id, m1);
        let d = dec(&t, &ctx, &old, None, None).unwrap();
        assert_eq!(
            (d.plaintext.unwrap().expose(), d.key_material_id.as_deref()),
            (&b"before"[..], Some(m1.as_str()))
        );
        let d = dec(&t, &ctx, &new, None, None).unwrap();
        assert_eq!(
            (d.plaintext.unwrap().expose(), d.key_material_id.as_deref()),
            (&b"after"[..], Some(m2.as_str()))
        );
        assert_eq!(
            gdk(&t, &ctx, &key, None, Some(4)).unwrap().key_material_id,
            Some(m2.clone())
        );
        // ReEncrypt moves an old ciphertext onto the current material.
        let r = re_encrypt(
            &t.kms,
            &ctx,
            api::ReEncryptRequest {
                ciphertext_blob: Some(Blob(old)),
                destination_key_id: key.clone(),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(r.source_key_material_id, Some(m1));
        assert_eq!(r.destination_key_material_id, Some(m2));
    }

    #[test]
    fn multi_region_replica_decrypts_primary_ciphertext() {
        let t = TestKms::new().unwrap();
        let key = t
            .put_key(&KeySetup {
                multi_region: true,
                ..KeySetup::default()
            })
            .unwrap();
        assert!(key.starts_with("mrk-"));
        t.put_replica(ACCOUNT, &key, OTHER_REGION, KeyState::Enabled)
            .unwrap();
        let tokyo = t.ctx().unwrap();
        let oregon = t.ctx_for(ACCOUNT, OTHER_REGION).unwrap();
        let blob = blob_of(&enc(&t, &tokyo, &key, b"mrk data", ec(&[("app", "x")])).unwrap());
        let replica_arn = t.arn(ACCOUNT, OTHER_REGION, &key).unwrap();
        for kid in [None, Some(key.as_str()), Some(replica_arn.as_str())] {
            let d = dec(&t, &oregon, &blob, kid, ec(&[("app", "x")])).unwrap();
            assert_eq!(d.plaintext.unwrap().expose(), b"mrk data");
            assert_eq!(
                d.key_id.as_deref(),
                Some(replica_arn.as_str()),
                "the replica's ARN answers"
            );
        }
        // And back: the replica encrypts, the primary decrypts.
        let back = blob_of(&enc(&t, &oregon, &key, b"from replica", None).unwrap());
        assert_eq!(
            dec(&t, &tokyo, &back, None, None)
                .unwrap()
                .plaintext
                .unwrap()
                .expose(),
            b"from replica"
        );
        // The primary's ARN is another region's key: NotFound ("Invalid arn <region>",
        // docs/fidelity.md §3) for Decrypt's KeyId in Oregon.
        let primary_arn = t.arn(ACCOUNT, REGION, &key).unwrap();
        assert!(matches!(
            dec(&t, &oregon, &blob, Some(&primary_arn), ec(&[("app", "x")])),
            Err(KmsError::ArnOfOtherRegion { .. })
        ));
        // Each region's state is its own.
        t.set_state(ACCOUNT, OTHER_REGION, &key, KeyState::Disabled)
            .unwrap();
        assert!(matches!(
            dec(&t, &oregon, &blob, None, ec(&[("app", "x")])),
            Err(KmsError::Disabled { .. })
        ));
        assert!(dec(&t, &tokyo, &blob, None, ec(&[("app", "x")])).is_ok());
        // Rotation on the shared part reaches the replica.
        t.set_state(ACCOUNT, OTHER_REGION, &key, KeyState::Enabled)
            .unwrap();
        let m2 = t
            .add_material(ACCOUNT, &key, RotationType::Automatic)
            .unwrap();
        let r = gdk(&t, &oregon, &key, Some(api::DataKeySpec::Aes256), None).unwrap();
        assert_eq!(r.key_material_id, Some(m2));
        assert!(dec(&t, &tokyo, &r.ciphertext_blob.unwrap().0, None, None).is_ok());
    }

    #[test]
    fn single_region_ciphertext_fails_in_another_region() {
        let (t, ctx, key) = setup();
        let blob = blob_of(&enc(&t, &ctx, &key, b"tokyo only", None).unwrap());
        let oregon = t.ctx_for(ACCOUNT, OTHER_REGION).unwrap();
        assert_eq!(
            dec(&t, &oregon, &blob, None, None).unwrap_err(),
            KmsError::InvalidCiphertext
        );
    }

    #[test]
    fn re_encrypt_between_keys_and_contexts() {
        let (t, ctx, a) = setup();
        let b = t.put_key(&KeySetup::default()).unwrap();
        let blob = blob_of(&enc(&t, &ctx, &a, b"move me", ec(&[("v", "1")])).unwrap());
        let req = |src_ctx: Option<Context>, source_key_id: Option<&str>, dest: &str| {
            api::ReEncryptRequest {
                ciphertext_blob: Some(Blob(blob.clone())),
                source_encryption_context: src_ctx,
                source_key_id: source_key_id.map(str::to_owned),
                destination_key_id: dest.into(),
                destination_encryption_context: ec(&[("v", "2")]),
                ..Default::default()
            }
        };
        let r = re_encrypt(&t.kms, &ctx, req(ec(&[("v", "1")]), Some(&a), &b)).unwrap();
        assert_eq!(r.source_key_id, Some(t.arn(ACCOUNT, REGION, &a).unwrap()));
        assert_eq!(r.key_id, Some(t.arn(ACCOUNT, REGION, &b).unwrap()));
        assert_eq!(
            r.source_encryption_algorithm,
            Some(api::EncryptionAlgorithmSpec::SymmetricDefault)
        );
        assert_eq!(
            r.destination_encryption_algorithm,
            Some(api::EncryptionAlgorithmSpec::SymmetricDefault)
        );
        let out = r.ciphertext_blob.unwrap().0;
        assert_eq!(crypto::parse_header(&out).unwrap().0.key_id, b);
        assert_eq!(
            dec(&t, &ctx, &out, Some(&b), ec(&[("v", "2")]))
                .unwrap()
                .plaintext
                .unwrap()
                .expose(),
            b"move me"
        );
        // Same key, new context.
        assert!(re_encrypt(&t.kms, &ctx, req(ec(&[("v", "1")]), None, &a)).is_ok());
        // Wrong source context, wrong SourceKeyId, disabled destination.
        assert_eq!(
            re_encrypt(&t.kms, &ctx, req(None, None, &b)).unwrap_err(),
            KmsError::InvalidCiphertext
        );
        assert_eq!(
            re_encrypt(&t.kms, &ctx, req(ec(&[("v", "1")]), Some(&b), &b)).unwrap_err(),
            KmsError::IncorrectKey
        );
        t.set_state(ACCOUNT, REGION, &b, KeyState::Disabled)
            .unwrap();
        assert!(matches!(
            re_encrypt(&t.kms, &ctx, req(ec(&[("v", "1")]), None, &b)),
            Err(KmsError::Disabled { .. })
        ));
        // Another account's destination is denied with kms:ReEncryptTo.
        let foreign = t
            .put_key(&KeySetup {
                account: OTHER_ACCOUNT.into(),
                ..KeySetup::default()
            })
            .unwrap();
        let foreign_arn = t.arn(OTHER_ACCOUNT, REGION, &foreign).unwrap();
        let e = re_encrypt(&t.kms, &ctx, req(ec(&[("v", "1")]), None, &foreign_arn)).unwrap_err();
        assert!(
            matches!(&e, KmsError::AccessDenied(m) if m.contains("kms:ReEncryptTo")),
            "{e:?}"
        );
    }

    #[test]
    fn non_default_algorithm_is_invalid_key_usage() {
        let (t, ctx, key) = setup();
        let e = encrypt(
            &t.kms,
            &ctx,
            api::EncryptRequest {
                key_id: key.clone(),
                plaintext: SensitiveBlob::new(b"pt".to_vec()),
                encryption_algorithm: Some(api::EncryptionAlgorithmSpec::RsaesOaepSha256),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(
            e,
            KmsError::InvalidKeyUsage(
                "Algorithm RSAES_OAEP_SHA_256 is incompatible with key spec SYMMETRIC_DEFAULT."
                    .into()
            )
        );
        let blob = blob_of(&enc(&t, &ctx, &key, b"pt", None).unwrap());
        let e = decrypt(
            &t.kms,
            &ctx,
            api::DecryptRequest {
                ciphertext_blob: Some(Blob(blob)),
                encryption_algorithm: Some(api::EncryptionAlgorithmSpec::Sm2Pke),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(matches!(e, KmsError::InvalidKeyUsage(_)));
        let explicit = encrypt(
            &t.kms,
            &ctx,
            api::EncryptRequest {
                key_id: key,
                plaintext: SensitiveBlob::new(b"pt".to_vec()),
                encryption_algorithm: Some(api::EncryptionAlgorithmSpec::SymmetricDefault),
                ..Default::default()
            },
        );
        assert!(explicit.is_ok());
    }

    #[test]
    fn dry_run_checks_then_refuses() {
        let (t, ctx, key) = setup();
        let blob = blob_of(&enc(&t, &ctx, &key, b"pt", None).unwrap());
        let e = encrypt(
            &t.kms,
            &ctx,
            api::EncryptRequest {
                key_id: key.clone(),
                plaintext: SensitiveBlob::new(b"pt".to_vec()),
                dry_run: Some(true),
                ..Default::default()
            },
        );
        assert_eq!(e.unwrap_err(), KmsError::DryRun);
        let d = |blob: Vec<u8>, key_id: Option<String>, ignore: bool| {
            decrypt(
                &t.kms,
                &ctx,
                api::DecryptRequest {
                    ciphertext_blob: Some(Blob(blob)),
                    key_id,
                    dry_run: Some(true),
                    dry_run_modifiers: ignore
                        .then(|| vec![api::DryRunModifierType::IgnoreCiphertext]),
                    ..Default::default()
                },
            )
        };
        assert_eq!(d(blob.clone(), None, false).unwrap_err(), KmsError::DryRun);
        // Without IGNORE_CIPHERTEXT the ciphertext is checked; with it (and a KeyId) it is not.
        assert_eq!(
            d(vec![1, 2, 3], Some(key.clone()), false).unwrap_err(),
            KmsError::InvalidCiphertext
        );
        assert_eq!(
            d(vec![1, 2, 3], Some(key.clone()), true).unwrap_err(),
            KmsError::DryRun
        );
        let g = |key_id: &str| {
            generate_data_key(
                &t.kms,
                &ctx,
                api::GenerateDataKeyRequest {
                    key_id: key_id.into(),
                    number_of_bytes: Some(32),
                    dry_run: Some(true),
                    ..Default::default()
                },
            )
        };
        assert_eq!(g(&key).unwrap_err(), KmsError::DryRun);
        // State checks come first.
        t.set_state(ACCOUNT, REGION, &key, KeyState::Disabled)
            .unwrap();
        assert!(matches!(g(&key), Err(KmsError::Disabled { .. })));
        assert!(matches!(
            d(blob, None, false),
            Err(KmsError::Disabled { .. })
        ));
        assert_eq!(
            AwsError::from(KmsError::DryRun).code,
            "DryRunOperationException"
        );
    }

    #[test]
    fn input_limits() {
        let (t, ctx, key) = setup();
        assert!(enc(&t, &ctx, &key, &[1u8; 4096], None).is_ok());
        assert_eq!(
            enc(&t, &ctx, &key, &[1u8; 4097], None).unwrap_err(),
            KmsError::Validation("1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096".into())
        );
        assert!(matches!(
            enc(&t, &ctx, &key, b"", None),
            Err(KmsError::Validation(_))
        ));
        assert!(matches!(
            dec(&t, &ctx, &[1u8; 6145], None, None),
            Err(KmsError::Validation(_))
        ));
        assert!(matches!(
            dec(&t, &ctx, &[], None, None),
            Err(KmsError::Validation(_))
        ));
        assert!(matches!(
            decrypt(&t.kms, &ctx, api::DecryptRequest::default()),
            Err(KmsError::Validation(_))
        ));
        let grant = crate::model::GrantRecord {
            account: ctx.principal.account,
            region: ctx.region,
            key_id: key.clone(),
            grant_id: crate::grants::new_grant_id().unwrap(),
            name: None,
            created: ctx.now,
            grantee: ctx.principal.arn.clone(),
            retiring: None,
            issuing_account: ctx.principal.arn.clone(),
            operations: vec!["Encrypt".into()],
            constraints: Default::default(),
        };
        // Well-formed tokens (of a grant that need not exist) pass; garbage is refused.
        let tokens = |n: usize| {
            Some(
                (0..n)
                    .map(|_| crate::grants::make_token(&grant).unwrap())
                    .collect::<Vec<_>>(),
            )
        };
        let with_tokens = |n| {
            encrypt(
                &t.kms,
                &ctx,
                api::EncryptRequest {
                    key_id: key.clone(),
                    plaintext: SensitiveBlob::new(b"pt".to_vec()),
                    grant_tokens: tokens(n),
                    ..Default::default()
                },
            )
        };
        assert!(with_tokens(10).is_ok());
        assert!(
            matches!(with_tokens(11), Err(KmsError::Validation(m)) if m.contains("'grantTokens'"))
        );
        let garbage = encrypt(
            &t.kms,
            &ctx,
            api::EncryptRequest {
                key_id: key.clone(),
                plaintext: SensitiveBlob::new(b"pt".to_vec()),
                grant_tokens: Some(vec!["token0".into()]),
                ..Default::default()
            },
        );
        assert_eq!(garbage.unwrap_err(), KmsError::InvalidGrantToken);
        // Recipient (Nitro enclaves) is not built.
        let r = generate_data_key(
            &t.kms,
            &ctx,
            api::GenerateDataKeyRequest {
                key_id: key,
                number_of_bytes: Some(32),
                recipient: Some(api::RecipientInfo::default()),
                ..Default::default()
            },
        );
        assert_eq!(r.unwrap_err(), KmsError::NotImplemented("Recipient"));
    }

    #[test]
    fn aws_managed_key_needs_its_service() {
        let t = TestKms::new().unwrap();
        let key = t
            .put_key(&KeySetup {
                manager: crate::model::KeyManager::Aws,
                aws_service: Some("ebs".into()),
                ..KeySetup::default()
            })
            .unwrap();
        let ctx = t.ctx().unwrap();
        assert!(matches!(
            enc(&t, &ctx, &key, b"pt", None),
            Err(KmsError::AccessDenied(_))
        ));
        let via = ctx.via("ec2.amazonaws.com");
        let blob = blob_of(&enc(&t, &via, &key, b"pt", None).unwrap());
        assert!(matches!(
            dec(&t, &ctx, &blob, None, None),
            Err(KmsError::AccessDenied(_))
        ));
        assert!(dec(&t, &via, &blob, None, None).is_ok());
    }
}
