//! The provider's operations on top of [`Api`]: request bodies from properties (with
//! ownership, derived names and defaults), batched reads (one list call per type × location
//! × page, filtered by names and ownership labels), adoption of a resource whose create
//! answer was lost (or whose operation failed after the resource appeared), in-place updates
//! with the method Compute takes for each field (PATCH, setLabels,
//! setPrivateIpGoogleAccess) sent wherever the cloud's value differs from the desired one,
//! and idempotent deletes. A 403 that is not a rate limit is never read as "gone".

use crate::api::{Api, Location, MutationError};
use crate::client::{request_id, CallError};

/// Compute's answer to an insert whose name is taken.
fn is_already_exists(e: &CallError) -> bool {
    e.http_status == Some(409) || e.reason == "alreadyExists"
}
use crate::convert::{last_segment, to_camel, value_from_api, value_to_api};
use crate::links::{zone_region, Link};
use crate::ownership;
use crate::resources::{table, Field, KindDef, Mode, Scope, COMPUTED};
use serde_json::{json, Map, Value as Json};
use std::collections::{BTreeMap, BTreeSet};
use terrace_provider::{ErrorKind, Observed, Ownership, Properties, ProviderError};

/// More names than this in one read: list without a name filter (still one call per page).
const MAX_FILTER_NAMES: usize = 50;

fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, "invalid", message)
}

/// Where a new resource goes: zonal types by their `zone` property (which must lie in the
/// resource's region when one is given), regional by the region, global anywhere.
pub fn location_for(
    def: &KindDef,
    region: Option<&str>,
    props: &Properties,
) -> Result<Location, ProviderError> {
    match def.scope() {
        Scope::Global => Ok(Location::Global),
        Scope::Regional => region
            .map(|r| Location::Region(r.to_string()))
            .ok_or_else(|| invalid(format!("{} needs a region", def.type_name))),
        Scope::Zonal => {
            let zone = props
                .get("zone")
                .and_then(Json::as_str)
                .map(|z| last_segment(z).to_string())
                .ok_or_else(|| invalid(format!("{} needs a `zone` property", def.type_name)))?;
            match region {
                Some(r) if zone_region(&zone) != r => Err(invalid(format!(
                    "zone {zone} is not in the resource's region {r}"
                ))),
                _ => Ok(Location::Zone(zone)),
            }
        }
    }
}

/// The Compute JSON body of a new resource.
pub fn create_body(
    def: &KindDef,
    props: &Properties,
    name: &str,
    owner: &Ownership,
) -> Result<Json, ProviderError> {
    let mut body = Map::new();
    for (key, value) in props {
        if key == "name" || key == "zone" || value.is_null() {
            continue;
        }
        let field = def
            .field(key)
            .ok_or_else(|| invalid(format!("{} has no property `{key}`", def.type_name)))?;
        if field.mode == Mode::Labels {
            continue;
        }
        body.insert(to_camel(key), value_to_api(value));
    }
    body.insert("name".into(), json!(name));
    body.insert("description".into(), json!(ownership::description(owner)));
    if def.labels {
        body.insert(
            "labels".into(),
            Json::Object(labels_with_owner(props, owner)?),
        );
    }
    if let Some(prepare) = def.prepare {
        prepare(&mut body);
    }
    Ok(Json::Object(body))
}

/// The user's `labels` plus the ownership labels.
fn labels_with_owner(
    props: &Properties,
    owner: &Ownership,
) -> Result<Map<String, Json>, ProviderError> {
    let mut labels = match props.get("labels") {
        None | Some(Json::Null) => Map::new(),
        Some(Json::Object(m)) => m.clone(),
        Some(other) => return Err(invalid(format!("labels must be a map, not {other}"))),
    };
    if let Some(key) = labels.keys().find(|k| ownership::is_ownership_label(k)) {
        return Err(invalid(format!(
            "label `{key}` is reserved for Terrace's ownership"
        )));
    }
    for (key, value) in ownership::labels(owner) {
        labels.insert(key, json!(value));
    }
    Ok(labels)
}

/// Ownership found on a Compute resource: its description, else its labels.
fn owner_of(item: &Json) -> Option<Ownership> {
    item.get("description")
        .and_then(Json::as_str)
        .and_then(ownership::from_description)
        .or_else(|| {
            item.get("labels")
                .and_then(Json::as_object)
                .and_then(ownership::from_labels)
        })
}

/// A Compute resource as Terrace sees it.
pub fn observe(def: &KindDef, item: &Json) -> Option<Observed> {
    let id = item.get("selfLink")?.as_str()?.to_string();
    let mut properties = Properties::new();
    if let Some(name) = item.get("name") {
        properties.insert("name".into(), name.clone());
    }
    for field in def
        .fields
        .iter()
        .filter(|f| !table::WRITE_ONLY.contains(&f.name))
    {
        let Some(value) = item.get(to_camel(field.name)) else {
            continue;
        };
        let value = match field.name {
            "zone" => json!(value.as_str().map(last_segment)),
            "labels" => strip_owner_labels(value),
            _ => value_from_api(value),
        };
        properties.insert(field.name.into(), value);
    }
    let mut attributes = Properties::new();
    for name in COMPUTED {
        let api = if *name == "gce_id" {
            "id".to_string()
        } else {
            to_camel(name)
        };
        if let Some(value) = item.get(&api) {
            attributes.insert(name.to_string(), value.clone());
        }
    }
    for (name, pointer) in def.attributes {
        if let Some(value) = item.pointer(pointer) {
            attributes.insert(name.to_string(), value.clone());
        }
    }
    Some(Observed {
        id,
        properties,
        attributes,
        ownership: owner_of(item),
    })
}

fn strip_owner_labels(labels: &Json) -> Json {
    match labels {
        Json::Object(map) => Json::Object(
            map.iter()
                .filter(|(k, _)| !ownership::is_ownership_label(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// What one list call (per location) must find.
#[derive(Default)]
struct Wanted {
    names: BTreeSet<String>,
    by_owner: bool,
}

fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The list filter: names and, for labelled types, the owner's labels; `None` lists all.
fn filter_for(def: &KindDef, wanted: &Wanted, owner: Option<&Ownership>) -> Option<String> {
    if wanted.names.len() > MAX_FILTER_NAMES || (wanted.by_owner && !def.labels) {
        return None;
    }
    let mut clauses: Vec<String> = wanted
        .names
        .iter()
        .map(|n| format!("(name = {})", quote(n)))
        .collect();
    if let (true, Some(owner)) = (wanted.by_owner, owner) {
        clauses.push(owner_clause(owner));
    }
    match clauses.len() {
        0 => None,
        1 => Some(clauses.remove(0)),
        _ => Some(clauses.join(" OR ")),
    }
}

/// The label clause of an owner: its workspace, and its stack unless empty (any stack of the
/// workspace); resources are told apart afterwards ([`ownership::matches`]).
fn owner_clause(owner: &Ownership) -> String {
    let label = |key: &str, value: &str| {
        format!("labels.{key} = {}", quote(&ownership::label_value(value)))
    };
    let mut terms = vec![label(ownership::WORKSPACE_LABEL, &owner.workspace)];
    if !owner.stack.is_empty() {
        terms.push(label(ownership::STACK_LABEL, &owner.stack));
    }
    format!("({})", terms.join(" AND "))
}

impl Api {
    /// Lists every page at one location and keeps the items that `keep` accepts.
    async fn list_all(
        &self,
        def: &KindDef,
        project: &str,
        at: &Location,
        filter: Option<&str>,
    ) -> Result<Vec<Json>, CallError> {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .list_page(def, project, at, filter, token.as_deref())
                .await?;
            items.extend(page.items);
            match page.next {
                Some(next) => token = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// The batched read of the provider contract.
    pub async fn read(
        &self,
        def: &KindDef,
        region: Option<&str>,
        ids: &[String],
        owner: Option<&Ownership>,
    ) -> Result<Vec<Observed>, ProviderError> {
        let project = self.settings.project()?.to_string();
        let mut plan: BTreeMap<(String, LocationKey), Wanted> = BTreeMap::new();
        let mut id_keys = BTreeSet::new();
        for id in ids {
            let link = match Link::parse(id) {
                Some(link) => link,
                None => Link {
                    project: project.clone(),
                    location: self.default_location(def, region)?,
                    collection: String::new(),
                    name: id.clone(),
                },
            };
            id_keys.insert((
                link.project.clone(),
                LocationKey::of(&link.location),
                link.name.clone(),
            ));
            plan.entry((link.project, LocationKey::of(&link.location)))
                .or_default()
                .names
                .insert(link.name);
        }
        if owner.is_some() {
            for at in self.owner_locations(def, region)? {
                plan.entry((project.clone(), LocationKey::of(&at)))
                    .or_default()
                    .by_owner = true;
            }
        }
        let mut found = Vec::new();
        for ((project, key), wanted) in &plan {
            let at = key.location();
            let filter = filter_for(def, wanted, owner);
            let items = match self.list_all(def, project, &at, filter.as_deref()).await {
                Ok(items) => items,
                // A probed zone that does not exist holds nothing.
                Err(e)
                    if wanted.names.is_empty()
                        && matches!(at, Location::Zone(_))
                        && (e.is_not_found() || e.http_status == Some(400)) =>
                {
                    Vec::new()
                }
                Err(e) => {
                    let what = format!("{} list at {at} in project {project}", def.type_name);
                    return Err(e.about(&what, &self.settings, false));
                }
            };
            for item in items {
                let Some(observed) = observe(def, &item) else {
                    continue;
                };
                let name = item.get("name").and_then(Json::as_str).unwrap_or_default();
                let by_id = id_keys.contains(&(project.clone(), key.clone(), name.to_string()));
                let by_owner = match (owner, &observed.ownership) {
                    (Some(wanted_owner), Some(found_owner)) => {
                        wanted.by_owner && ownership::matches(found_owner, wanted_owner)
                    }
                    _ => false,
                };
                if by_id || by_owner {
                    found.push(observed);
                }
            }
        }
        Ok(found)
    }

    fn default_location(
        &self,
        def: &KindDef,
        region: Option<&str>,
    ) -> Result<Location, ProviderError> {
        match (def.scope(), region) {
            (Scope::Global, _) => Ok(Location::Global),
            (Scope::Regional, Some(r)) => Ok(Location::Region(r.into())),
            _ => Err(invalid(format!(
                "{}: an id must be the resource's URL (selfLink)",
                def.type_name
            ))),
        }
    }

    /// Where to look for a stack's resources: zonal types in every zone of the region.
    fn owner_locations(
        &self,
        def: &KindDef,
        region: Option<&str>,
    ) -> Result<Vec<Location>, ProviderError> {
        match (def.scope(), region) {
            (Scope::Global, _) => Ok(vec![Location::Global]),
            (Scope::Regional, Some(r)) => Ok(vec![Location::Region(r.into())]),
            (Scope::Zonal, Some(r)) => Ok(self
                .settings
                .zone_suffixes
                .iter()
                .map(|s| Location::Zone(format!("{r}-{s}")))
                .collect()),
            (_, None) => Err(invalid(format!("{} needs a region", def.type_name))),
        }
    }

    /// One resource by name, if it exists.
    pub async fn find(
        &self,
        def: &KindDef,
        project: &str,
        at: &Location,
        name: &str,
    ) -> Result<Option<Json>, CallError> {
        let filter = format!("name = {}", quote(name));
        let items = self.list_all(def, project, at, Some(&filter)).await?;
        Ok(items
            .into_iter()
            .find(|i| i.get("name").and_then(Json::as_str) == Some(name)))
    }

    /// Creates a resource; a name already taken by a resource of the same owner (a create
    /// whose answer was lost) is adopted.
    pub async fn create(
        &self,
        def: &KindDef,
        region: Option<&str>,
        props: &Properties,
        owner: &Ownership,
        key: &str,
    ) -> Result<Observed, ProviderError> {
        let project = self.settings.project()?.to_string();
        let at = location_for(def, region, props)?;
        let name = match props.get("name").and_then(Json::as_str) {
            Some(name) => name.to_string(),
            None => ownership::derived_name(owner, key),
        };
        let body = create_body(def, props, &name, owner)?;
        let what = format!("{} {name}", def.type_name);
        let created = self
            .insert(def, &project, &at, &body, &request_id(key, ""))
            .await;
        match created {
            Ok(_) => {
                self.until_settled(def, &project, &at, &name).await?;
                self.observe_named(def, &project, &at, &name).await
            }
            Err(MutationError::Refused(e)) if is_already_exists(&e) => self
                .adopt_existing(def, &project, &at, &name, owner)
                .await?
                .ok_or_else(|| e.about(&what, &self.settings, true)),
            Err(MutationError::Failed(e)) => {
                self.after_failed_insert(def, &project, &at, &name, owner, e)
                    .await
            }
            Err(other) => Err(other.into_provider(&what, &self.settings)),
        }
    }

    /// An insert Compute accepted whose operation ended DONE with `error`: Compute's
    /// providers treat that as "the resource didn't actually create"
    /// (terraform-provider-google, e.g. `resourceComputeInstanceCreate`), but that is not a
    /// guarantee, so the name is looked up: a resource found with our ownership is adopted,
    /// none found is the operation's failure (Google's code), and a lookup that cannot be
    /// made leaves the create ambiguous.
    async fn after_failed_insert(
        &self,
        def: &KindDef,
        project: &str,
        at: &Location,
        name: &str,
        owner: &Ownership,
        error: CallError,
    ) -> Result<Observed, ProviderError> {
        let what = format!("{} {name}", def.type_name);
        match self.adopt_existing(def, project, at, name, owner).await {
            Ok(Some(adopted)) => Ok(adopted),
            Ok(None) => Err(MutationError::Failed(error).into_provider(&what, &self.settings)),
            Err(lookup) => Err(ProviderError::new(
                ErrorKind::Ambiguous,
                error.reason.clone(),
                format!(
                    "{what}: the operation failed ({}) and whether anything was created could \
                     not be checked: {}",
                    error.message, lookup.message
                ),
            )),
        }
    }

    async fn adopt_existing(
        &self,
        def: &KindDef,
        project: &str,
        at: &Location,
        name: &str,
        owner: &Ownership,
    ) -> Result<Option<Observed>, ProviderError> {
        let existing = self
            .find(def, project, at, name)
            .await
            .map_err(|e| e.about(name, &self.settings, false))?;
        Ok(existing.and_then(|item| observe(def, &item)).filter(|o| {
            o.ownership
                .as_ref()
                .is_some_and(|found| ownership::matches(found, owner))
        }))
    }

    async fn observe_named(
        &self,
        def: &KindDef,
        project: &str,
        at: &Location,
        name: &str,
    ) -> Result<Observed, ProviderError> {
        let item = self
            .find(def, project, at, name)
            .await
            .map_err(|e| e.about(name, &self.settings, false))?;
        item.and_then(|i| observe(def, &i)).ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Ambiguous,
                "notFoundAfterOperation",
                format!(
                    "{} {name} is not listed after its operation finished",
                    def.type_name
                ),
            )
        })
    }

    /// Changes a resource in place, each field with the method Compute takes for it: PATCH
    /// for the fields its patch method updates, setLabels for labels,
    /// setPrivateIpGoogleAccess for a subnetwork's private Google access. A field is sent
    /// when its desired value differs from the cloud's current one (so an out-of-band change
    /// is repaired even when the previous properties already matched the desired ones);
    /// fields Compute fills with defaults (not read back) are compared with `old`.
    pub async fn update(
        &self,
        def: &KindDef,
        id: &str,
        old: &Properties,
        new: &Properties,
        owner: &Ownership,
        key: &str,
    ) -> Result<Observed, ProviderError> {
        let link = Link::parse(id).ok_or_else(|| invalid(format!("{id} is not a Compute URL")))?;
        let set = |props: &Properties, n: &str| props.get(n).filter(|v| !v.is_null()).cloned();
        if let Some(f) = def
            .fields
            .iter()
            .find(|f| f.mode == Mode::ForceNew && set(old, f.name) != set(new, f.name))
        {
            return Err(invalid(format!(
                "{}: `{}` cannot change in place; the resource must be replaced",
                def.type_name, f.name
            )));
        }
        let current = self
            .find(def, &link.project, &link.location, &link.name)
            .await
            .map_err(|e| e.about(id, &self.settings, false))?
            .ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::NotFound,
                    "notFound",
                    format!("{id} does not exist"),
                )
            })?;
        let cloud = observe(def, &current)
            .map(|o| o.properties)
            .unwrap_or_default();
        let changed: Vec<&Field> = def
            .fields
            .iter()
            .filter(|f| f.mode != Mode::ForceNew)
            .filter(|f| match set(new, f.name) {
                Some(want) => {
                    let now = set(&cloud, f.name).map(|v| match f.cloud_defaults {
                        true => terrace_provider::schema::project(&v, &[&want]),
                        false => v,
                    });
                    now != Some(want)
                }
                None => set(old, f.name).is_some(),
            })
            .collect();
        let patch: Vec<&str> = changed
            .iter()
            .filter(|f| f.mode == Mode::Patch)
            .map(|f| f.name)
            .collect();
        if !patch.is_empty() {
            self.patch_fields(def, &link, new, &patch, &current, key)
                .await?;
        }
        if changed
            .iter()
            .any(|f| f.mode == Mode::PrivateIpGoogleAccess)
        {
            let enabled = set(new, "private_ip_google_access")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            self.set_private_ip_google_access(
                &link.project,
                &link.location,
                &link.name,
                enabled,
                &request_id(key, "private-ip-google-access"),
            )
            .await
            .map_err(|e| e.into_provider(id, &self.settings))?;
        }
        if changed.iter().any(|f| f.mode == Mode::Labels) {
            let body = json!({
                "labels": labels_with_owner(new, owner)?,
                "labelFingerprint": current.get("labelFingerprint").cloned().unwrap_or(Json::Null),
            });
            let result = self
                .set_labels(
                    def,
                    &link.project,
                    &link.location,
                    &link.name,
                    &body,
                    &request_id(key, "labels"),
                )
                .await;
            if let Err(e) = result {
                self.labels_already_set(def, &link, &body["labels"], e)
                    .await?;
            }
        }
        self.until_settled(def, &link.project, &link.location, &link.name)
            .await?;
        self.observe_named(def, &link.project, &link.location, &link.name)
            .await
    }

    /// For a type with an `unsettled` hook (a regional managed instance group, see
    /// [`crate::resources::hooks::unsettled`]): polls the resource until the hook finds it
    /// settled, within `operation_timeout`; other types return at once.
    async fn until_settled(
        &self,
        def: &KindDef,
        project: &str,
        at: &Location,
        name: &str,
    ) -> Result<(), ProviderError> {
        let Some(unsettled) = def.unsettled else {
            return Ok(());
        };
        let deadline = tokio::time::Instant::now() + self.settings.operation_timeout;
        let cap = self
            .settings
            .polling_interval
            .max(self.settings.max_backoff);
        let mut delay = self.settings.polling_interval;
        loop {
            let group = self
                .find(def, project, at, name)
                .await
                .map_err(|e| e.about(name, &self.settings, false))?
                .ok_or_else(|| {
                    ProviderError::new(
                        ErrorKind::NotFound,
                        "notFound",
                        format!("{} {name} is gone", def.type_name),
                    )
                })?;
            let Some(waiting) = unsettled(&group) else {
                return Ok(());
            };
            if tokio::time::Instant::now() + delay >= deadline {
                return Err(ProviderError::new(
                    ErrorKind::Other,
                    "groupNotStable",
                    format!(
                        "{} {name}: {waiting} after {} s",
                        def.type_name,
                        self.settings.operation_timeout.as_secs()
                    ),
                ));
            }
            terrace_provider::progress::report(
                format!("{} {name}: {waiting}", def.type_name),
                Some(delay),
            );
            tokio::time::sleep(delay).await;
            delay = delay.mul_f64(1.5).min(cap);
        }
    }

    /// One PATCH with the changed fields (and the current fingerprint where the type has one).
    async fn patch_fields(
        &self,
        def: &KindDef,
        link: &Link,
        new: &Properties,
        fields: &[&str],
        current: &Json,
        key: &str,
    ) -> Result<(), ProviderError> {
        let mut body = Map::new();
        body.insert("name".into(), json!(link.name));
        for name in fields {
            body.insert(
                to_camel(name),
                new.get(*name).map(value_to_api).unwrap_or(Json::Null),
            );
        }
        if def.fingerprint {
            if let Some(fp) = current.get("fingerprint") {
                body.insert("fingerprint".into(), fp.clone());
            }
        }
        self.patch(
            def,
            &link.project,
            &link.location,
            &link.name,
            &Json::Object(body),
            &request_id(key, "patch"),
        )
        .await
        .map(|_| ())
        .map_err(|e| e.into_provider(&link.key(), &self.settings))
    }

    /// A setLabels refused because the fingerprint moved (412) succeeded anyway when the
    /// labels are now what was asked (an earlier attempt went through).
    async fn labels_already_set(
        &self,
        def: &KindDef,
        link: &Link,
        wanted: &Json,
        error: MutationError,
    ) -> Result<(), ProviderError> {
        let what = link.key();
        if !matches!(&error, MutationError::Refused(e) if e.http_status == Some(412)) {
            return Err(error.into_provider(&what, &self.settings));
        }
        let now = self
            .find(def, &link.project, &link.location, &link.name)
            .await
            .map_err(|e| e.about(&what, &self.settings, false))?;
        match now.and_then(|item| item.get("labels").cloned()) {
            Some(labels) if &labels == wanted => Ok(()),
            _ => Err(error.into_provider(&what, &self.settings)),
        }
    }

    /// Deletes a resource; one that is already gone counts as deleted.
    pub async fn remove(&self, def: &KindDef, id: &str, key: &str) -> Result<(), ProviderError> {
        let link = Link::parse(id).ok_or_else(|| invalid(format!("{id} is not a Compute URL")))?;
        match self
            .delete(
                def,
                &link.project,
                &link.location,
                &link.name,
                &request_id(key, ""),
            )
            .await
        {
            Ok(_) => Ok(()),
            // Gone already (a 404, never a 403): deleted.
            Err(MutationError::Refused(e) | MutationError::Failed(e)) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into_provider(id, &self.settings)),
        }
    }
}

/// A location as an ordered map key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum LocationKey {
    Global,
    Region(String),
    Zone(String),
}

impl LocationKey {
    fn of(at: &Location) -> LocationKey {
        match at {
            Location::Global => LocationKey::Global,
            Location::Region(r) => LocationKey::Region(r.clone()),
            Location::Zone(z) => LocationKey::Zone(z.clone()),
        }
    }

    fn location(&self) -> Location {
        match self {
            LocationKey::Global => Location::Global,
            LocationKey::Region(r) => Location::Region(r.clone()),
            LocationKey::Zone(z) => Location::Zone(z.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::by_type;

    fn owner() -> Ownership {
        Ownership {
            workspace: "ws".into(),
            stack: "networks/eu/a".into(),
            resource: "web".into(),
        }
    }

    #[test]
    fn bodies_carry_ownership_and_defaults() {
        let def = by_type("gcp:compute:Network").unwrap();
        let body = create_body(def, &Properties::new(), "n", &owner()).unwrap();
        assert_eq!(body["autoCreateSubnetworks"], json!(false));
        assert!(body["description"]
            .as_str()
            .unwrap()
            .starts_with("managed-by=terrace"));
        let def = by_type("gcp:compute:Instance").unwrap();
        let props =
            json!({"zone": "europe-west3-a", "labels": {"team": "db"}, "machine_type": "m"});
        let body = create_body(def, props.as_object().unwrap(), "i", &owner()).unwrap();
        assert_eq!(body["labels"]["team"], json!("db"));
        assert_eq!(body["labels"]["terrace-stack"], json!("networks_seu_sa"));
        assert!(body.get("zone").is_none());
        let bad = json!({"labels": {"terrace-stack": "x"}});
        assert!(create_body(def, bad.as_object().unwrap(), "i", &owner()).is_err());
        let unknown = json!({"colour": "red"});
        assert!(create_body(def, unknown.as_object().unwrap(), "i", &owner()).is_err());
    }

    #[test]
    fn zonal_locations_must_lie_in_the_region() {
        let def = by_type("gcp:compute:Instance").unwrap();
        let props = json!({"zone": "europe-west3-a"});
        let props = props.as_object().unwrap();
        assert_eq!(
            location_for(def, Some("europe-west3"), props).unwrap(),
            Location::Zone("europe-west3-a".into())
        );
        assert!(location_for(def, Some("us-east1"), props).is_err());
        assert!(location_for(def, None, &Properties::new()).is_err());
    }

    #[test]
    fn filters_combine_names_and_owner_labels() {
        let def = by_type("gcp:compute:Instance").unwrap();
        let wanted = Wanted {
            names: ["a".to_string(), "b".to_string()].into(),
            by_owner: true,
        };
        let f = filter_for(def, &wanted, Some(&owner())).unwrap();
        assert_eq!(
            f,
            "(name = \"a\") OR (name = \"b\") OR (labels.terrace-workspace = \"ws\" AND labels.terrace-stack = \"networks_seu_sa\")"
        );
        let any_stack = Ownership::workspace_wide("ws");
        assert_eq!(
            filter_for(def, &wanted, Some(&any_stack)).unwrap(),
            "(name = \"a\") OR (name = \"b\") OR (labels.terrace-workspace = \"ws\")",
            "a workspace-wide owner leaves the stack label open"
        );
        let firewall = by_type("gcp:compute:Firewall").unwrap();
        assert_eq!(filter_for(firewall, &wanted, Some(&owner())), None);
    }
}
