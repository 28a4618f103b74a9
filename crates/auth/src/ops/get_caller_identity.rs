//! STS `GetCallerIdentity`: the caller's account, ARN and user id. It needs no permission.

use crate::model::Principal;

/// `GetCallerIdentityResult`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    pub account: String,
    pub arn: String,
    pub user_id: String,
}

pub fn get_caller_identity(principal: &Principal) -> CallerIdentity {
    CallerIdentity {
        account: principal.account.as_str().to_owned(),
        arn: principal.arn.clone(),
        user_id: principal.user_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmsnap_core::AccountId;

    #[test]
    fn root_identity_matches_protocols_md() {
        let p = Principal::root(AccountId::parse("111111111111").unwrap(), "111111111111");
        let id = get_caller_identity(&p);
        assert_eq!(id.arn, "arn:aws:iam::111111111111:root");
        assert_eq!(id.user_id, "111111111111");
        assert_eq!(id.account, "111111111111");
    }
}
