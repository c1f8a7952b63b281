//! The backend URL: `s3://BUCKET[/PREFIX]?lock_table=TABLE[&region=R][&endpoint=URL]
//! [&lock_ttl=DURATION]`, parsed into an [`S3Location`] or refused with one message that says
//! what is wrong and shows a correct URL.

use crate::error::S3Error;
#[cfg(test)]
use crate::error::EXAMPLE;
use std::time::Duration;

/// How long a lock lives without being refreshed, unless `lock_ttl=` says otherwise.
pub const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(3600);

const PARAMETERS: &str = "region, lock_table, endpoint, lock_ttl";

/// Where a workspace's states and locks live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// The URL as written.
    pub url: String,
    /// The bucket of the state objects.
    pub bucket: String,
    /// Key prefix of every object, without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// The AWS region; `None`: the SDK's default chain (`AWS_REGION`, profile).
    pub region: Option<String>,
    /// The DynamoDB table of the locks (hash key `LockID`, a string).
    pub lock_table: String,
    /// Endpoint of both services (moto, LocalStack, MinIO); `None`: AWS, or `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
    /// How long a lock lives unless its holder refreshes it.
    pub lock_ttl: Duration,
}

impl S3Location {
    /// Parses a backend URL.
    pub fn parse(url: &str) -> Result<S3Location, S3Error> {
        let invalid = |message: String| S3Error::InvalidUrl {
            url: url.to_string(),
            message,
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| invalid("it does not start with `s3://`".into()))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        check_bucket(bucket).map_err(invalid)?;
        let prefix = prefix.trim_end_matches('/');
        if prefix.split('/').any(str::is_empty) && !prefix.is_empty() {
            return Err(invalid(format!(
                "the key prefix `{prefix}` has an empty path segment"
            )));
        }
        let mut region = None;
        let mut lock_table = None;
        let mut endpoint = None;
        let mut lock_ttl = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let Some((name, value)) = pair.split_once('=') else {
                return Err(invalid(format!("the parameter `{pair}` has no value")));
            };
            let value = percent_decode(value)
                .ok_or_else(|| invalid(format!("the value of `{name}` is badly %-encoded")))?;
            if value.is_empty() {
                return Err(invalid(format!("the parameter `{name}` is empty")));
            }
            let slot = match name {
                "region" => &mut region,
                "lock_table" => &mut lock_table,
                "endpoint" => &mut endpoint,
                "lock_ttl" => &mut lock_ttl,
                other => {
                    return Err(invalid(format!(
                        "unknown parameter `{other}` (known: {PARAMETERS})"
                    )))
                }
            };
            if slot.replace(value).is_some() {
                return Err(invalid(format!("the parameter `{name}` is given twice")));
            }
        }
        let lock_table = lock_table.ok_or_else(|| {
            invalid("the DynamoDB lock table is missing (`lock_table=NAME`)".into())
        })?;
        check_table(&lock_table).map_err(invalid)?;
        if let Some(region) = &region {
            if !region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                return Err(invalid(format!("`{region}` is not a region name")));
            }
        }
        if let Some(endpoint) = &endpoint {
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err(invalid(format!(
                    "the endpoint `{endpoint}` is not an http:// or https:// URL"
                )));
            }
        }
        let lock_ttl = match lock_ttl {
            Some(text) => parse_ttl(&text).map_err(invalid)?,
            None => DEFAULT_LOCK_TTL,
        };
        Ok(S3Location {
            url: url.to_string(),
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            region,
            lock_table,
            endpoint,
            lock_ttl,
        })
    }
}

fn check_bucket(bucket: &str) -> Result<(), String> {
    if bucket.is_empty() {
        return Err("the bucket name is missing".into());
    }
    let valid_chars = bucket
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    let ends = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !(3..=63).contains(&bucket.len())
        || !valid_chars
        || !ends(bucket.chars().next())
        || !ends(bucket.chars().last())
    {
        return Err(format!(
            "`{bucket}` is not a bucket name (3 to 63 lowercase letters, digits, `.` or `-`)"
        ));
    }
    Ok(())
}

fn check_table(table: &str) -> Result<(), String> {
    let valid = (3..=255).contains(&table.len())
        && table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{table}` is not a DynamoDB table name (3 to 255 letters, digits, `_`, `-` or `.`)"
        ))
    }
}

/// `90`, `90s`, `15m` or `1h`, at least one second.
fn parse_ttl(text: &str) -> Result<Duration, String> {
    let bad = || format!("lock_ttl `{text}` is not a duration such as 90s, 15m or 1h");
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let count: u64 = digits.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => Some(count),
        "m" => count.checked_mul(60),
        "h" => count.checked_mul(3600),
        _ => None,
    }
    .ok_or_else(bad)?;
    if seconds == 0 {
        return Err(format!("lock_ttl `{text}` must be at least one second"));
    }
    Ok(Duration::from_secs(seconds))
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(url: &str) -> String {
        match S3Location::parse(url) {
            Err(S3Error::InvalidUrl { message, .. }) => message,
            other => panic!("{url} parsed: {other:?}"),
        }
    }

    #[test]
    fn a_full_url_parses() {
        let location = S3Location::parse(
            "s3://state-bucket/teams/db/?region=eu-west-1&lock_table=locks\
             &endpoint=http%3A%2F%2F127.0.0.1%3A5000&lock_ttl=15m",
        )
        .unwrap();
        assert_eq!(location.bucket, "state-bucket");
        assert_eq!(location.prefix, "teams/db");
        assert_eq!(location.region.as_deref(), Some("eu-west-1"));
        assert_eq!(location.lock_table, "locks");
        assert_eq!(location.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(location.lock_ttl, Duration::from_secs(900));
        let bare = S3Location::parse("s3://abc?lock_table=t-1").unwrap();
        assert_eq!(bare.prefix, "");
        assert_eq!(bare.region, None);
        assert_eq!(bare.lock_ttl, DEFAULT_LOCK_TTL);
    }

    #[test]
    fn malformed_urls_say_what_is_wrong() {
        assert!(error("s3://?lock_table=t").contains("bucket name is missing"));
        assert!(error("s3://My_Bucket/x?lock_table=tab").contains("not a bucket name"));
        assert!(error("s3://bucket/x").contains("lock table is missing"));
        assert!(error("s3://bucket/x?lock_table=tab&colour=red").contains("unknown parameter"));
        assert!(error("s3://bucket/x?lock_table=tab&lock_table=t2").contains("twice"));
        assert!(error("s3://bucket/x?lock_table=tab&lock_ttl=soon").contains("lock_ttl"));
        assert!(error("s3://bucket/x?lock_table=tab&lock_ttl=0").contains("at least one"));
        assert!(error("s3://bucket/x?lock_table=tab&endpoint=ftp://h").contains("endpoint"));
        assert!(error("s3://bucket/x?lock_table=tab&region").contains("no value"));
        assert!(error("s3://bucket/a//b?lock_table=tab").contains("empty path segment"));
        assert!(error("s3://bucket?lock_table=%zz").contains("%-encoded"));
        let shown = S3Error::InvalidUrl {
            url: "s3://x".into(),
            message: "m".into(),
        }
        .to_string();
        assert!(shown.contains(EXAMPLE), "{shown}");
    }
}
