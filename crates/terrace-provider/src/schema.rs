//! Resource type schemas: the fields a type accepts, which are required, which force a
//! replacement when they change, which the cloud computes, and which API class each operation
//! belongs to (for rate limiting).

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// The shape of a field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FieldKind {
    /// A string.
    String,
    /// A number.
    Number,
    /// A boolean.
    Bool,
    /// A list.
    List,
    /// A map.
    Map,
    /// A map whose values are strings: tags and labels (a number there fails at the cloud).
    StringMap,
    /// A string holding a CIDR block, its network address (`10.16.0.0/16`).
    Cidr,
    /// Any JSON value.
    Any,
}

impl FieldKind {
    /// True when a known JSON value has this shape.
    pub fn accepts(self, value: &Json) -> bool {
        self.problem(value).is_none()
    }

    /// What is wrong with a value for a field of this kind, and what would fix it; `None`
    /// when it fits. A string holding a reference (`${…}`) is known only at apply and fits
    /// any kind; so does such a value inside a map of strings.
    pub fn problem(self, value: &Json) -> Option<(String, String)> {
        let is_reference = |v: &Json| v.as_str().is_some_and(crate::has_reference);
        if is_reference(value) {
            return None;
        }
        let fits = match self {
            FieldKind::Any => true,
            FieldKind::String => value.is_string(),
            FieldKind::Number => value.is_number(),
            FieldKind::Bool => value.is_boolean(),
            FieldKind::List => value.is_array(),
            FieldKind::Map => value.is_object(),
            FieldKind::StringMap => {
                let Some(map) = value.as_object() else {
                    return Some(self.mismatch(value));
                };
                let (key, bad) = map.iter().find(|(_, v)| !v.is_string())?;
                return Some((
                    format!("the value of `{key}` must be a string, not {}", shape(bad)),
                    format!("quote it: `{key}: \"{}\"`", plain(bad)),
                ));
            }
            FieldKind::Cidr => {
                let Some(text) = value.as_str() else {
                    return Some(self.mismatch(value));
                };
                return crate::cidr::parse(text).err().map(|p| (p.message, p.help));
            }
        };
        (!fits).then(|| self.mismatch(value))
    }

    fn mismatch(self, value: &Json) -> (String, String) {
        (
            format!("must be {self}, not {}", shape(value)),
            format!("write {self}"),
        )
    }
}

impl std::fmt::Display for FieldKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FieldKind::String => "a string",
            FieldKind::Number => "a number",
            FieldKind::Bool => "true or false",
            FieldKind::List => "a list",
            FieldKind::Map => "a map",
            FieldKind::StringMap => "a map of strings",
            FieldKind::Cidr => "a CIDR block (e.g. 10.16.0.0/16)",
            FieldKind::Any => "a value",
        })
    }
}

/// "a number", "a list", … for messages.
fn shape(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "true or false",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "a map",
    }
}

/// A scalar as it would be written inside quotes.
fn plain(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One field of a resource type.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FieldSchema {
    /// Field name.
    pub name: String,
    /// Shape of its value.
    pub kind: FieldKind,
    /// Must be set in properties.
    #[serde(default)]
    pub required: bool,
    /// Changing it replaces the resource.
    #[serde(default)]
    pub force_new: bool,
    /// Set by the cloud; an attribute, not settable in properties.
    #[serde(default)]
    pub computed: bool,
    /// A list whose order carries no meaning (ids the cloud reports sorted): compared as a
    /// set, so the order written in a template never shows as a change.
    #[serde(default)]
    pub unordered: bool,
    /// The cloud allows one resource with this value at a time — in the type's region and
    /// account, and within the value of each field listed (a security group name within its
    /// VPC: `["vpc_id"]`). A replacement keeping the value cannot be created before the old
    /// resource is deleted. `None`: any number may share it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_within: Option<Vec<String>>,
    /// A computed attribute that an in-place update changes (a launch template's
    /// `latest_version_number`): unknown in the plan of an update, so that what references
    /// it sees the change and is updated in the same apply (Terraform's providers mark such
    /// attributes with `SetNewComputed` when the update is planned).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub changes_on_update: bool,
    /// A nested value the cloud completes with defaults at some depth (a Compute instance
    /// template's `properties`, a backend service's `backends`): the cloud's value matches a
    /// desired one when it holds every leaf the desired value sets
    /// (the engine's `plan::compare::covers`); the leaves it adds are not changes or drift, and an
    /// import records only the leaves a template sets. Terraform's providers get the same effect
    /// per attribute with `Optional + Computed` nested fields.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cloud_defaults: bool,
    /// A value that is a secret wherever it comes from (a VPN tunnel's pre-shared key the
    /// cloud generates): the engine seals what the provider answers for it before it reaches
    /// state, plans or events, and needs the workspace's secrets key to do so (Terraform's
    /// `Sensitive: true`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
}

impl FieldSchema {
    /// An optional settable field.
    pub fn input(name: &str, kind: FieldKind) -> Self {
        FieldSchema {
            name: name.into(),
            kind,
            required: false,
            force_new: false,
            computed: false,
            unordered: false,
            unique_within: None,
            changes_on_update: false,
            cloud_defaults: false,
            sensitive: false,
        }
    }

    /// Marks a nested field as completed with defaults by the cloud (see
    /// [`FieldSchema::cloud_defaults`]).
    pub fn cloud_defaults(mut self) -> Self {
        self.cloud_defaults = true;
        self
    }

    /// Marks the field as a secret (see [`FieldSchema::sensitive`]).
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// Marks a computed attribute as changed by every in-place update of the resource.
    pub fn changes_on_update(mut self) -> Self {
        self.changes_on_update = true;
        self
    }

    /// Marks the field as unique in its type's region and account, and within the values of
    /// `scope` (other fields of the resource).
    pub fn unique_within(mut self, scope: &[&str]) -> Self {
        self.unique_within = Some(scope.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Marks the field as required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Marks a list field as compared without regard to order.
    pub fn unordered(mut self) -> Self {
        self.unordered = true;
        self
    }

    /// Marks the field as forcing a replacement when it changes.
    pub fn force_new(mut self) -> Self {
        self.force_new = true;
        self
    }

    /// An attribute the cloud computes.
    pub fn computed(name: &str, kind: FieldKind) -> Self {
        FieldSchema {
            name: name.into(),
            kind,
            required: false,
            force_new: false,
            computed: true,
            unordered: false,
            unique_within: None,
            changes_on_update: false,
            cloud_defaults: false,
            sensitive: false,
        }
    }
}

/// The API classes of a type's operations, for per-class rate limits (e.g. EC2 describe vs
/// RunInstances).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiClasses {
    /// API class of batched reads.
    pub read: String,
    /// API class of create, update and delete.
    pub mutate: String,
}

/// The schema of one resource type.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResourceSchema {
    /// Full type name, `<provider>:<service>:<Kind>` or `<provider>:<Kind>`.
    pub type_name: String,
    /// The fields of the type.
    pub fields: Vec<FieldSchema>,
    /// API classes of the type's operations.
    pub api: ApiClasses,
    /// True when resources of this type live in a region.
    pub regional: bool,
}

impl ResourceSchema {
    /// The field of that name.
    pub fn field(&self, name: &str) -> Option<&FieldSchema> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Names of settable fields.
    pub fn input_names(&self) -> impl Iterator<Item = &str> + Clone {
        self.fields
            .iter()
            .filter(|f| !f.computed)
            .map(|f| f.name.as_str())
    }

    /// Names of every attribute a reference may read: inputs, computed fields and `id`.
    pub fn attribute_names(&self) -> impl Iterator<Item = &str> + Clone {
        std::iter::once("id").chain(self.fields.iter().map(|f| f.name.as_str()))
    }
}

/// `cloud` cut down to the leaves one of `shapes` sets (for a field marked
/// [`FieldSchema::cloud_defaults`]): maps keep the keys a shape has, lists keep every item (an
/// extra item is a real difference) and cut each by the shapes' item at its index; any other
/// value as it is.
pub fn project(cloud: &serde_json::Value, shapes: &[&serde_json::Value]) -> serde_json::Value {
    use serde_json::Value as Json;
    match cloud {
        Json::Object(items) => {
            let maps: Vec<&serde_json::Map<String, Json>> =
                shapes.iter().filter_map(|s| s.as_object()).collect();
            if maps.is_empty() {
                return cloud.clone();
            }
            items
                .iter()
                .filter(|(key, _)| maps.iter().any(|m| m.contains_key(*key)))
                .map(|(key, value)| {
                    let inner: Vec<&Json> = maps.iter().filter_map(|m| m.get(key)).collect();
                    (key.clone(), project(value, &inner))
                })
                .collect::<serde_json::Map<_, _>>()
                .into()
        }
        Json::Array(items) => {
            let lists: Vec<&Vec<Json>> = shapes.iter().filter_map(|s| s.as_array()).collect();
            if lists.is_empty() {
                return cloud.clone();
            }
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let inner: Vec<&Json> = lists.iter().filter_map(|l| l.get(i)).collect();
                    if inner.is_empty() {
                        item.clone()
                    } else {
                        project(item, &inner)
                    }
                })
                .collect::<Vec<_>>()
                .into()
        }
        other => other.clone(),
    }
}
