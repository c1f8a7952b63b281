//! Property names: Terrace properties are snake_case mirrors of Compute's camelCase JSON
//! (`ip_cidr_range` ↔ `ipCidrRange`, `ip_protocol` ↔ `IPProtocol`). Keys are converted at
//! every depth except inside maps of user data (`labels`), whose keys are kept as written.

use serde_json::{Map, Value as Json};

/// Compute fields whose names do not follow camelCase.
const SPECIAL: &[(&str, &str)] = &[
    ("ip_protocol", "IPProtocol"),
    ("ip_address", "IPAddress"),
    ("ipv4_range", "IPv4Range"),
];

/// Maps whose keys are user data, converted neither way.
const OPAQUE: &[&str] = &["labels"];

/// `ip_cidr_range` → `ipCidrRange`.
pub fn to_camel(name: &str) -> String {
    if let Some((_, api)) = SPECIAL.iter().find(|(snake, _)| *snake == name) {
        return api.to_string();
    }
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `ipCidrRange` → `ip_cidr_range`.
pub fn to_snake(name: &str) -> String {
    if let Some((snake, _)) = SPECIAL.iter().find(|(_, api)| *api == name) {
        return snake.to_string();
    }
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Converts every key of a value (recursively) with `rename`, leaving opaque maps alone.
fn rename_keys(value: &Json, rename: &dyn Fn(&str) -> String) -> Json {
    match value {
        Json::Object(map) => {
            let mut out = Map::new();
            for (key, inner) in map {
                let inner = if OPAQUE.contains(&key.as_str()) {
                    inner.clone()
                } else {
                    rename_keys(inner, rename)
                };
                out.insert(rename(key), inner);
            }
            Json::Object(out)
        }
        Json::Array(items) => Json::Array(items.iter().map(|i| rename_keys(i, rename)).collect()),
        other => other.clone(),
    }
}

/// A property value as Compute's JSON. Inside values, `ip_address` is `ipAddress` (external VPN
/// gateway and BGP peer fields); only a forwarding rule's top-level field is `IPAddress`.
pub fn value_to_api(value: &Json) -> Json {
    rename_keys(value, &|key| match key {
        "ip_address" => "ipAddress".to_string(),
        other => to_camel(other),
    })
}

/// A Compute JSON value as a property value.
pub fn value_from_api(value: &Json) -> Json {
    rename_keys(value, &to_snake)
}

/// The last segment of a URL (`.../zones/europe-west3-a` → `europe-west3-a`).
pub fn last_segment(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_round_trip() {
        for (snake, camel) in [
            ("ip_cidr_range", "ipCidrRange"),
            ("ip_protocol", "IPProtocol"),
            ("network", "network"),
            ("check_interval_sec", "checkIntervalSec"),
        ] {
            assert_eq!(to_camel(snake), camel);
            assert_eq!(to_snake(camel), snake);
        }
    }

    #[test]
    fn nested_keys_convert_but_labels_stay() {
        let props = json!({"allowed": [{"ip_protocol": "tcp", "ports": ["22"]}],
                           "labels": {"my_key": "v"}});
        let api = value_to_api(&props);
        assert_eq!(
            api,
            json!({"allowed": [{"IPProtocol": "tcp", "ports": ["22"]}],
                   "labels": {"my_key": "v"}})
        );
        assert_eq!(value_from_api(&api), props);
        assert_eq!(last_segment("a/b/zones/z-1"), "z-1");
    }
}
