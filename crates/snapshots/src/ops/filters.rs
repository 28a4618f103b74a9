//! The query side of EC2's `Describe*` calls: `Filter.N` matching and `MaxResults`/`NextToken`
//! paging, shared by DescribeVolumes, DescribeSnapshots, DescribeTags, DescribeRegions and
//! DescribeAvailabilityZones.
//!
//! Filters follow EC2: values of one filter are OR-ed, filters are AND-ed, values may use `*`
//! (any run of characters) and `?` (one character), `\` escapes either; `tag:<key>` matches
//! the value of tag `<key>`, `tag-key` any tag key. A filter name the operation does not know
//! is refused (`InvalidParameterValue` "The filter 'x' is invalid"), as EC2 does.
//!
//! Pages are in resource-id order; `NextToken` is opaque to clients (base64 of the last id
//! returned), so a token stays valid while resources come and go.

use crate::error::EbsError;
use base64::Engine as _;
use kmsnap_api::gen::ec2;

/// Parsed `Filter.N` of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(Vec<(String, Vec<String>)>);

/// What a filter asks of a resource: `tag:<key>`, `tag-key`, or a named field.
enum Target<'a> {
    Tag(&'a str),
    TagKey,
    Field(&'a str),
}

impl Filters {
    /// Checks every filter name against `known` (the operation's names; `tag:*` stands for
    /// every `tag:<key>` and `tag-key`).
    pub fn parse(input: Option<Vec<ec2::Filter>>, known: &[&str]) -> Result<Self, EbsError> {
        let mut out = Vec::new();
        for f in input.unwrap_or_default() {
            let name = f.name.unwrap_or_default();
            let tag = name.starts_with("tag:") || name == "tag-key";
            let ok = if tag {
                known.contains(&"tag:*")
            } else {
                known.contains(&name.as_str())
            };
            if !ok || name == "tag:" {
                return Err(EbsError::InvalidParameterValue(format!(
                    "The filter '{name}' is invalid"
                )));
            }
            out.push((name, f.values.unwrap_or_default()));
        }
        Ok(Filters(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a resource passes every filter. `field(name)` gives the resource's values for a
    /// filter name (several for list-valued fields, none when it has no such value).
    pub fn matches<F>(&self, tags: &[(String, String)], field: F) -> bool
    where
        F: Fn(&str) -> Vec<String>,
    {
        self.0.iter().all(|(name, patterns)| {
            let target = match name.strip_prefix("tag:") {
                Some(k) => Target::Tag(k),
                None if name == "tag-key" => Target::TagKey,
                None => Target::Field(name),
            };
            let values: Vec<String> = match target {
                Target::Tag(k) => tags
                    .iter()
                    .filter(|(tk, _)| tk == k)
                    .map(|(_, v)| v.clone())
                    .collect(),
                Target::TagKey => tags.iter().map(|(k, _)| k.clone()).collect(),
                Target::Field(n) => field(n),
            };
            values
                .iter()
                .any(|v| patterns.iter().any(|p| wildcard(p, v)))
        })
    }
}

/// EC2's filter-value match: `*` any run (also empty), `?` exactly one character, `\*`, `\?`
/// and `\\` literal.
pub fn wildcard(pattern: &str, value: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Tok {
        Lit(char),
        One,
        Any,
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        toks.push(match c {
            '\\' => Tok::Lit(chars.next().unwrap_or('\\')),
            '*' => Tok::Any,
            '?' => Tok::One,
            c => Tok::Lit(c),
        });
    }
    let v: Vec<char> = value.chars().collect();
    // Iterative glob match with backtracking to the last `*`.
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < v.len() {
        match toks.get(p) {
            Some(Tok::Lit(c)) if *c == v[i] => {
                p += 1;
                i += 1;
            }
            Some(Tok::One) => {
                p += 1;
                i += 1;
            }
            Some(Tok::Any) => {
                star = Some((p, i));
                p += 1;
            }
            _ => match star {
                Some((sp, si)) => {
                    p = sp + 1;
                    i = si + 1;
                    star = Some((sp, si + 1));
                }
                None => return false,
            },
        }
    }
    toks[p..].iter().all(|t| *t == Tok::Any)
}

/// `MaxResults` and `NextToken` of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paging {
    pub max: Option<usize>,
    /// Items with an id after this one.
    pub after: Option<String>,
}

impl Paging {
    /// `MaxResults` must lie in `min..=max` (EC2's bounds per operation); the token must be
    /// one this server issued.
    pub fn parse(
        max_results: Option<i32>,
        next_token: Option<String>,
        min: i32,
        max: i32,
    ) -> Result<Self, EbsError> {
        let max = match max_results {
            None => None,
            Some(n) if n < min => {
                return Err(EbsError::InvalidParameterValue(format!(
                    "Value ( {n} ) for parameter maxResults is invalid. Expecting a value greater than {min}."
                )))
            }
            Some(n) if n > max => {
                return Err(EbsError::InvalidParameterValue(format!(
                    "Value ( {n} ) for parameter maxResults is invalid. Expecting a value less than or equal to {max}."
                )))
            }
            Some(n) => Some(usize::try_from(n).map_err(|_| EbsError::Internal("max results"))?),
        };
        let after = match next_token.filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => Some(decode_token(&t).ok_or_else(|| {
                EbsError::InvalidParameterValue(format!("Invalid value '{t}' for nextToken"))
            })?),
        };
        Ok(Paging { max, after })
    }

    /// One page of `items` (any order; sorted here by `id`), and the token for the next page.
    pub fn page<T>(&self, mut items: Vec<T>, id: impl Fn(&T) -> &str) -> (Vec<T>, Option<String>) {
        items.sort_by(|a, b| id(a).cmp(id(b)));
        if let Some(after) = &self.after {
            items.retain(|x| id(x) > after.as_str());
        }
        match self.max {
            Some(max) if items.len() > max => {
                items.truncate(max);
                let token = items.last().map(|x| encode_token(id(x)));
                (items, token)
            }
            _ => (items, None),
        }
    }
}

const TOKEN_PREFIX: &str = "kmsnap1:";

fn encode_token(last: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{TOKEN_PREFIX}{last}"))
}

fn decode_token(t: &str) -> Option<String> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix(TOKEN_PREFIX)
        .map(str::to_owned)
}

/// `true`/`false`, the form boolean filter values take.
pub fn bool_value(b: bool) -> Vec<String> {
    vec![b.to_string()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, values: &[&str]) -> ec2::Filter {
        ec2::Filter {
            name: Some(name.into()),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn wildcards_as_ec2_allows() {
        for (p, v, want) in [
            ("vol-*", "vol-0abc", true),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*b*", "abc", true),
            ("*b", "abc", false),
            ("a*c*e", "abcde", true),
            ("a*c*e", "abcdf", false),
            ("\\*", "*", true),
            ("\\*", "x", false),
            ("a\\?", "a?", true),
            ("a\\?", "ab", false),
            ("completed", "completed", true),
            ("Completed", "completed", false),
            ("2026-11-*", "2026-11-23T07:00:00.000Z", true),
        ] {
            assert_eq!(wildcard(p, v), want, "{p} ~ {v}");
        }
    }

    #[test]
    fn or_within_values_and_across_filters() {
        let tags = vec![
            ("Name".to_string(), "web".to_string()),
            ("env".to_string(), "prod".to_string()),
        ];
        let field = |n: &str| match n {
            "status" => vec!["available".to_string()],
            "size" => vec!["8".to_string()],
            _ => vec![],
        };
        let known = ["status", "size", "tag:*"];
        let q = |fs: Vec<ec2::Filter>| {
            Filters::parse(Some(fs), &known)
                .unwrap()
                .matches(&tags, field)
        };
        assert!(q(vec![f("status", &["creating", "available"])]));
        assert!(!q(vec![f("status", &["creating"])]));
        assert!(q(vec![f("status", &["available"]), f("size", &["8"])]));
        assert!(!q(vec![f("status", &["available"]), f("size", &["9"])]));
        assert!(q(vec![f("tag:Name", &["w*"])]));
        assert!(!q(vec![f("tag:Name", &["prod"])]));
        assert!(!q(vec![f("tag:missing", &["*"])]));
        assert!(q(vec![f("tag-key", &["env"])]));
        assert!(!q(vec![f("tag-key", &["nope"])]));
        // A filter without values matches nothing.
        assert!(!q(vec![f("status", &[])]));
        assert!(Filters::parse(None, &known).unwrap().matches(&tags, field));
    }

    #[test]
    fn unknown_filter_names_are_refused() {
        for bad in ["bogus", "tag:"] {
            let e = Filters::parse(Some(vec![f(bad, &["x"])]), &["status", "tag:*"]).unwrap_err();
            assert_eq!(
                e,
                EbsError::InvalidParameterValue(format!("The filter '{bad}' is invalid"))
            );
        }
        assert!(Filters::parse(Some(vec![f("tag:a", &["x"])]), &["status"]).is_err());
    }

    #[test]
    fn paging_walks_every_item_once() {
        let ids: Vec<String> = (0..12).map(|i| format!("snap-{i:02}")).rev().collect();
        let mut seen = Vec::new();
        let mut token = None;
        loop {
            let p = Paging::parse(Some(5), token.clone(), 5, 1000).unwrap();
            let (page, next) = p.page(ids.clone(), |s| s.as_str());
            assert!(page.len() <= 5);
            seen.extend(page);
            match next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        let mut want = ids.clone();
        want.sort();
        assert_eq!(seen, want);
        // Without MaxResults: everything, no token.
        let (all, next) = Paging::default().page(ids.clone(), |s| s.as_str());
        assert_eq!((all.len(), next), (12, None));
    }

    #[test]
    fn paging_bounds_and_bad_tokens() {
        assert!(Paging::parse(Some(4), None, 5, 1000).is_err());
        assert!(Paging::parse(Some(1001), None, 5, 1000).is_err());
        assert!(Paging::parse(Some(5), None, 5, 1000).is_ok());
        assert!(Paging::parse(None, Some("not-a-token".into()), 5, 1000).is_err());
        assert_eq!(
            Paging::parse(None, Some(String::new()), 5, 1000).unwrap(),
            Paging::default()
        );
        let t = encode_token("vol-1");
        assert_eq!(
            Paging::parse(None, Some(t), 5, 1000)
                .unwrap()
                .after
                .as_deref(),
            Some("vol-1")
        );
    }
}
