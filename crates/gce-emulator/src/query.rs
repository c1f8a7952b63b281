//! Query strings: percent-decoding, Google's system parameters (which are accepted and
//! ignored, e.g. `$alt`, `$apiVersion` as the Rust client sends them), and the refusal of
//! parameters a method does not declare, worded as Google's front end words it.

use crate::errors::{ApiError, ApiResult};

/// Decoded query parameters, in order.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

/// Parameters every Google API accepts and the emulator ignores.
const SYSTEM_PARAMS: &[&str] = &[
    "alt",
    "fields",
    "key",
    "access_token",
    "oauth_token",
    "prettyPrint",
    "quotaUser",
    "userIp",
    "callback",
    "upload_protocol",
    "uploadType",
];

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The query parameters of Compute's list methods (`*.list`, `listManagedInstances`).
pub const LIST_PARAMS: &[&str] = &[
    "filter",
    "maxResults",
    "orderBy",
    "pageToken",
    "returnPartialSuccess",
];

/// Decodes `%XX` escapes and `+` as space.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let pairs = raw
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        Query { pairs }
    }

    /// The last value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Refuses any parameter that is neither a system parameter nor in `allowed`.
    pub fn check_allowed(&self, allowed: &[&str]) -> ApiResult<()> {
        for (k, _) in &self.pairs {
            let system = k.starts_with('$') || SYSTEM_PARAMS.contains(&k.as_str());
            if !system && !allowed.contains(&k.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "Invalid JSON payload received. Unknown name \"{k}\": Cannot bind query \
                     parameter. Field '{k}' could not be found in request message."
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_checks() {
        let q = Query::parse(Some(
            "%24alt=json%3Benum-encoding%3Dint&filter=name+%3D+%22a%22&x",
        ));
        assert_eq!(q.get("$alt"), Some("json;enum-encoding=int"));
        assert_eq!(q.get("filter"), Some("name = \"a\""));
        assert!(q.check_allowed(&["filter"]).is_err());
        assert!(q.check_allowed(&["filter", "x"]).is_ok());
        assert_eq!(percent_decode("a%2"), "a%2");
    }
}
