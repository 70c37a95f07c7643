//! The names AWS would refuse, caught when the project is loaded: before anything is built,
//! packaged or uploaded. Pure.

/// CloudFormation's rule for a stack name: a letter, then letters, digits and hyphens, at
/// most 128 characters. The error says what is wrong and how to fix it.
pub fn check_stack(name: &str) -> Result<(), String> {
    let why = if name.is_empty() {
        Some("it is empty".to_owned())
    } else if name.len() > 128 {
        Some(format!(
            "it is {} characters long (at most 128)",
            name.len()
        ))
    } else if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        Some("it must start with a letter".to_owned())
    } else {
        name.chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
            .map(|c| format!("{c:?} is not allowed (letters, digits and hyphens only)"))
    };
    match why {
        None => Ok(()),
        Some(why) => Err(format!(
            "stack name {name:?} would be refused by CloudFormation: {why}; use a letter, then letters, digits and hyphens, e.g. {:?}",
            suggest_stack(name)
        )),
    }
}

/// S3's rule for a general purpose bucket name: 3 to 63 characters of lowercase letters,
/// digits, dots and hyphens, starting and ending with a letter or digit, no two dots in a
/// row, not an IP address, and none of the prefixes and suffixes S3 reserves.
pub fn check_bucket(name: &str) -> Result<(), String> {
    let reserved_prefix = ["xn--", "sthree-", "amzn-s3-demo-"]
        .into_iter()
        .find(|p| name.starts_with(p));
    let reserved_suffix = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
        .into_iter()
        .find(|s| name.ends_with(s));
    let why = if !(3..=63).contains(&name.len()) {
        Some(format!("it is {} characters long (3 to 63)", name.len()))
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        Some(format!(
            "{c:?} is not allowed (lowercase letters, digits, dots and hyphens only)"
        ))
    } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !name.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        Some("it must start and end with a letter or a digit".to_owned())
    } else if name.contains("..") {
        Some("it has two dots in a row".to_owned())
    } else if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        Some("it is formatted as an IP address".to_owned())
    } else if let Some(p) = reserved_prefix {
        Some(format!("S3 reserves the prefix {p:?}"))
    } else {
        reserved_suffix.map(|s| format!("S3 reserves the suffix {s:?}"))
    };
    match why {
        None => Ok(()),
        Some(why) => Err(format!(
            "bucket name {name:?} would be refused by S3: {why}"
        )),
    }
}

/// A stack name CloudFormation takes, as close to `name` as it gets: other characters become
/// hyphens, a leading non-letter gets an `app-` prefix.
pub fn suggest_stack(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    let mut s = s.trim_matches('-').to_owned();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s = format!("app-{s}").trim_end_matches('-').to_owned();
    }
    s.truncate(128);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_names_follow_cloudformations_rule() {
        for ok in ["shop", "Shop-Prod-2", "a", &"a".repeat(128)] {
            assert_eq!(check_stack(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("", "it is empty"),
            ("bad name!", "' ' is not allowed"),
            ("2fast", "must start with a letter"),
            ("-x", "must start with a letter"),
            ("my_app", "'_' is not allowed"),
            (&"a".repeat(129), "129 characters long"),
        ] {
            let e = check_stack(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
            assert!(e.contains("letters, digits and hyphens"), "{e}");
        }
        assert_eq!(suggest_stack("bad name!"), "bad-name");
        assert_eq!(suggest_stack("2fast"), "app-2fast");
        assert_eq!(suggest_stack("my_app"), "my-app");
        for name in ["bad name!", "2fast", "__", "my_app", "ünï"] {
            assert_eq!(check_stack(&suggest_stack(name)), Ok(()), "{name}");
        }
    }

    #[test]
    fn bucket_names_follow_s3s_rule() {
        for ok in [
            "my-artifacts",
            "a.b.c",
            "abc",
            "quickdeploy-artifacts-123456789012-us-east-1",
        ] {
            assert_eq!(check_bucket(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("ab", "2 characters long"),
            ("My-Bucket", "'M' is not allowed"),
            ("my_bucket", "'_' is not allowed"),
            ("-bucket", "start and end"),
            ("bucket.", "start and end"),
            ("a..b", "two dots"),
            ("192.168.1.1", "IP address"),
            ("xn--bucket", "prefix"),
            ("bucket-s3alias", "suffix"),
        ] {
            let e = check_bucket(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
