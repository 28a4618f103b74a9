//! The `pattern` constraints of IAM's model that the codec leaves to the domain (it checks
//! required members and lengths only): names, paths, policy documents, descriptions, tags,
//! access key ids and markers. Problems are collected and reported all at once in AWS's
//! wording (`Value 'a b' at 'userName' failed to satisfy constraint: Member must satisfy
//! regular expression pattern: [\w+=,.@-]+`).

use super::error::IamError;

pub const NAME_PATTERN: &str = r"[\w+=,.@-]+";
pub const PATH_PATTERN: &str = r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)";
pub const PATH_PREFIX_PATTERN: &str = r"\u002F[\u0021-\u007F]*";
pub const POLICY_PATTERN: &str = r"[\u0009\u000A\u000D\u0020-\u00FF]+";
pub const DESCRIPTION_PATTERN: &str = r"[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*";
pub const ACCESS_KEY_ID_PATTERN: &str = r"[\w]+";
pub const MARKER_PATTERN: &str = r"[\u0020-\u00FF]+";
pub const TAG_KEY_PATTERN: &str = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+";
pub const TAG_VALUE_PATTERN: &str = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*";

/// Collects pattern problems of one request.
#[derive(Debug, Default)]
pub struct Problems(Vec<String>);

fn shown(value: &str) -> String {
    if value.chars().count() > 256 {
        let mut s: String = value.chars().take(256).collect();
        s.push_str("...");
        s
    } else {
        value.to_owned()
    }
}

impl Problems {
    pub fn new() -> Self {
        Problems(Vec::new())
    }

    fn check(&mut self, value: &str, member: &str, pattern: &str, ok: bool) {
        if !ok {
            self.0.push(format!(
                "Value '{}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}",
                shown(value)
            ));
        }
    }

    /// User, role and policy names: `[\w+=,.@-]+`.
    pub fn name(&mut self, value: &str, member: &str) {
        let ok = !value.is_empty() && value.chars().all(is_name_char);
        self.check(value, member, NAME_PATTERN, ok);
    }

    /// `Path`: `/` or `/segments/` of printable ASCII.
    pub fn path(&mut self, value: &str, member: &str) {
        let ok = value == "/"
            || (value.len() >= 3
                && value.starts_with('/')
                && value.ends_with('/')
                && value.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        self.check(value, member, PATH_PATTERN, ok);
    }

    /// `PathPrefix`: `/` followed by printable ASCII (and DEL).
    pub fn path_prefix(&mut self, value: &str, member: &str) {
        let ok = value.starts_with('/') && value.bytes().all(|b| (0x21..=0x7f).contains(&b));
        self.check(value, member, PATH_PREFIX_PATTERN, ok);
    }

    /// Policy documents: tab, newline, carriage return and U+0020–U+00FF.
    pub fn policy_document(&mut self, value: &str, member: &str) {
        let ok = !value.is_empty()
            && value
                .chars()
                .all(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}'));
        self.check(value, member, POLICY_PATTERN, ok);
    }

    pub fn description(&mut self, value: &str, member: &str) {
        let ok = value
            .chars()
            .all(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{a1}'..='\u{ff}'));
        self.check(value, member, DESCRIPTION_PATTERN, ok);
    }

    pub fn access_key_id(&mut self, value: &str, member: &str) {
        let ok = !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        self.check(value, member, ACCESS_KEY_ID_PATTERN, ok);
    }

    pub fn marker(&mut self, value: &str, member: &str) {
        let ok = !value.is_empty() && value.chars().all(|c| matches!(c, '\u{20}'..='\u{ff}'));
        self.check(value, member, MARKER_PATTERN, ok);
    }

    pub fn tag(&mut self, key: &str, value: &str, index: usize) {
        let ok_key = !key.is_empty() && key.chars().all(is_tag_char);
        self.check(
            key,
            &format!("tags.{index}.member.key"),
            TAG_KEY_PATTERN,
            ok_key,
        );
        let ok_value = value.chars().all(is_tag_char);
        self.check(
            value,
            &format!("tags.{index}.member.value"),
            TAG_VALUE_PATTERN,
            ok_value,
        );
    }

    /// `Err(Validation)` when anything was found.
    pub fn finish(self) -> Result<(), IamError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(IamError::Validation { problems: self.0 })
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
}

/// IAM counts policy size without whitespace.
pub fn policy_size(document: &str) -> usize {
    document.chars().filter(|c| !c.is_whitespace()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(f: impl FnOnce(&mut Problems)) -> Vec<String> {
        let mut p = Problems::new();
        f(&mut p);
        match p.finish() {
            Ok(()) => Vec::new(),
            Err(IamError::Validation { problems }) => problems,
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn names() {
        for ok in ["alice", "a.b@c-d_e+f=g,h", "A1"] {
            assert!(problems(|p| p.name(ok, "userName")).is_empty(), "{ok}");
        }
        for bad in ["", "a b", "a/b", "ä", "a:b"] {
            let p = problems(|p| p.name(bad, "userName"));
            assert_eq!(p.len(), 1, "{bad}");
            assert_eq!(
                p[0],
                format!("Value '{bad}' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+")
            );
        }
    }

    #[test]
    fn paths() {
        for ok in ["/", "/a/", "/a/b-c/"] {
            assert!(problems(|p| p.path(ok, "path")).is_empty(), "{ok}");
        }
        for bad in ["", "a/", "/a", "/a b/", "//"] {
            assert_eq!(problems(|p| p.path(bad, "path")).len(), 1, "{bad}");
        }
        assert!(problems(|p| p.path_prefix("/", "pathPrefix")).is_empty());
        assert!(problems(|p| p.path_prefix("/dev", "pathPrefix")).is_empty());
        assert_eq!(problems(|p| p.path_prefix("dev", "pathPrefix")).len(), 1);
    }

    #[test]
    fn documents_tags_and_keys() {
        assert!(
            problems(|p| p.policy_document("{\n\t\"a\": \"é\"\r}", "policyDocument")).is_empty()
        );
        assert_eq!(
            problems(|p| p.policy_document("{\"a\":\"€\"}", "policyDocument")).len(),
            1
        );
        assert_eq!(
            problems(|p| p.policy_document("\u{1}", "policyDocument")).len(),
            1
        );
        assert!(problems(|p| p.tag("team", "kms dev", 1)).is_empty());
        assert_eq!(problems(|p| p.tag("a*", "b#", 1)).len(), 2);
        assert!(problems(|p| p.access_key_id("AKIAAAAAAAAAAAAAAAAA", "accessKeyId")).is_empty());
        assert_eq!(
            problems(|p| p.access_key_id("AKIA-", "accessKeyId")).len(),
            1
        );
        let long = "x".repeat(300);
        let p = problems(|p| p.name(&format!("{long} "), "policyName"));
        assert!(p[0].contains("..."));
    }

    #[test]
    fn sizes_ignore_whitespace() {
        assert_eq!(policy_size("{ \"a\" :\n\t1 }"), 7);
    }
}
