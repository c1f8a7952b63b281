//! Desired values in the form Compute reads them back, so that a plan never shows a change the
//! cloud would not see (`Provider::normalize`):
//!
//! - a forwarding rule's `port_range` of one port, `5432`, is read back as `5432-5432`
//!   (ForwardingRule `portRange`, Compute API reference: "Ports in the range are …
//!   e.g. 80-80"); its `ip_protocol` upper case (`TCP`);
//! - a firewall's `allowed`/`denied` protocols lower case (`tcp`), as Compute returns them;
//! - a partial resource URL (`projects/p/global/networks/n`, or one relative to the project:
//!   `zones/europe-west3-a`, `regions/r/subnetworks/s`, `global/networks/n`) as the full
//!   `selfLink` Compute answers (`https://www.googleapis.com/compute/v1/projects/…`), at any
//!   depth (Compute's API design: "partial URLs … are accepted", and every URL is returned
//!   full; e.g. a managed instance group's `distributionPolicy.zones[].zone`).

use crate::links::Link;
use serde_json::Value as Json;

const COMPUTE: &str = "https://www.googleapis.com/compute/v1/";

/// The canonical form of `value` for `field` of `type_name`, if it differs; `project` completes
/// project-relative partial URLs.
pub fn normalize(
    type_name: &str,
    field: &str,
    value: &Json,
    project: Option<&str>,
) -> Option<Json> {
    let canonical = match (type_name, field) {
        ("gcp:compute:ForwardingRule" | "gcp:compute:GlobalForwardingRule", "port_range") => {
            port_range(value.as_str()?)?
        }
        ("gcp:compute:ForwardingRule" | "gcp:compute:GlobalForwardingRule", "ip_protocol") => {
            Json::String(value.as_str()?.to_ascii_uppercase())
        }
        ("gcp:compute:Firewall", "allowed" | "denied") => lower_protocols(value),
        (crate::orgpolicy::TYPE, _) => return crate::orgpolicy::normalize(field, value),
        _ => full_links(value, project),
    };
    (canonical != *value).then_some(canonical)
}

fn port_range(text: &str) -> Option<Json> {
    let single: u16 = text.trim().parse().ok()?;
    Some(Json::String(format!("{single}-{single}")))
}

fn lower_protocols(value: &Json) -> Json {
    match value {
        Json::Array(rules) => Json::Array(
            rules
                .iter()
                .map(|rule| match rule {
                    Json::Object(map) => Json::Object(
                        map.iter()
                            .map(|(k, v)| match (k.as_str(), v.as_str()) {
                                ("ip_protocol", Some(p)) => {
                                    (k.clone(), Json::String(p.to_ascii_lowercase()))
                                }
                                _ => (k.clone(), v.clone()),
                            })
                            .collect(),
                    ),
                    other => other.clone(),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Partial Compute URLs made full, anywhere in the value.
fn full_links(value: &Json, project: Option<&str>) -> Json {
    match value {
        Json::String(s) => match partial_link(s, project) {
            Some(full) => Json::String(full),
            None => value.clone(),
        },
        Json::Array(items) => Json::Array(items.iter().map(|i| full_links(i, project)).collect()),
        Json::Object(map) => Json::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), full_links(v, project)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The full URL of a partial one: `projects/…`, or `zones/…`, `regions/…`, `global/…` in
/// `project`. Anything else (a name, free text) is not a link.
fn partial_link(text: &str, project: Option<&str>) -> Option<String> {
    let relative = ["zones/", "regions/", "global/"]
        .iter()
        .any(|p| text.starts_with(p));
    let text = match (relative, project) {
        (true, Some(project)) => format!("projects/{project}/{text}"),
        (true, None) => return None,
        (false, _) if text.starts_with("projects/") => text.to_string(),
        (false, _) => return None,
    };
    if text.contains(char::is_whitespace) {
        return None;
    }
    match Link::parse(&text) {
        Some(link) => Some(format!("{COMPUTE}{}", link.key())),
        // A zone or region itself (`projects/p/zones/z`) is not a resource link to Link.
        None if text.split('/').count() == 4 => Some(format!("{COMPUTE}{text}")),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_take_the_form_compute_reads_back() {
        let rule = "gcp:compute:ForwardingRule";
        assert_eq!(
            normalize(rule, "port_range", &json!("5432"), None),
            Some(json!("5432-5432"))
        );
        assert_eq!(normalize(rule, "port_range", &json!("80-81"), None), None);
        assert_eq!(
            normalize(rule, "ip_protocol", &json!("tcp"), None),
            Some(json!("TCP"))
        );
        assert_eq!(
            normalize(
                "gcp:compute:Firewall",
                "allowed",
                &json!([{"ip_protocol": "TCP", "ports": ["5432"]}]),
                None
            ),
            Some(json!([{"ip_protocol": "tcp", "ports": ["5432"]}]))
        );
        assert_eq!(
            normalize(
                "gcp:compute:Subnetwork",
                "network",
                &json!("projects/p/global/networks/n"),
                None
            ),
            Some(json!(
                "https://www.googleapis.com/compute/v1/projects/p/global/networks/n"
            ))
        );
        let full = json!("https://www.googleapis.com/compute/v1/projects/p/global/networks/n");
        assert_eq!(
            normalize("gcp:compute:Subnetwork", "network", &full, None),
            None
        );
        // Project-relative links at any depth (a managed instance group's zones).
        let mig = "gcp:compute:RegionInstanceGroupManager";
        assert_eq!(
            normalize(
                mig,
                "distribution_policy",
                &json!({"zones": [{"zone": "zones/europe-west3-a"}]}),
                Some("p")
            ),
            Some(json!({"zones": [{"zone":
                "https://www.googleapis.com/compute/v1/projects/p/zones/europe-west3-a"}]}))
        );
        // Free text is left alone.
        assert_eq!(
            normalize(mig, "description", &json!("global/ nodes"), Some("p")),
            None
        );
    }
}
