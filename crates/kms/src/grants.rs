//! Grants (docs/kms.md §12): the tables of [`GrantRecord`]s (the record itself is in
//! `model`), grant tokens, and the question authorization asks — does a grant let this caller
//! perform this operation on this key with this encryption context?
//!
//! Tables:
//! * `kms_grants`          `{account}/{region}/{key_id}/{grant_id}` → [`GrantRecord`]
//! * `kms_grants_retiring` `{region}/{retiring principal}\n{account}/{key_id}/{grant_id}` →
//!   empty: ListRetirableGrants' index.
//!
//! Grants take effect at once (AWS's eventual consistency is not modelled, docs/kms.md §12 "Emulator
//! rule"): a grant write touches its key, so the cached key (which carries its grants, loaded
//! on first use) is dropped in the same commit.

use crate::error::KmsError;
use crate::model::GrantRecord;
use crate::store::KmsTxn;
use base64::Engine as _;
use kmsnap_auth::{Principal, PrincipalKind};
use kmsnap_core::{AccountId, Region};
use kmsnap_store::{ReadTxn, Table};
use std::collections::BTreeMap;

pub const GRANTS: Table<GrantRecord> = Table::new("kms_grants");
/// Empty values: the keys are the index.
pub const T_RETIRING: &str = "kms_grants_retiring";

/// Grants per key (docs/kms.md §14).
pub const MAX_GRANTS_PER_KEY: usize = 50_000;

fn grant_key(account: AccountId, region: Region, key_id: &str, grant_id: &str) -> Vec<u8> {
    format!("{account}/{region}/{key_id}/{grant_id}").into_bytes()
}

fn key_prefix(account: AccountId, region: Region, key_id: &str) -> Vec<u8> {
    format!("{account}/{region}/{key_id}/").into_bytes()
}

fn retiring_prefix(region: Region, retiring: &str) -> Vec<u8> {
    format!("{region}/{retiring}\n").into_bytes()
}

fn retiring_key(g: &GrantRecord, retiring: &str) -> Vec<u8> {
    let mut k = retiring_prefix(g.region, retiring);
    k.extend_from_slice(format!("{}/{}/{}", g.account, g.key_id, g.grant_id).as_bytes());
    k
}

/// All grants of a key, in grant-id order.
pub fn read_for_key(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    key_id: &str,
) -> Result<Vec<GrantRecord>, KmsError> {
    let rows = GRANTS.scan(txn, &key_prefix(account, region, key_id), None, usize::MAX)?;
    Ok(rows.into_iter().map(|(_, _, g)| g).collect())
}

pub fn read_one(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    key_id: &str,
    grant_id: &str,
) -> Result<Option<GrantRecord>, KmsError> {
    Ok(GRANTS.get(txn, &grant_key(account, region, key_id, grant_id))?)
}

/// Grants in `region` whose retiring principal is `retiring`, in index order, starting after
/// `after` (an index key) — ListRetirableGrants.
pub fn read_retirable(
    txn: &dyn ReadTxn,
    region: Region,
    retiring: &str,
    after: Option<&[u8]>,
    limit: usize,
) -> Result<Vec<(Vec<u8>, GrantRecord)>, KmsError> {
    let prefix = retiring_prefix(region, retiring);
    let rows = txn.scan(T_RETIRING, &prefix, after, limit)?;
    let mut out = Vec::with_capacity(rows.len());
    for (k, _) in rows {
        let Ok(rest) = std::str::from_utf8(&k[prefix.len()..]) else {
            continue;
        };
        let mut it = rest.splitn(3, '/');
        let (Some(acct), Some(key_id), Some(grant_id)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let Ok(account) = AccountId::parse(acct) else {
            continue;
        };
        if let Some(g) = read_one(txn, account, region, key_id, grant_id)? {
            out.push((k, g));
        }
    }
    Ok(out)
}

impl KmsTxn<'_> {
    pub fn put_grant(&mut self, g: &GrantRecord) -> Result<(), KmsError> {
        self.touch_key(g.account, g.region, &g.key_id);
        let k = grant_key(g.account, g.region, &g.key_id, &g.grant_id);
        GRANTS.put(self.raw(), &k, g)?;
        if let Some(r) = &g.retiring {
            let rk = retiring_key(g, r);
            self.raw().put(T_RETIRING, &rk, b"")?;
        }
        Ok(())
    }

    pub fn delete_grant(&mut self, g: &GrantRecord) -> Result<(), KmsError> {
        self.touch_key(g.account, g.region, &g.key_id);
        GRANTS.delete(
            self.raw(),
            &grant_key(g.account, g.region, &g.key_id, &g.grant_id),
        )?;
        if let Some(r) = &g.retiring {
            let rk = retiring_key(g, r);
            self.raw().delete(T_RETIRING, &rk)?;
        }
        Ok(())
    }

    /// Drops every grant of a key (the key is being deleted).
    pub fn delete_grants_of_key(
        &mut self,
        account: AccountId,
        region: Region,
        key_id: &str,
    ) -> Result<usize, KmsError> {
        let grants = read_for_key(self.read_view(), account, region, key_id)?;
        for g in &grants {
            self.delete_grant(g)?;
        }
        Ok(grants.len())
    }
}

// ---------------------------------------------------------------------------------------------
// Grant tokens

const TOKEN_VERSION: u8 = 1;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// AWS's bound on a token's length.
pub const MAX_TOKEN_CHARS: usize = 8192;

/// What a grant token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRef {
    pub account: AccountId,
    pub region: Region,
    pub key_id: String,
    pub grant_id: String,
}

/// A fresh token for a grant: version, the grant's location and id, and 16 random bytes so
/// that every CreateGrant answers a different token (tokens are not secrets, docs/kms.md §12).
pub fn make_token(g: &GrantRecord) -> Result<String, KmsError> {
    let loc = format!("{}/{}/{}/{}", g.account, g.region, g.key_id, g.grant_id);
    let mut raw = Vec::with_capacity(2 + loc.len() + 16);
    raw.push(TOKEN_VERSION);
    raw.push(loc.len().min(255) as u8);
    raw.extend_from_slice(loc.as_bytes());
    raw.extend_from_slice(rng_hex(8)?.as_bytes());
    Ok(B64.encode(raw))
}

fn invalid_token() -> KmsError {
    KmsError::InvalidGrantToken
}

/// Parses a token made by [`make_token`]; anything else is InvalidGrantTokenException.
pub fn parse_token(token: &str) -> Result<TokenRef, KmsError> {
    if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
        return Err(invalid_token());
    }
    let raw = B64.decode(token).map_err(|_| invalid_token())?;
    let [version, len, rest @ ..] = raw.as_slice() else {
        return Err(invalid_token());
    };
    let (version, len) = (*version, usize::from(*len));
    if version != TOKEN_VERSION || rest.len() < len {
        return Err(invalid_token());
    }
    let loc = std::str::from_utf8(&rest[..len]).map_err(|_| invalid_token())?;
    let parts: Vec<&str> = loc.split('/').collect();
    let [acct, region, key_id, grant_id] = parts[..] else {
        return Err(invalid_token());
    };
    let account = AccountId::parse(acct).map_err(|_| invalid_token())?;
    let region = Region::parse(region).map_err(|_| invalid_token())?;
    if !is_grant_id(grant_id) || key_id.is_empty() {
        return Err(invalid_token());
    }
    Ok(TokenRef {
        account,
        region,
        key_id: key_id.to_owned(),
        grant_id: grant_id.to_owned(),
    })
}

/// Validates the `GrantTokens` of a request: at most 10, each well formed.
pub fn check_tokens(tokens: &[String]) -> Result<(), KmsError> {
    if tokens.len() > 10 {
        return Err(KmsError::Validation(format!(
            "1 validation error detected: Value '{}' at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to 10",
            tokens.len()
        )));
    }
    for t in tokens {
        parse_token(t)?;
    }
    Ok(())
}

pub fn is_grant_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

pub fn new_grant_id() -> Result<String, KmsError> {
    rng_hex(32)
}

fn rng_hex(bytes: usize) -> Result<String, KmsError> {
    kmsnap_core::ids::random_hex(bytes).map_err(|_| KmsError::Internal("rng"))
}

// ---------------------------------------------------------------------------------------------
// Matching

/// Whether grantee (or retiring principal) `spec` names the caller: the caller's own ARN, its
/// role (for a role session), or its account root (which names every principal of the account
/// only together with an identity-policy allow — the caller decides that; here the root ARN
/// matches the root itself).
pub fn names_principal(spec: &str, p: &Principal) -> bool {
    if spec == p.arn {
        return true;
    }
    match &p.kind {
        PrincipalKind::AssumedRole { role_arn, .. } => spec == role_arn,
        PrincipalKind::Root => spec == p.account.as_str(),
        PrincipalKind::User { .. } => false,
    }
}

/// Operations that take an encryption context; grant constraints apply only to them (AWS:
/// constraints are not applied to DescribeKey, RetireGrant, CreateGrant …).
fn takes_encryption_context(op: &str) -> bool {
    matches!(op, "Encrypt" | "Decrypt" | "ReEncryptFrom" | "ReEncryptTo")
        || op.starts_with("GenerateDataKey")
}

/// The first of `grants` that lets `principal` perform `operation` with `ec`.
pub fn allowing<'k>(
    grants: &'k [GrantRecord],
    principal: &Principal,
    operation: &str,
    ec: Option<&BTreeMap<String, String>>,
) -> Option<&'k GrantRecord> {
    let constrained = takes_encryption_context(operation);
    grants.iter().find(|g| {
        g.allows_operation(operation)
            && names_principal(&g.grantee, principal)
            && (!constrained || g.constraints.admit(ec))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Constraints;
    use chrono::Utc;

    fn grant() -> GrantRecord {
        GrantRecord {
            account: AccountId::parse("111111111111").unwrap(),
            region: Region::parse("us-east-1").unwrap(),
            key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
            grant_id: new_grant_id().unwrap(),
            name: None,
            created: Utc::now(),
            grantee: "arn:aws:iam::999999999999:root".into(),
            retiring: None,
            issuing_account: "arn:aws:iam::111111111111:root".into(),
            operations: vec!["Decrypt".into()],
            constraints: Constraints::default(),
        }
    }

    #[test]
    fn tokens_round_trip_and_differ() {
        let g = grant();
        let (a, b) = (make_token(&g).unwrap(), make_token(&g).unwrap());
        assert_ne!(a, b);
        let r = parse_token(&a).unwrap();
        assert_eq!(
            (r.account, r.region, r.key_id.as_str(), r.grant_id.as_str()),
            (g.account, g.region, g.key_id.as_str(), g.grant_id.as_str())
        );
        for bad in ["", "x", "!!!!", "AAAA", &"A".repeat(9000)] {
            assert_eq!(
                parse_token(bad),
                Err(KmsError::InvalidGrantToken),
                "{bad:?}"
            );
        }
        assert!(check_tokens(&[a.clone(), b]).is_ok());
        assert!(check_tokens(&vec![a; 11]).is_err());
    }

    #[test]
    fn constraints() {
        let ec = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let none = Constraints::default();
        assert!(none.admit(None));
        let sub = Constraints {
            subset: Some(ec(&[("a", "1")])),
            equals: None,
        };
        assert!(sub.admit(Some(&ec(&[("a", "1"), ("b", "2")]))));
        assert!(!sub.admit(Some(&ec(&[("a", "2")]))));
        assert!(!sub.admit(None));
        let eq = Constraints {
            subset: None,
            equals: Some(ec(&[("a", "1")])),
        };
        assert!(eq.admit(Some(&ec(&[("a", "1")]))));
        assert!(!eq.admit(Some(&ec(&[("a", "1"), ("b", "2")]))));
        let empty_sub = Constraints {
            subset: Some(BTreeMap::new()),
            equals: None,
        };
        assert!(empty_sub.admit(None));
    }

    #[test]
    fn grantee_matching() {
        let acct = AccountId::parse("999999999999").unwrap();
        let root = Principal::root(acct, "AKIA");
        assert!(names_principal("arn:aws:iam::999999999999:root", &root));
        assert!(names_principal("999999999999", &root));
        let user = Principal {
            account: acct,
            arn: "arn:aws:iam::999999999999:user/bob".into(),
            user_id: "AIDA".into(),
            kind: PrincipalKind::User { name: "bob".into() },
            access_key_id: "AKIA".into(),
        };
        assert!(names_principal("arn:aws:iam::999999999999:user/bob", &user));
        assert!(!names_principal("arn:aws:iam::999999999999:root", &user));
        let session = Principal {
            account: acct,
            arn: "arn:aws:sts::999999999999:assumed-role/r/s".into(),
            user_id: "AROA:s".into(),
            kind: PrincipalKind::AssumedRole {
                role_name: "r".into(),
                role_arn: "arn:aws:iam::999999999999:role/r".into(),
                session_name: "s".into(),
                session_policy: None,
                source_identity: None,
            },
            access_key_id: "ASIA".into(),
        };
        assert!(names_principal(
            "arn:aws:iam::999999999999:role/r",
            &session
        ));
        assert!(names_principal(
            "arn:aws:sts::999999999999:assumed-role/r/s",
            &session
        ));
    }
}
