//! Rust names for model names: snake_case fields and methods, PascalCase enum variants, and
//! escaping of keywords. Deterministic, so regenerating never renames anything.

/// Rust keywords (strict and reserved, all editions up to 2024) that can be used as raw
/// identifiers (`r#type`).
const RAW_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return",
    "static", "struct", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use",
    "virtual", "where", "while", "yield",
];

/// Keywords that cannot be raw identifiers; they get a trailing underscore instead.
const NON_RAW_KEYWORDS: &[&str] = &["crate", "self", "Self", "super", "_"];

/// `CreateDBInstance` → `create_db_instance`, `KMSKeyId` → `kms_key_id`, `S3Prefix` →
/// `s3_prefix`, `Ipv6Address` → `ipv6_address`, `dryRun` → `dry_run`. Characters that cannot
/// be part of an identifier become `_`.
pub fn snake_case(name: &str) -> String {
    let mut out = words(name);
    if out.is_empty() {
        out.push_str("field");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'n');
    }
    out
}

/// The lower-case words of `name` joined by `_` (possibly empty, possibly starting with a digit).
fn words(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = if i > 0 { Some(chars[i - 1]) } else { None };
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                None => false,
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
                Some(_) => false,
            };
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// A snake_case identifier made safe: keywords become raw identifiers (`r#type`), or get a
/// trailing underscore where Rust forbids raw forms (`self_`).
pub fn escape_ident(ident: &str) -> String {
    if RAW_KEYWORDS.contains(&ident) {
        format!("r#{ident}")
    } else if NON_RAW_KEYWORDS.contains(&ident) {
        format!("{ident}_")
    } else {
        ident.to_owned()
    }
}

/// A field or method name for a model member or operation name.
pub fn field_name(name: &str) -> String {
    escape_ident(&snake_case(name))
}

/// An enum variant for a wire value: `RSA_2048` → `Rsa2048`, `sse-kms` → `SseKms`,
/// `InProgress` → `InProgress`, `in-use` → `InUse`, `1.2` → `V1_2` (digit runs keep an `_`
/// between them so `1.2` and `12` stay distinct).
pub fn variant_name(value: &str) -> String {
    let snake = words(value);
    let mut out = String::new();
    let mut prev_digit = false;
    for word in snake.split('_').filter(|w| !w.is_empty()) {
        let starts_digit = word.starts_with(|c: char| c.is_ascii_digit());
        if prev_digit && starts_digit {
            out.push('_');
        }
        let mut cs = word.chars();
        if let Some(f) = cs.next() {
            out.push(f.to_ascii_uppercase());
            out.extend(cs);
        }
        prev_digit = word.ends_with(|c: char| c.is_ascii_digit());
    }
    if out.is_empty() {
        return "Empty".to_owned();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    if out == "Self" {
        out.push('_');
    }
    out
}

/// A type name for a shape: the shape name where it is a valid identifier, else a sanitised
/// form. Collisions are resolved by the caller.
pub fn type_name(shape: &str) -> String {
    let mut out: String = shape
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'T');
    }
    if RAW_KEYWORDS.contains(&out.as_str()) || NON_RAW_KEYWORDS.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// Makes `name` unique against `taken` by appending `2`, `3`, ... and records it.
pub fn unique(name: String, taken: &mut std::collections::BTreeSet<String>) -> String {
    if taken.insert(name.clone()) {
        return name;
    }
    // A suffixed keyword is no longer a keyword, so the raw prefix goes.
    let base = name.strip_prefix("r#").unwrap_or(&name);
    for n in 2.. {
        let sep = if base.ends_with(|c: char| c.is_ascii_digit()) {
            "_"
        } else {
            ""
        };
        let candidate = format!("{base}{sep}{n}");
        if taken.insert(candidate.clone()) {
            return candidate;
        }
    }
    unreachable!("an unbounded range always yields a free name")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_splits_words_and_acronyms() {
        let cases = [
            ("CreateDBInstance", "create_db_instance"),
            (
                "DescribeDBSnapshotAttributes",
                "describe_db_snapshot_attributes",
            ),
            ("KMSKeyId", "kms_key_id"),
            ("KeyId", "key_id"),
            ("ReEncrypt", "re_encrypt"),
            ("GetEbsEncryptionByDefault", "get_ebs_encryption_by_default"),
            (
                "IAMDatabaseAuthenticationEnabled",
                "iam_database_authentication_enabled",
            ),
            ("S3Prefix", "s3_prefix"),
            ("Ipv6Address", "ipv6_address"),
            ("SHA256TreeHash", "sha256_tree_hash"),
            ("dryRun", "dry_run"),
            ("x-amz-Checksum", "x_amz_checksum"),
            ("EC2", "ec2"),
            ("VPC", "vpc"),
            (
                "GenerateDataKeyPairWithoutPlaintext",
                "generate_data_key_pair_without_plaintext",
            ),
            ("CACertificateIdentifier", "ca_certificate_identifier"),
            ("", "field"),
            ("3Az", "n3_az"),
        ];
        for (input, want) in cases {
            assert_eq!(snake_case(input), want, "{input}");
        }
    }

    #[test]
    fn keywords_are_escaped() {
        assert_eq!(field_name("Type"), "r#type");
        assert_eq!(field_name("Match"), "r#match");
        assert_eq!(field_name("Async"), "r#async");
        assert_eq!(field_name("Self"), "self_");
        assert_eq!(field_name("Crate"), "crate_");
        assert_eq!(field_name("Super"), "super_");
        assert_eq!(field_name("KeyId"), "key_id");
        assert_eq!(type_name("Self"), "Self_");
        assert_eq!(type_name("type"), "type_");
        assert_eq!(type_name("Foo.Bar"), "Foo_Bar");
        assert_eq!(type_name("1Foo"), "T1Foo");
    }

    #[test]
    fn variant_names_are_pascal_case_and_valid() {
        let cases = [
            ("RSA_2048", "Rsa2048"),
            ("SYMMETRIC_DEFAULT", "SymmetricDefault"),
            ("ECC_NIST_P256", "EccNistP256"),
            ("sse-kms", "SseKms"),
            ("in-use", "InUse"),
            ("InProgress", "InProgress"),
            ("gp2", "Gp2"),
            ("1.2", "V1_2"),
            ("12", "V12"),
            ("", "Empty"),
            ("Self", "Self_"),
        ];
        for (input, want) in cases {
            assert_eq!(variant_name(input), want, "{input}");
        }
    }

    #[test]
    fn unique_appends_counters() {
        let mut taken = std::collections::BTreeSet::new();
        assert_eq!(unique("a".into(), &mut taken), "a");
        assert_eq!(unique("a".into(), &mut taken), "a2");
        assert_eq!(unique("a".into(), &mut taken), "a3");
        assert_eq!(unique("gp2".into(), &mut taken), "gp2");
        assert_eq!(unique("gp2".into(), &mut taken), "gp2_2");
        assert_eq!(unique("r#type".into(), &mut taken), "r#type");
        assert_eq!(unique("r#type".into(), &mut taken), "type2");
    }
}
