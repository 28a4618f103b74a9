//! Glob matching used by Action, Resource, StringLike and ArnLike: `*` matches any run of
//! characters (including none), `?` exactly one. No escapes exist in the IAM language.

/// Matches `text` against `pattern`; `fold_case` compares ASCII-case-insensitively.
pub(crate) fn glob(pattern: &str, text: &str, fold_case: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let eq = |a: char, b: char| {
        if fold_case {
            a.to_lowercase().eq(b.to_lowercase())
        } else {
            a == b
        }
    };
    // Classic linear backtracking: remember the last `*` and where it started consuming.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || eq(c, t[ti]) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// ARN matching as IAM does it: both sides are split into their six `:`-separated
/// components and compared component-wise (the last component, the resource, may itself
/// contain `:`). A bare `*` pattern matches anything; non-ARN strings fall back to a plain
/// glob over the whole string.
pub(crate) fn arn_glob(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let a: Vec<&str> = arn.splitn(6, ':').collect();
    if p.len() == 6 && a.len() == 6 && p[0] == "arn" {
        p.iter().zip(a.iter()).all(|(ps, as_)| glob(ps, as_, false))
    } else {
        glob(pattern, arn, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("kms:*", "kms:Encrypt", false));
        assert!(glob("kms:ReEncrypt*", "kms:ReEncryptFrom", false));
        assert!(glob("KMS:encrypt", "kms:Encrypt", true));
        assert!(!glob("KMS:encrypt", "kms:Encrypt", false));
        assert!(glob("a?c", "abc", false));
        assert!(!glob("a?c", "ac", false));
        assert!(glob("*", "", false));
        assert!(glob("a*b*c", "aXXbYYc", false));
        assert!(!glob("a*b*c", "aXXbYY", false));
        assert!(glob("**", "x", false));
    }

    #[test]
    fn arns() {
        let key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd";
        assert!(arn_glob("*", key));
        assert!(arn_glob("arn:aws:kms:*:111122223333:key/*", key));
        assert!(!arn_glob("arn:aws:kms:*:444455556666:key/*", key));
        assert!(arn_glob(key, key));
        assert!(!arn_glob("arn:aws:kms:us-east-1:111122223333:alias/*", key));
    }
}
