//! Desired values in the form Compute reads them back, so that a plan never shows a change the
//! cloud would not see (`Provider::normalize`):
//!
//! - a forwarding rule's `port_range` of one port, `5432`, is read back as `5432-5432`
//!   (ForwardingRule `portRange`, Compute API reference: "Ports in the range are …
//!   e.g. 80-80"); its `ip_protocol` upper case (`TCP`);
//! - a firewall's `allowed`/`denied` protocols lower case (`tcp`), as Compute returns them;
//! - a partial resource URL (`projects/p/global/networks/n`) as the full `selfLink` Compute
//!   answers (`https://www.googleapis.com/compute/v1/projects/…`).

use crate::links::Link;
use serde_json::Value as Json;

const COMPUTE: &str = "https://www.googleapis.com/compute/v1/";

/// The canonical form of `value` for `field` of `type_name`, if it differs.
pub fn normalize(type_name: &str, field: &str, value: &Json) -> Option<Json> {
    let canonical = match (type_name, field) {
        ("gcp:compute:ForwardingRule" | "gcp:compute:GlobalForwardingRule", "port_range") => {
            port_range(value.as_str()?)?
        }
        ("gcp:compute:ForwardingRule" | "gcp:compute:GlobalForwardingRule", "ip_protocol") => {
            Json::String(value.as_str()?.to_ascii_uppercase())
        }
        ("gcp:compute:Firewall", "allowed" | "denied") => lower_protocols(value),
        _ => full_links(value),
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
fn full_links(value: &Json) -> Json {
    match value {
        Json::String(s) if s.starts_with("projects/") => match Link::parse(s) {
            Some(link) => Json::String(format!("{COMPUTE}{}", link.key())),
            None => value.clone(),
        },
        Json::Array(items) => Json::Array(items.iter().map(full_links).collect()),
        Json::Object(map) => Json::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), full_links(v)))
                .collect(),
        ),
        other => other.clone(),
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
            normalize(rule, "port_range", &json!("5432")),
            Some(json!("5432-5432"))
        );
        assert_eq!(normalize(rule, "port_range", &json!("80-81")), None);
        assert_eq!(
            normalize(rule, "ip_protocol", &json!("tcp")),
            Some(json!("TCP"))
        );
        assert_eq!(
            normalize(
                "gcp:compute:Firewall",
                "allowed",
                &json!([{"ip_protocol": "TCP", "ports": ["5432"]}])
            ),
            Some(json!([{"ip_protocol": "tcp", "ports": ["5432"]}]))
        );
        assert_eq!(
            normalize(
                "gcp:compute:Subnetwork",
                "network",
                &json!("projects/p/global/networks/n")
            ),
            Some(json!(
                "https://www.googleapis.com/compute/v1/projects/p/global/networks/n"
            ))
        );
        let full = json!("https://www.googleapis.com/compute/v1/projects/p/global/networks/n");
        assert_eq!(normalize("gcp:compute:Subnetwork", "network", &full), None);
    }
}
