//! `gcp:orgpolicy:Policy`: an Organization Policy v2 policy on a project, through the official
//! `google-cloud-orgpolicy-v2` client — the shape of Terraform's `google_org_policy_policy`:
//!
//! ```yaml
//! location-guard:
//!   type: gcp:orgpolicy:Policy
//!   properties:
//!     parent: projects/${project.id}
//!     constraint: gcp.resourceLocations
//!     spec:
//!       rules:
//!         - values: {allowed_values: [in:europe-west3-locations, in:europe-west1-locations]}
//! ```
//!
//! `parent` (`projects/{project id}`) and `constraint` (with or without `constraints/`)
//! force a new policy; `spec` changes in place (`policies.patch` overwrites the whole
//! policy). A rule is one of `values: {allowed_values, denied_values}`, `allow_all: true` or
//! `deny_all: true` (list constraints; rule conditions are not supported yet and are
//! refused). The id is `projects/{project id}/policies/{constraint}`; the API answers with
//! the project number in `name` (kept as the `name` attribute).
//!
//! Normalised so that a plan after apply is empty: the server's `etag` and `updateTime` are
//! attributes, not part of `spec`; values are sorted and deduplicated within a rule, rules
//! sorted (without conditions their order carries no meaning), empty value lists and
//! `false` flags dropped.
//!
//! Policies carry no labels, so no ownership tags: a create answered 409 `ALREADY_EXISTS`
//! (a policy of the constraint is already set on the project) adopts the policy only when
//! its spec is exactly the desired one (the retry of a create whose answer was lost); any
//! other is a conflict naming the project and constraint.

use crate::client::{CallError, Retry, Settings};
use crate::convert::{value_from_api, value_to_api};
use google_cloud_orgpolicy_v2::client::OrgPolicy;
use google_cloud_orgpolicy_v2::model::Policy;
use serde_json::{json, Map, Value as Json};
use terrace_provider::{
    ApiClasses, ErrorKind, FieldKind, FieldSchema, Observed, Properties, ProviderError, RateLimit,
    ResourceSchema,
};
use tokio::sync::OnceCell;

pub const TYPE: &str = "gcp:orgpolicy:Policy";
const READ_CLASS: &str = "gcp:orgpolicy:read";
const MUTATE_CLASS: &str = "gcp:orgpolicy:mutate";

/// The schema: `parent` and `constraint` force a new policy, `spec` changes in place.
pub fn schema() -> ResourceSchema {
    use FieldKind::{Map as MapKind, String};
    ResourceSchema {
        type_name: TYPE.into(),
        fields: vec![
            FieldSchema::input("parent", String).required().force_new(),
            FieldSchema::input("constraint", String)
                .required()
                .force_new(),
            FieldSchema::input("spec", MapKind).required(),
            FieldSchema::computed("name", String),
            FieldSchema::computed("etag", String).changes_on_update(),
            FieldSchema::computed("update_time", String).changes_on_update(),
        ],
        api: ApiClasses {
            read: READ_CLASS.into(),
            mutate: MUTATE_CLASS.into(),
        },
        regional: false,
    }
}

/// Default rates of the Org Policy classes (its quota is per project and minute, far below
/// Compute's).
pub fn rate_limits() -> Vec<RateLimit> {
    vec![
        RateLimit {
            class: READ_CLASS.into(),
            per_second: 5.0,
            burst: 5,
        },
        RateLimit {
            class: MUTATE_CLASS.into(),
            per_second: 1.0,
            burst: 2,
        },
    ]
}

fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, "invalid", message)
}

/// The canonical form of a desired `field` value, if it differs (`Provider::normalize`).
pub fn normalize(field: &str, value: &Json) -> Option<Json> {
    let canonical = match field {
        "constraint" => json!(value.as_str()?.trim_start_matches("constraints/")),
        "spec" => canonical_spec(value).ok()?,
        _ => return None,
    };
    (canonical != *value).then_some(canonical)
}

/// `spec` with sorted, deduplicated values, sorted rules, and no empty lists or `false`
/// flags; an error for what a list-constraint policy cannot hold.
fn canonical_spec(spec: &Json) -> Result<Json, ProviderError> {
    let spec = spec.as_object().ok_or_else(|| {
        invalid("spec must be a map: {rules: [{values: {allowed_values: [...]}}]}")
    })?;
    let mut out = Map::new();
    for (key, value) in spec {
        match key.as_str() {
            "rules" => {
                let rules = value
                    .as_array()
                    .ok_or_else(|| invalid("spec.rules must be a list"))?;
                let mut rules = rules
                    .iter()
                    .enumerate()
                    .map(|(i, r)| canonical_rule(i, r))
                    .collect::<Result<Vec<_>, _>>()?;
                rules.sort_by_key(Json::to_string);
                rules.dedup();
                out.insert("rules".into(), Json::Array(rules));
            }
            "inherit_from_parent" | "reset" => {
                let on = value
                    .as_bool()
                    .ok_or_else(|| invalid(format!("spec.{key} must be true or false")))?;
                if on {
                    out.insert(key.clone(), json!(true));
                }
            }
            // Set by the server; never compared.
            "etag" | "update_time" => {}
            other => {
                return Err(invalid(format!(
                    "spec.{other} is not a policy field (known: rules, inherit_from_parent, reset)"
                )))
            }
        }
    }
    Ok(Json::Object(out))
}

fn canonical_rule(index: usize, rule: &Json) -> Result<Json, ProviderError> {
    let at = format!("spec.rules[{index}]");
    let rule = rule
        .as_object()
        .ok_or_else(|| invalid(format!("{at} must be a map")))?;
    let mut out = Map::new();
    for (key, value) in rule {
        match key.as_str() {
            "allow_all" | "deny_all" => {
                if value
                    .as_bool()
                    .ok_or_else(|| invalid(format!("{at}.{key} must be true or false")))?
                {
                    out.insert(key.clone(), json!(true));
                }
            }
            "values" => {
                let values = value
                    .as_object()
                    .ok_or_else(|| invalid(format!("{at}.values must be a map")))?;
                let mut lists = Map::new();
                for (list, items) in values {
                    if !matches!(list.as_str(), "allowed_values" | "denied_values") {
                        return Err(invalid(format!(
                            "{at}.values.{list} is not a field (allowed_values, denied_values)"
                        )));
                    }
                    let mut items = items
                        .as_array()
                        .and_then(|a| {
                            a.iter()
                                .map(|v| v.as_str().map(String::from))
                                .collect::<Option<Vec<_>>>()
                        })
                        .ok_or_else(|| {
                            invalid(format!("{at}.values.{list} must be a list of strings"))
                        })?;
                    items.sort();
                    items.dedup();
                    if !items.is_empty() {
                        lists.insert(list.clone(), json!(items));
                    }
                }
                out.insert("values".into(), Json::Object(lists));
            }
            other => {
                return Err(invalid(format!(
                    "{at}.{other} is not supported (a rule is `values`, `allow_all` or `deny_all`; \
                     conditions and `enforce` are not supported by Terrace yet)"
                )))
            }
        }
    }
    if out.len() != 1 {
        return Err(invalid(format!(
            "{at} must set exactly one of values, allow_all: true, deny_all: true"
        )));
    }
    Ok(Json::Object(out))
}

/// `projects/{id}` and the constraint name of desired properties.
fn target(props: &Properties) -> Result<(String, String), ProviderError> {
    let parent = props
        .get("parent")
        .and_then(Json::as_str)
        .filter(|p| {
            p.strip_prefix("projects/")
                .is_some_and(|id| !id.is_empty() && !id.contains('/'))
        })
        .ok_or_else(|| invalid("a policy needs `parent: projects/<project id>`"))?;
    let constraint = props
        .get("constraint")
        .and_then(Json::as_str)
        .map(|c| c.trim_start_matches("constraints/"))
        .filter(|c| !c.is_empty())
        .ok_or_else(|| invalid("a policy needs `constraint`, e.g. gcp.resourceLocations"))?;
    Ok((parent.to_string(), constraint.to_string()))
}

/// The API `Policy` of desired properties, named `id`.
fn policy_of(id: &str, props: &Properties) -> Result<Policy, ProviderError> {
    let spec = canonical_spec(props.get("spec").unwrap_or(&json!({})))?;
    let body = json!({"name": id, "spec": value_to_api(&spec)});
    serde_json::from_value(body).map_err(|e| invalid(format!("spec: {e}")))
}

/// A policy as Terrace sees it, under the id it was asked by.
fn observe(id: &str, policy: &Policy) -> Observed {
    let api = serde_json::to_value(policy).unwrap_or_default();
    let spec = value_from_api(&api["spec"]);
    let (parent, constraint) = id.split_once("/policies/").unwrap_or((id, ""));
    let mut properties = Properties::new();
    properties.insert("parent".into(), json!(parent));
    properties.insert("constraint".into(), json!(constraint));
    properties.insert("spec".into(), canonical_spec(&spec).unwrap_or(spec.clone()));
    let mut attributes = Properties::new();
    attributes.insert("name".into(), json!(policy.name));
    attributes.insert("etag".into(), api["etag"].clone());
    attributes.insert("update_time".into(), spec["update_time"].clone());
    Observed {
        id: id.to_string(),
        properties,
        attributes,
        ownership: None,
    }
}

/// The Org Policy API for one provider.
pub struct OrgPolicies {
    settings: Settings,
    retry: Retry,
    client: OnceCell<OrgPolicy>,
}

impl OrgPolicies {
    pub fn new(settings: Settings, waits: crate::waits::Waits) -> OrgPolicies {
        OrgPolicies {
            retry: Retry::from_settings(&settings, waits),
            settings,
            client: OnceCell::new(),
        }
    }

    async fn client(&self) -> Result<&OrgPolicy, CallError> {
        self.client
            .get_or_try_init(|| async {
                crate::resourcemanager::build_client!(OrgPolicy, &self.settings)
            })
            .await
    }

    fn refused(&self, id: &str, e: CallError, mutation: bool) -> ProviderError {
        e.about(&format!("org policy {id}"), &self.settings, mutation)
    }

    async fn get(&self, id: &str) -> Result<Option<Policy>, CallError> {
        let client = self.client().await?;
        let got = self
            .retry
            .run("get org policy", || async {
                client
                    .get_policy()
                    .set_name(id)
                    .send()
                    .await
                    .map_err(CallError::from)
            })
            .await;
        match got {
            Ok(p) => Ok(Some(p)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Policies by id (`projects/{id}/policies/{constraint}`); a missing one is absent.
    /// Policies have no ownership tags, so nothing is found by owner.
    pub async fn read(&self, ids: &[String]) -> Result<Vec<Observed>, ProviderError> {
        let mut found = Vec::new();
        for id in ids {
            if let Some(p) = self.get(id).await.map_err(|e| self.refused(id, e, false))? {
                found.push(observe(id, &p));
            }
        }
        Ok(found)
    }

    pub async fn create(&self, props: &Properties) -> Result<Observed, ProviderError> {
        let (parent, constraint) = target(props)?;
        let id = format!("{parent}/policies/{constraint}");
        let policy = policy_of(&id, props)?;
        let client = self.client().await.map_err(|e| e.into_provider(true))?;
        let created = self
            .retry
            .run("create org policy", || async {
                client
                    .create_policy()
                    .set_parent(parent.clone())
                    .set_policy(policy.clone())
                    .send()
                    .await
                    .map_err(CallError::from)
            })
            .await;
        match created {
            Ok(p) => Ok(observe(&id, &p)),
            Err(e) if e.http_status == Some(409) || e.reason == "alreadyExists" => {
                self.adopt(&id, props, e).await
            }
            Err(e) => Err(self.refused(&id, e, true)),
        }
    }

    /// After a 409: the existing policy when it is exactly the desired one, else a conflict.
    async fn adopt(
        &self,
        id: &str,
        props: &Properties,
        e: CallError,
    ) -> Result<Observed, ProviderError> {
        let existing = self.get(id).await.map_err(|e| self.refused(id, e, false))?;
        let wanted = canonical_spec(props.get("spec").unwrap_or(&json!({})))?;
        match existing.map(|p| observe(id, &p)) {
            Some(o) if o.properties.get("spec") == Some(&wanted) => Ok(o),
            Some(o) => Err(ProviderError::new(
                ErrorKind::Conflict,
                "alreadyExists",
                format!(
                    "{id}: a policy of this constraint is already set on the project (HTTP 409: {}), \
                     with spec {} — set outside this stack or by another one: import it \
                     (`terrace import`) or remove it first",
                    e.message,
                    o.properties.get("spec").cloned().unwrap_or_default()
                ),
            )),
            None => Err(e.into_provider(true)),
        }
    }

    /// `policies.patch`: the whole policy is overwritten with the desired spec.
    pub async fn update(&self, id: &str, new: &Properties) -> Result<Observed, ProviderError> {
        let policy = policy_of(id, new)?;
        let client = self.client().await.map_err(|e| e.into_provider(true))?;
        let updated = self
            .retry
            .run("update org policy", || async {
                client
                    .update_policy()
                    .set_policy(policy.clone())
                    .send()
                    .await
                    .map_err(CallError::from)
            })
            .await
            .map_err(|e| self.refused(id, e, true))?;
        Ok(observe(id, &updated))
    }

    /// Deletes the policy (the constraint's default applies again); gone already is deleted.
    pub async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        let client = self.client().await.map_err(|e| e.into_provider(true))?;
        let deleted = self
            .retry
            .run("delete org policy", || async {
                client
                    .delete_policy()
                    .set_name(id)
                    .send()
                    .await
                    .map_err(CallError::from)
            })
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(self.refused(id, e, true)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_compared_in_one_form() {
        let written = json!({"rules": [
            {"values": {"allowed_values": ["in:europe-west3-locations", "in:europe-west1-locations",
                                           "in:europe-west3-locations"], "denied_values": []}},
        ], "inherit_from_parent": false});
        let read_back = json!({"rules": [
            {"values": {"allowed_values": ["in:europe-west1-locations", "in:europe-west3-locations"]}},
        ], "etag": "x", "update_time": "2026-01-01T00:00:00Z"});
        assert_eq!(
            canonical_spec(&written).unwrap(),
            canonical_spec(&read_back).unwrap()
        );
        assert_eq!(
            normalize("constraint", &json!("constraints/gcp.resourceLocations")),
            Some(json!("gcp.resourceLocations"))
        );
    }

    #[test]
    fn rules_hold_one_kind_and_nothing_unknown() {
        for bad in [
            json!({"rules": [{"values": {"allowed_values": ["eu"]}, "allow_all": true}]}),
            json!({"rules": [{"condition": {"expression": "x"}}]}),
            json!({"rules": [{"values": {"allowedvalues": ["eu"]}}]}),
            json!({"rule": []}),
        ] {
            assert!(canonical_spec(&bad).is_err(), "{bad}");
        }
    }
}
