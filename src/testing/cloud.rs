//! The test provider's fake cloud: resources by id, idempotency tokens, in memory or one file
//! per resource in a directory (safe for several processes: files are created atomically).

use crate::provider::{ErrorKind, Observed, Ownership, Properties, ProviderError, ReadRequest};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::sync::Mutex;

/// One resource of the fake cloud.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredResource {
    /// Cloud id.
    pub id: String,
    /// Resource type, e.g. `aws:ec2:Vpc`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Region, or none for global resources.
    pub region: Option<String>,
    /// Properties (resource inputs).
    pub properties: Properties,
    /// Attributes of the stack's own resources.
    pub attributes: Properties,
    /// Who owns the resource (written as tags/labels).
    pub ownership: Ownership,
    /// The account it lives in (the test provider's stack configuration `account`); none for
    /// the provider's default account. A read sees the resources of its own account only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

impl StoredResource {
    /// The resource as a provider reports it.
    pub fn observed(self) -> Observed {
        Observed {
            id: self.id,
            properties: self.properties,
            attributes: self.attributes,
            ownership: Some(self.ownership),
        }
    }
}

enum Store {
    Memory {
        resources: HashMap<String, StoredResource>,
        tokens: HashMap<String, String>,
    },
    Dir(PathBuf),
}

/// The fake cloud.
pub struct FakeCloud {
    store: Mutex<Store>,
}

fn io(err: std::io::Error) -> ProviderError {
    ProviderError::new(ErrorKind::Other, "FakeCloudIo", err.to_string())
}

impl FakeCloud {
    /// A fake cloud in memory.
    pub fn in_memory() -> FakeCloud {
        FakeCloud {
            store: Mutex::new(Store::Memory {
                resources: HashMap::new(),
                tokens: HashMap::new(),
            }),
        }
    }

    /// A fake cloud stored in `dir`, shared by processes.
    pub fn in_dir(dir: PathBuf) -> FakeCloud {
        FakeCloud {
            store: Mutex::new(Store::Dir(dir)),
        }
    }

    /// A fresh id, e.g. `network-3f2a9c1b7d4e`.
    pub fn new_id(&self, type_name: &str) -> String {
        let kind = type_name
            .rsplit(':')
            .next()
            .unwrap_or("res")
            .to_ascii_lowercase();
        format!(
            "{kind}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        )
    }

    /// Every resource, sorted by id.
    pub fn list(&self) -> Result<Vec<StoredResource>, ProviderError> {
        let store = self.store.lock().expect("cloud lock");
        let mut all: Vec<StoredResource> = match &*store {
            Store::Memory { resources, .. } => resources.values().cloned().collect(),
            Store::Dir(dir) => {
                let mut all = Vec::new();
                for entry in fs::read_dir(dir.join("resources"))
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    if let Ok(bytes) = fs::read(entry.path()) {
                        if let Ok(resource) = serde_json::from_slice(&bytes) {
                            all.push(resource);
                        }
                    }
                }
                all
            }
        };
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }

    /// A batched read in `account`: the resources of the request's type and region that it
    /// names by id or that carry its ownership tags ([`Ownership::covers`]).
    pub fn read(
        &self,
        request: &ReadRequest,
        account: Option<&str>,
    ) -> Result<Vec<Observed>, ProviderError> {
        let ids: std::collections::BTreeSet<&String> = request.ids.iter().collect();
        let wanted = |r: &StoredResource| {
            ids.contains(&r.id)
                || request
                    .owner
                    .as_ref()
                    .is_some_and(|o| o.covers(&r.ownership))
        };
        Ok(self
            .list()?
            .into_iter()
            .filter(|r| r.type_name == request.type_name && r.region == request.region)
            .filter(|r| r.account.as_deref() == account)
            .filter(wanted)
            .map(StoredResource::observed)
            .collect())
    }

    /// One resource by id.
    pub fn get(&self, id: &str) -> Result<Option<StoredResource>, ProviderError> {
        let store = self.store.lock().expect("cloud lock");
        match &*store {
            Store::Memory { resources, .. } => Ok(resources.get(id).cloned()),
            Store::Dir(dir) => match fs::read(dir.join("resources").join(format!("{id}.json"))) {
                Ok(bytes) => serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| io(e.into())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io(e)),
            },
        }
    }

    /// The resource an idempotency token created, if any.
    pub fn by_token(&self, token: &str) -> Result<Option<StoredResource>, ProviderError> {
        let id = {
            let store = self.store.lock().expect("cloud lock");
            match &*store {
                Store::Memory { tokens, .. } => tokens.get(token).cloned(),
                Store::Dir(dir) => fs::read_to_string(dir.join("tokens").join(token)).ok(),
            }
        };
        match id {
            Some(id) => self.get(&id),
            None => Ok(None),
        }
    }

    /// Stores a resource (and the token that created it).
    pub fn insert(
        &self,
        resource: &StoredResource,
        token: Option<&str>,
    ) -> Result<(), ProviderError> {
        let mut store = self.store.lock().expect("cloud lock");
        match &mut *store {
            Store::Memory { resources, tokens } => {
                resources.insert(resource.id.clone(), resource.clone());
                if let Some(token) = token {
                    tokens.insert(token.to_string(), resource.id.clone());
                }
                Ok(())
            }
            Store::Dir(dir) => {
                let resources = dir.join("resources");
                fs::create_dir_all(&resources).map_err(io)?;
                let bytes = serde_json::to_vec_pretty(resource).expect("resource serializes");
                let tmp = resources.join(format!(".{}.tmp", resource.id));
                fs::write(&tmp, bytes).map_err(io)?;
                fs::rename(&tmp, resources.join(format!("{}.json", resource.id))).map_err(io)?;
                if let Some(token) = token {
                    let tokens = dir.join("tokens");
                    fs::create_dir_all(&tokens).map_err(io)?;
                    fs::write(tokens.join(token), &resource.id).map_err(io)?;
                }
                Ok(())
            }
        }
    }

    /// Removes a resource; removing a missing one succeeds.
    pub fn remove(&self, id: &str) -> Result<(), ProviderError> {
        let mut store = self.store.lock().expect("cloud lock");
        match &mut *store {
            Store::Memory { resources, .. } => {
                resources.remove(id);
                Ok(())
            }
            Store::Dir(dir) => {
                match fs::remove_file(dir.join("resources").join(format!("{id}.json"))) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(e)),
                    _ => Ok(()),
                }
            }
        }
    }
}
