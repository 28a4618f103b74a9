//! AWS account ids: exactly twelve ASCII digits.

use crate::arn::Arn;
use std::fmt;

/// A 12-digit AWS account id. Construction validates the form, so holders never re-check it.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId([u8; 12]);

/// The account of dev mode's `test` access key.
pub const DEFAULT_ACCOUNT: AccountId = AccountId(*b"000000000000");

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a 12-digit account id")]
pub struct InvalidAccountId;

impl AccountId {
    pub fn parse(s: &str) -> Result<Self, InvalidAccountId> {
        let b = s.as_bytes();
        if b.len() != 12 || !b.iter().all(u8::is_ascii_digit) {
            return Err(InvalidAccountId);
        }
        let mut a = [0u8; 12];
        a.copy_from_slice(b);
        Ok(AccountId(a))
    }

    pub fn as_str(&self) -> &str {
        // The bytes are ASCII digits by construction.
        std::str::from_utf8(&self.0).unwrap_or("000000000000")
    }

    /// The account's root principal, `arn:aws:iam::<acct>:root`.
    pub fn root_arn(&self) -> String {
        Arn::iam_root(self.as_str()).to_string()
    }
}

impl std::str::FromStr for AccountId {
    type Err = InvalidAccountId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for AccountId {
    type Error = InvalidAccountId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<AccountId> for String {
    fn from(a: AccountId) -> String {
        a.as_str().to_owned()
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_twelve_digits_only() {
        assert_eq!(
            AccountId::parse("111111111111").unwrap().as_str(),
            "111111111111"
        );
        assert!(AccountId::parse("11111111111").is_err());
        assert!(AccountId::parse("1111111111111").is_err());
        assert!(AccountId::parse("11111111111a").is_err());
        assert_eq!(DEFAULT_ACCOUNT.root_arn(), "arn:aws:iam::000000000000:root");
    }
}
