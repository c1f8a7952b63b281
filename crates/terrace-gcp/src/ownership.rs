//! Ownership on GCP resources: labels where a type has them (`terrace-workspace`,
//! `terrace-stack`, `terrace-resource`), a machine-readable `description` on every type, and
//! deterministic resource names derived from workspace, stack and resource.
//!
//! Label values may only hold lowercase letters, digits, `-` and `_` and be at most 63
//! characters long, so names are encoded: `_` becomes `__`, `/` becomes `_s`, and any other
//! byte `_xx` (two lowercase hex digits). A value that would be longer than 63 characters is
//! cut and ends in a hash, so comparisons are always made between encoded values.

use terrace_provider::Ownership;

/// Label keys written on resources that have labels.
pub const WORKSPACE_LABEL: &str = "terrace-workspace";
pub const STACK_LABEL: &str = "terrace-stack";
pub const RESOURCE_LABEL: &str = "terrace-resource";

/// The start of a description that carries ownership.
const DESCRIPTION_PREFIX: &str = "managed-by=terrace";

const MAX_LABEL: usize = 63;

/// Encodes a name with the label alphabet, without a length limit.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'a'..=b'z' | b'0'..=b'9' | b'-' => out.push(byte as char),
            b'_' => out.push_str("__"),
            b'/' => out.push_str("_s"),
            other => out.push_str(&format!("_{other:02x}")),
        }
    }
    out
}

/// Reverses [`encode`]; `None` when the text is not a valid encoding.
pub fn decode(value: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(value.len());
    let mut input = value.bytes();
    while let Some(byte) = input.next() {
        if byte != b'_' {
            bytes.push(byte);
            continue;
        }
        match input.next()? {
            b'_' => bytes.push(b'_'),
            b's' => bytes.push(b'/'),
            high => {
                let low = input.next()?;
                let hex = [high, low];
                let text = std::str::from_utf8(&hex).ok()?;
                bytes.push(u8::from_str_radix(text, 16).ok()?);
            }
        }
    }
    String::from_utf8(bytes).ok()
}

/// A label value: the encoding, cut to 63 characters with a hash suffix when longer.
pub fn label_value(value: &str) -> String {
    let encoded = encode(value);
    if encoded.len() <= MAX_LABEL {
        return encoded;
    }
    let hash = short_hash(value, 8);
    let keep = MAX_LABEL - hash.len() - 1;
    let mut cut = encoded[..keep].to_string();
    cut.push('-');
    cut.push_str(&hash);
    cut
}

/// The ownership labels of a resource.
pub fn labels(owner: &Ownership) -> Vec<(String, String)> {
    vec![
        (WORKSPACE_LABEL.into(), label_value(&owner.workspace)),
        (STACK_LABEL.into(), label_value(&owner.stack)),
        (RESOURCE_LABEL.into(), label_value(&owner.resource)),
    ]
}

/// True for the label keys this module writes.
pub fn is_ownership_label(key: &str) -> bool {
    [WORKSPACE_LABEL, STACK_LABEL, RESOURCE_LABEL].contains(&key)
}

/// Ownership read back from labels (a cut value decodes to its encoded text).
pub fn from_labels(labels: &serde_json::Map<String, serde_json::Value>) -> Option<Ownership> {
    let get = |key: &str| {
        labels
            .get(key)
            .and_then(serde_json::Value::as_str)
            .map(|v| decode(v).unwrap_or_else(|| v.to_string()))
    };
    Some(Ownership {
        workspace: get(WORKSPACE_LABEL)?,
        stack: get(STACK_LABEL)?,
        resource: get(RESOURCE_LABEL)?,
    })
}

/// The description written on every resource: `managed-by=terrace workspace=… stack=…
/// resource=…` with encoded values.
pub fn description(owner: &Ownership) -> String {
    format!(
        "{DESCRIPTION_PREFIX} workspace={} stack={} resource={}",
        encode(&owner.workspace),
        encode(&owner.stack),
        encode(&owner.resource)
    )
}

/// Ownership read back from a description written by [`description`].
pub fn from_description(description: &str) -> Option<Ownership> {
    let mut words = description.split_whitespace();
    if words.next()? != DESCRIPTION_PREFIX {
        return None;
    }
    let (mut workspace, mut stack, mut resource) = (None, None, None);
    for word in words {
        let (key, value) = word.split_once('=')?;
        let value = decode(value)?;
        match key {
            "workspace" => workspace = Some(value),
            "stack" => stack = Some(value),
            "resource" => resource = Some(value),
            _ => {}
        }
    }
    Some(Ownership {
        workspace: workspace?,
        stack: stack?,
        resource: resource?,
    })
}

/// True when `found` belongs to `wanted` ([`Ownership::covers`]: an empty `wanted.stack`
/// matches any stack of the workspace, an empty `wanted.resource` any resource), values
/// compared as labels (a long one is cut with a hash).
pub fn matches(found: &Ownership, wanted: &Ownership) -> bool {
    wanted.covers_with(found, |a, b| label_value(a) == label_value(b))
}

/// A deterministic RFC 1035 name for a resource: `t-<slug of resource>-<hash>`, at most 63
/// characters. The hash covers the owner and the create's idempotency key: a retry of the
/// same create gets the same name, while the create of a replacement (a new key) gets a new
/// one, so create-before-destroy never collides with the resource it replaces.
pub fn derived_name(owner: &Ownership, idempotency_key: &str) -> String {
    let slug: String = owner
        .resource
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let slug: String = slug
        .split('-')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let slug: String = slug.chars().take(40).collect();
    let slug = slug.trim_end_matches('-');
    let key = format!(
        "{}\0{}\0{}\0{idempotency_key}",
        owner.workspace, owner.stack, owner.resource
    );
    let hash = short_hash(&key, 12);
    if slug.is_empty() {
        format!("t-{hash}")
    } else {
        format!("t-{slug}-{hash}")
    }
}

/// A stable hex hash of `value`, `len` characters long (at most 32).
pub fn short_hash(value: &str, len: usize) -> String {
    let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, value.as_bytes());
    id.simple().to_string().chars().take(len).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(resource: &str) -> Ownership {
        Ownership {
            workspace: "My_Work.space".into(),
            stack: "networks/eu/gcp-europe-west3".into(),
            resource: resource.into(),
        }
    }

    #[test]
    fn encoding_round_trips_and_fits_labels() {
        for text in ["networks/eu/a", "a_b__c", "Upper.Case/x", "ünï", ""] {
            let encoded = encode(text);
            assert!(encoded
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'));
            assert_eq!(decode(&encoded).as_deref(), Some(text));
        }
        assert_eq!(decode("_zz"), None);
    }

    #[test]
    fn long_values_are_cut_with_a_hash() {
        let long = "x/".repeat(60);
        let value = label_value(&long);
        assert_eq!(value.len(), 63);
        assert_ne!(value, label_value(&"y/".repeat(60)));
    }

    #[test]
    fn descriptions_and_labels_carry_ownership() {
        let o = owner("vpc");
        assert_eq!(from_description(&description(&o)), Some(o.clone()));
        assert_eq!(from_description("hand made"), None);
        let map: serde_json::Map<String, serde_json::Value> =
            labels(&o).into_iter().map(|(k, v)| (k, v.into())).collect();
        assert_eq!(from_labels(&map), Some(o.clone()));
        let mut any = o.clone();
        any.resource.clear();
        assert!(matches(&o, &any));
        assert!(!matches(&owner("other"), &o));
        let mut other_stack = o.clone();
        other_stack.stack = "elsewhere".into();
        assert!(
            !matches(&other_stack, &any),
            "another stack is not this stack's"
        );
        assert!(
            matches(&other_stack, &Ownership::workspace_wide(&o.workspace)),
            "an empty stack matches any stack of the workspace"
        );
        assert!(!matches(
            &other_stack,
            &Ownership::workspace_wide("another")
        ));
    }

    #[test]
    fn derived_names_are_valid_and_stable() {
        let name = derived_name(&owner("Web Servers_1"), "k");
        assert_eq!(name, derived_name(&owner("Web Servers_1"), "k"));
        assert!(name.starts_with("t-web-servers-1-"), "{name}");
        assert!(name.len() <= 63);
        assert_ne!(name, derived_name(&owner("web-servers-2"), "k"));
        assert_ne!(name, derived_name(&owner("Web Servers_1"), "k2"));
        let long = derived_name(&owner(&"r".repeat(200)), "k");
        assert!(long.len() <= 63);
        assert!(derived_name(&owner("__"), "k").starts_with("t-"));
    }
}
