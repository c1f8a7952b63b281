//! The resource types, table-driven: each [`KindDef`] says where a type lives (global,
//! regional, zonal), how ownership is written (labels or description only), how it is
//! updated in place (patch, setLabels, or not at all) and which fields it takes. Schemas,
//! request bodies and read-back properties all come from this one table.

pub mod table;

use terrace::provider::{ApiClasses, FieldKind, FieldSchema, ResourceSchema};

/// Where resources of a type live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Regional,
    Zonal,
}

/// The Compute collections this provider manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Network,
    Subnetwork,
    Firewall,
    Instance,
    InstanceTemplate,
    RegionInstanceGroupManager,
    RegionAutoscaler,
    HealthCheck,
    RegionHealthCheck,
    BackendService,
    RegionBackendService,
    ForwardingRule,
    GlobalForwardingRule,
    TargetTcpProxy,
    Router,
    VpnGateway,
    ExternalVpnGateway,
    VpnTunnel,
}

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

/// One resource type.
#[derive(Debug, Clone, Copy)]
pub struct KindDef {
    pub kind: Kind,
    pub type_name: &'static str,
    pub scope: Scope,
    /// The resource has top-level `labels`: ownership is written there too.
    pub labels: bool,
    /// PATCH must quote the current `fingerprint`.
    pub fingerprint: bool,
    pub fields: &'static [Field],
}

/// The API classes of every type, for rate limits.
pub const READ_CLASS: &str = "gcp:compute:read";
pub const MUTATE_CLASS: &str = "gcp:compute:mutate";

/// Attributes every type computes.
pub const COMPUTED: &[&str] = &["self_link", "name", "gce_id", "creation_timestamp"];

impl KindDef {
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
        for name in table::extra_attributes(self.kind) {
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
            regional: self.scope != Scope::Global,
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
