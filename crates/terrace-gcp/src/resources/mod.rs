//! The resource types, table-driven: each [`KindDef`] says which Compute collection holds a
//! type (and so where it lives: global, regional, zonal), how ownership is written (labels or
//! description only), how each field is updated in place (PATCH, setLabels, a dedicated
//! method, or not at all: replaced), which attributes it computes, and the few hooks of types
//! that really differ (request-body defaults, waiting for a group's VMs). Schemas, request
//! bodies, read-back properties and the calls made all come from this one table; adding a
//! type is one line in `api::collections` and one entry in [`table::KINDS`].

pub mod hooks;
pub mod table;

pub use crate::api::collections::Scope;
use crate::api::{Collection, Kind};
use serde_json::{Map, Value as Json};
use terrace_provider::{ApiClasses, FieldKind, FieldSchema, ResourceSchema};

/// How a field behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Changing it replaces the resource.
    ForceNew,
    /// Changed in place with PATCH.
    Patch,
    /// The `labels` map, changed in place with setLabels.
    Labels,
    /// A subnetwork's `privateIpGoogleAccess`, changed in place only by
    /// `subnetworks.setPrivateIpGoogleAccess` ("updated using setPrivateIpGoogleAccess",
    /// Compute's `Subnetwork` reference; `subnetworks.patch` refuses it).
    PrivateIpGoogleAccess,
}

/// One settable field.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub kind: FieldKind,
    pub required: bool,
    pub mode: Mode,
    /// Compute adds defaults inside the value at some depth: compared by the leaves a template
    /// sets, so those defaults never show as perpetual changes (`FieldSchema::cloud_defaults`).
    pub cloud_defaults: bool,
}

/// Adds Compute's request-body defaults Terrace wants (before an insert).
pub type Prepare = fn(&mut Map<String, Json>);

/// What a resource still waits for after its operation is DONE (`None`: settled), from its
/// Compute JSON; polled until settled within `operation_timeout`.
pub type Unsettled = fn(&Json) -> Option<String>;

/// One resource type.
#[derive(Debug, Clone, Copy)]
pub struct KindDef {
    pub type_name: &'static str,
    /// The Compute collection and its calls (`api::collections`).
    pub calls: &'static dyn Collection,
    /// The resource has top-level `labels`: ownership is written there too.
    pub labels: bool,
    /// PATCH must quote the current `fingerprint`.
    pub fingerprint: bool,
    pub fields: &'static [Field],
    /// Attributes the type computes besides [`COMPUTED`]: `(name, JSON pointer into
    /// Compute's resource)`.
    pub attributes: &'static [(&'static str, &'static str)],
    /// Request-body defaults of an insert.
    pub prepare: Option<Prepare>,
    /// Waited for after an insert or an update.
    pub unsettled: Option<Unsettled>,
}

/// The API classes of every type, for rate limits.
pub const READ_CLASS: &str = "gcp:compute:read";
pub const MUTATE_CLASS: &str = "gcp:compute:mutate";

/// Attributes every type computes.
pub const COMPUTED: &[&str] = &["self_link", "name", "gce_id", "creation_timestamp"];

impl Kind for KindDef {
    fn name(&self) -> &'static str {
        KindDef::name(self)
    }

    fn calls(&self) -> &'static dyn Collection {
        self.calls
    }
}

impl KindDef {
    /// Where resources of the type live (its collection's scope).
    pub fn scope(&self) -> Scope {
        self.calls.scope()
    }

    /// The short name used in messages (`Subnetwork` for `gcp:compute:Subnetwork`).
    pub fn name(&self) -> &'static str {
        self.type_name.rsplit(':').next().unwrap_or(self.type_name)
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The Terrace schema of this type.
    pub fn schema(&self) -> ResourceSchema {
        let mut fields: Vec<FieldSchema> =
            vec![FieldSchema::input("name", FieldKind::String).force_new()];
        for f in self.fields {
            let mut schema = FieldSchema::input(f.name, f.kind);
            schema.required = f.required;
            schema.force_new = f.mode == Mode::ForceNew;
            schema.cloud_defaults = f.cloud_defaults;
            schema.sensitive = table::WRITE_ONLY.contains(&f.name);
            fields.push(schema);
        }
        for name in COMPUTED.iter().filter(|n| **n != "name") {
            fields.push(FieldSchema::computed(name, FieldKind::String));
        }
        for (name, _) in self.attributes {
            if !fields.iter().any(|f| f.name == *name) {
                fields.push(FieldSchema::computed(name, FieldKind::String));
            }
        }
        ResourceSchema {
            type_name: self.type_name.to_string(),
            fields,
            api: ApiClasses {
                read: READ_CLASS.into(),
                mutate: MUTATE_CLASS.into(),
            },
            regional: self.scope() != Scope::Global,
        }
    }

    /// Fields changed in place by PATCH.
    pub fn patchable(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| f.mode == Mode::Patch)
    }
}

/// The definition of a type by its full name.
pub fn by_type(type_name: &str) -> Option<&'static KindDef> {
    table::KINDS.iter().find(|k| k.type_name == type_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The table agrees with the collections it names: a type with fields changed in place by
    /// PATCH has patch, a labelled type has setLabels, names are unique.
    #[test]
    fn the_table_only_asks_its_collections_for_methods_they_have() {
        let mut names = BTreeSet::new();
        for def in table::KINDS {
            assert!(names.insert(def.type_name), "{} twice", def.type_name);
            let has = |mode| def.fields.iter().any(|f| f.mode == mode);
            assert!(
                !has(Mode::Patch) || def.calls.has_patch(),
                "{}: PATCH fields, but {:?} has no patch",
                def.type_name,
                def.calls
            );
            assert_eq!(has(Mode::Labels), def.labels, "{}", def.type_name);
            assert!(
                !def.labels || def.calls.has_set_labels(),
                "{}: labels, but {:?} has no setLabels",
                def.type_name,
                def.calls
            );
            assert_eq!(by_type(def.type_name).map(|d| d.name()), Some(def.name()));
        }
        assert_eq!(
            by_type("gcp:compute:RegionInstanceGroupManager").map(|d| d.scope()),
            Some(Scope::Regional)
        );
        assert_eq!(
            by_type("gcp:compute:Instance").map(|d| (d.name(), d.scope())),
            Some(("Instance", Scope::Zonal))
        );
    }
}
