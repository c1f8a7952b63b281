//! Mock providers: the real providers' names and schemas (so validation is the real one),
//! answering from an in-memory cloud. A create returns a predictable id and a mocked value for
//! every attribute the cloud would compute or default: `mock:<stack>:<resource>` and
//! `mock:<stack>:<resource>.<field>` for text, `0`, `false`, `[]` and `{}` for the other
//! kinds, unless a test's `mocks:` gives a value for that type and field. Nothing leaves the
//! process.

use crate::provider::{
    CreateRequest, DeleteRequest, ErrorKind, FieldKind, Observed, Properties, Provider,
    ProviderError, ReadRequest, Registry, ResourceSchema, UpdateRequest,
};
use crate::state::memory::MemoryBackend;
use crate::state::Backend;
use crate::testing::{FakeCloud, StoredResource};
use async_trait::async_trait;
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Attribute values a test sets: resource type → field → value.
pub type Mocks = BTreeMap<String, Properties>;

/// One test's mocked clouds and state: the resources created so far, the stacks' states, and
/// the mocked values in force.
pub struct MockWorld {
    cloud: FakeCloud,
    state: Arc<MemoryBackend>,
    creates: Mutex<HashMap<String, usize>>,
    mocks: Mutex<Mocks>,
}

impl MockWorld {
    /// An empty world.
    pub fn new() -> Arc<MockWorld> {
        Arc::new(MockWorld {
            cloud: FakeCloud::in_memory(),
            state: Arc::new(MemoryBackend::new()),
            creates: Mutex::default(),
            mocks: Mutex::default(),
        })
    }

    /// The stacks' states (in memory).
    pub fn state(&self) -> Arc<dyn Backend> {
        self.state.clone()
    }

    /// Sets the mocked values used by later creates and updates.
    pub fn set_mocks(&self, mocks: &Mocks) {
        *self.mocks.lock().expect("mocks lock") = mocks.clone();
    }

    /// Every resource that exists, sorted by id.
    pub fn resources(&self) -> Vec<StoredResource> {
        self.cloud.list().unwrap_or_default()
    }

    /// A registry of mock providers mirroring `schemas`' providers, all answering from this
    /// world.
    pub fn registry(self: &Arc<MockWorld>, schemas: &Registry) -> Registry {
        let mut registry = Registry::new();
        for provider in schemas.providers() {
            registry.register(Arc::new(MockProvider {
                name: provider.name().to_string(),
                schemas: provider.schemas(),
                world: self.clone(),
            }));
        }
        registry
    }

    /// `mock:<stack>:<resource>`, then `…#2`, `…#3` for later creates of the same resource
    /// (a replace), so a create-before-destroy never collides with the old resource.
    fn new_id(&self, stack: &str, resource: &str) -> String {
        let base = format!("mock:{stack}:{resource}");
        let mut creates = self.creates.lock().expect("creates lock");
        let count = creates.entry(base.clone()).or_default();
        *count += 1;
        if *count == 1 {
            base
        } else {
            format!("{base}#{count}")
        }
    }

    /// Mocked values of the fields the cloud computes, or defaults because `properties`
    /// leaves them unset.
    fn attributes(
        &self,
        schema: &ResourceSchema,
        properties: &Properties,
        id: &str,
        keep: &Properties,
    ) -> Properties {
        let mocks = self.mocks.lock().expect("mocks lock");
        let given = mocks.get(&schema.type_name);
        schema
            .fields
            .iter()
            .filter(|f| f.computed || !properties.contains_key(&f.name))
            .map(|f| {
                let value = given
                    .and_then(|g| g.get(&f.name))
                    .or_else(|| keep.get(&f.name))
                    .cloned()
                    .unwrap_or_else(|| default_value(f.kind, &format!("{id}.{}", f.name)));
                (f.name.clone(), value)
            })
            .collect()
    }
}

fn default_value(kind: FieldKind, text: &str) -> Json {
    match kind {
        FieldKind::Number => json!(0),
        FieldKind::Bool => json!(false),
        FieldKind::List => json!([]),
        FieldKind::Map | FieldKind::StringMap => json!({}),
        FieldKind::Cidr => json!("10.0.0.0/16"),
        // String, Any, and kinds a later contract adds: a string names the value.
        _ => json!(text),
    }
}

/// A provider with a real provider's name and schemas whose cloud is a [`MockWorld`].
struct MockProvider {
    name: String,
    schemas: Vec<ResourceSchema>,
    world: Arc<MockWorld>,
}

impl MockProvider {
    fn schema(&self, type_name: &str) -> Result<&ResourceSchema, ProviderError> {
        self.schemas
            .iter()
            .find(|s| s.type_name == type_name)
            .ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::Invalid,
                    "UnknownType",
                    format!("no type {type_name}"),
                )
            })
    }
}

#[async_trait]
impl Provider for MockProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        self.schemas.clone()
    }

    /// Any stack configuration (an assumed role, a project): the mock has one cloud, which
    /// every account and project of the workspace shares (ids are unique in it).
    fn configure(&self, _config: &Properties) -> Result<Arc<dyn Provider>, ProviderError> {
        Ok(Arc::new(MockProvider {
            name: self.name.clone(),
            schemas: self.schemas.clone(),
            world: self.world.clone(),
        }))
    }

    async fn read(&self, request: ReadRequest) -> Result<Vec<Observed>, ProviderError> {
        self.world.cloud.read(&request, None)
    }

    async fn create(&self, request: CreateRequest) -> Result<Observed, ProviderError> {
        let schema = self.schema(&request.type_name)?;
        let id = self
            .world
            .new_id(&request.ownership.stack, &request.ownership.resource);
        let attributes =
            self.world
                .attributes(schema, &request.properties, &id, &Properties::new());
        let stored = StoredResource {
            id,
            type_name: request.type_name,
            region: request.region,
            properties: request.properties,
            attributes,
            ownership: request.ownership,
            account: None,
        };
        self.world.cloud.insert(&stored, None)?;
        Ok(stored.observed())
    }

    async fn update(&self, request: UpdateRequest) -> Result<Observed, ProviderError> {
        let schema = self.schema(&request.type_name)?;
        let mut stored = self.world.cloud.get(&request.id)?.ok_or_else(|| {
            ProviderError::new(
                ErrorKind::NotFound,
                "NotFound",
                format!("{} {} does not exist", request.type_name, request.id),
            )
        })?;
        stored.attributes =
            self.world
                .attributes(schema, &request.new, &stored.id, &stored.attributes);
        stored.properties = request.new;
        self.world.cloud.insert(&stored, None)?;
        Ok(stored.observed())
    }

    async fn delete(&self, request: DeleteRequest) -> Result<(), ProviderError> {
        self.world.cloud.remove(&request.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Ownership;

    fn create(world: &Arc<MockWorld>, resource: &str, properties: Json) -> Observed {
        let mut schemas = Registry::new();
        schemas.register(Arc::new(crate::testing::TestProvider::in_memory(
            Default::default(),
        )));
        let registry = world.registry(&schemas);
        let provider = registry.provider("test").unwrap().clone();
        let request = CreateRequest {
            type_name: "test:LoadBalancer".into(),
            region: Some("eu-1".into()),
            properties: properties.as_object().unwrap().clone(),
            ownership: Ownership {
                workspace: "w".into(),
                stack: "proxies/eu".into(),
                resource: resource.into(),
            },
            idempotency_key: "k".into(),
        };
        futures::executor::block_on(provider.create(request)).unwrap()
    }

    #[test]
    fn creates_get_predictable_ids_and_mocked_attributes() {
        let world = MockWorld::new();
        let lb = create(&world, "lb", json!({"port": 5432}));
        assert_eq!(lb.id, "mock:proxies/eu:lb");
        assert_eq!(
            lb.attributes["endpoint"],
            json!("mock:proxies/eu:lb.endpoint")
        );
        assert_eq!(lb.attributes["public"], json!(false), "unset: defaulted");
        assert_eq!(lb.attributes["targets"], json!([]));
        assert!(!lb.attributes.contains_key("port"), "set by the template");
        let again = create(&world, "lb", json!({}));
        assert_eq!(
            again.id, "mock:proxies/eu:lb#2",
            "a replacement is another resource"
        );
        world.set_mocks(&BTreeMap::from([(
            "test:LoadBalancer".to_string(),
            json!({"endpoint": "db.example.com"})
                .as_object()
                .unwrap()
                .clone(),
        )]));
        let mocked = create(&world, "other", json!({}));
        assert_eq!(mocked.attributes["endpoint"], json!("db.example.com"));
        assert_eq!(world.resources().len(), 3);
    }
}
