//! `gcp:resourcemanager:Project` through the official `google-cloud-resourcemanager-v3`
//! client: create (a long-running operation), read, update of `display_name` and `labels`
//! (`updateMask`), delete (the project goes to `DELETE_REQUESTED`).
//!
//! Resource Manager has no `requestId`: a create is made idempotent by the project id itself
//! (a second create of the same id is refused with 409 and adopted when its ownership labels
//! match). Reads get projects by id, and list the projects of the `project_parent` setting
//! to find them by ownership labels.

use crate::client::{CallError, CredentialsMode, Retry, Settings};
use crate::ownership;
use google_cloud_lro::Poller;
use google_cloud_resourcemanager_v3::client::Projects;
use google_cloud_resourcemanager_v3::model::{project::State, Project};
use serde_json::{json, Map, Value as Json};
use std::collections::HashMap;
use terrace::provider::{
    ApiClasses, ErrorKind, FieldKind, FieldSchema, Observed, Ownership, Properties, ProviderError,
    ResourceSchema,
};
use tokio::sync::OnceCell;

pub const TYPE: &str = "gcp:resourcemanager:Project";
const READ_CLASS: &str = "gcp:resourcemanager:read";
const MUTATE_CLASS: &str = "gcp:resourcemanager:mutate";

/// The schema: `project_id` and `parent` force a new project; `display_name` and `labels`
/// change in place.
pub fn schema() -> ResourceSchema {
    use FieldKind::{Map as MapKind, String};
    ResourceSchema {
        type_name: TYPE.into(),
        fields: vec![
            FieldSchema::input("project_id", String)
                .required()
                .force_new(),
            FieldSchema::input("parent", String).force_new(),
            FieldSchema::input("display_name", String),
            FieldSchema::input("labels", MapKind),
            FieldSchema::computed("name", String),
            FieldSchema::computed("project_number", String),
            FieldSchema::computed("state", String),
        ],
        api: ApiClasses {
            read: READ_CLASS.into(),
            mutate: MUTATE_CLASS.into(),
        },
        regional: false,
    }
}

/// Default rates of the Resource Manager classes.
pub fn rate_limits() -> Vec<terrace::provider::RateLimit> {
    vec![
        terrace::provider::RateLimit {
            class: READ_CLASS.into(),
            per_second: 5.0,
            burst: 5,
        },
        terrace::provider::RateLimit {
            class: MUTATE_CLASS.into(),
            per_second: 1.0,
            burst: 2,
        },
    ]
}

fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, "invalid", message)
}

/// Resource Manager for one provider.
pub struct ResourceManager {
    settings: Settings,
    retry: Retry,
    client: OnceCell<Projects>,
}

impl ResourceManager {
    pub fn new(settings: Settings, waits: crate::waits::Waits) -> ResourceManager {
        ResourceManager {
            retry: Retry::from_settings(&settings, waits),
            settings,
            client: OnceCell::new(),
        }
    }

    async fn client(&self) -> Result<&Projects, CallError> {
        self.client
            .get_or_try_init(|| async {
                let backoff =
                    google_cloud_gax::exponential_backoff::ExponentialBackoffBuilder::new()
                        .with_initial_delay(self.settings.polling_interval)
                        .with_maximum_delay(
                            self.settings
                                .polling_interval
                                .max(self.settings.max_backoff),
                        )
                        .clamp();
                let mut builder = Projects::builder()
                    .with_retry_policy(google_cloud_gax::retry_policy::NeverRetry)
                    .with_polling_backoff_policy(backoff)
                    .with_attempt_timeout(self.settings.attempt_timeout);
                if let Some(endpoint) = &self.settings.endpoint {
                    builder = builder.with_endpoint(endpoint.clone());
                }
                if self.settings.credentials == CredentialsMode::Anonymous {
                    builder = builder.with_credentials(
                        google_cloud_auth::credentials::anonymous::Builder::new().build(),
                    );
                }
                builder.build().await.map_err(|e| CallError {
                    http_status: None,
                    reason: "clientConfiguration".into(),
                    message: e.to_string(),
                    maybe_sent: false,
                })
            })
            .await
    }

    fn parent(&self, props: Option<&Properties>) -> Option<String> {
        props
            .and_then(|p| p.get("parent"))
            .and_then(Json::as_str)
            .map(str::to_string)
            .or_else(|| self.settings.project_parent.clone())
    }

    /// Every active project of the parent, page by page.
    async fn list(&self) -> Result<Vec<Project>, CallError> {
        let client = self.client().await?;
        let parent = self.parent(None);
        let parent = parent.as_deref().unwrap_or_default();
        let mut all = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .retry
                .run("list projects", || async {
                    client
                        .list_projects()
                        .set_parent(parent)
                        .set_page_token(token.clone())
                        .send()
                        .await
                        .map_err(CallError::from)
                })
                .await?;
            all.extend(page.projects);
            if page.next_page_token.is_empty() {
                return Ok(all);
            }
            token = page.next_page_token;
        }
    }

    /// Projects by id (one `get` each: Resource Manager has no batched get, and a stack holds
    /// one or two projects) and by owner labels (one `list` per page of the parent's projects;
    /// without a parent nothing can be listed, and a repeated create adopts by project id).
    pub async fn read(
        &self,
        ids: &[String],
        owner: Option<&Ownership>,
    ) -> Result<Vec<Observed>, ProviderError> {
        let mut found: Vec<Observed> = Vec::new();
        for id in ids {
            if let Some(p) = self.find(id).await.map_err(|e| e.into_provider(false))? {
                found.push(observe(&p));
            }
        }
        if let (Some(wanted), Some(_)) = (owner, self.parent(None)) {
            let projects = self.list().await.map_err(|e| e.into_provider(false))?;
            for o in projects
                .iter()
                .filter(|p| p.state != State::DeleteRequested)
                .map(observe)
            {
                let mine = o
                    .ownership
                    .as_ref()
                    .is_some_and(|f| ownership::matches(f, wanted));
                if mine && !found.iter().any(|f| f.id == o.id) {
                    found.push(o);
                }
            }
        }
        Ok(found)
    }

    /// An active project by id.
    async fn find(&self, project_id: &str) -> Result<Option<Project>, CallError> {
        let found = self.find_any(project_id).await?;
        Ok(found.filter(|p| p.state != State::DeleteRequested))
    }

    /// A project by id, whatever its state.
    async fn find_any(&self, project_id: &str) -> Result<Option<Project>, CallError> {
        let client = self.client().await?;
        let name = format!("projects/{project_id}");
        match self
            .retry
            .run("get project", || async {
                client
                    .get_project()
                    .set_name(name.clone())
                    .send()
                    .await
                    .map_err(CallError::from)
            })
            .await
        {
            Ok(p) => Ok(Some(p)),
            Err(e) if e.is_not_found() || e.http_status == Some(403) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn create(
        &self,
        props: &Properties,
        owner: &Ownership,
    ) -> Result<Observed, ProviderError> {
        let project_id = props
            .get("project_id")
            .and_then(Json::as_str)
            .ok_or_else(|| invalid("a project needs `project_id`"))?
            .to_string();
        let project = Project::new()
            .set_project_id(project_id.clone())
            .set_parent(self.parent(Some(props)).unwrap_or_default())
            .set_display_name(
                props
                    .get("display_name")
                    .and_then(Json::as_str)
                    .unwrap_or_default(),
            )
            .set_labels(labels(props, owner)?);
        let client = self.client().await.map_err(|e| e.into_provider(true))?;
        let created = self
            .retry
            .run("create project", || async {
                client
                    .create_project()
                    .set_project(project.clone())
                    .poller()
                    .until_done()
                    .await
                    .map_err(CallError::from)
            })
            .await;
        match created {
            Ok(p) => Ok(observe(&p)),
            Err(e) if e.http_status == Some(409) || e.reason == "alreadyExists" => {
                let existing = self
                    .find(&project_id)
                    .await
                    .map_err(|e| e.into_provider(false))?;
                existing
                    .map(|p| observe(&p))
                    .filter(|o| {
                        o.ownership
                            .as_ref()
                            .is_some_and(|f| ownership::matches(f, owner))
                    })
                    .ok_or_else(|| e.into_provider(true))
            }
            Err(e) => Err(e.into_provider(true)),
        }
    }

    pub async fn update(
        &self,
        id: &str,
        new: &Properties,
        owner: &Ownership,
    ) -> Result<Observed, ProviderError> {
        let project = Project::new()
            .set_name(format!("projects/{id}"))
            .set_display_name(
                new.get("display_name")
                    .and_then(Json::as_str)
                    .unwrap_or_default(),
            )
            .set_labels(labels(new, owner)?);
        let mask = google_cloud_wkt::FieldMask::default().set_paths(["display_name", "labels"]);
        let client = self.client().await.map_err(|e| e.into_provider(true))?;
        let updated = self
            .retry
            .run("update project", || async {
                client
                    .update_project()
                    .set_project(project.clone())
                    .set_update_mask(mask.clone())
                    .poller()
                    .until_done()
                    .await
                    .map_err(CallError::from)
            })
            .await
            .map_err(|e| e.into_provider(true))?;
        Ok(observe(&updated))
    }

    /// Requests the deletion; a project already gone or already being deleted is deleted.
    pub async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        if self
            .find(id)
            .await
            .map_err(|e| e.into_provider(false))?
            .is_none()
        {
            return Ok(());
        }
        let client = self.client().await.map_err(|e| e.into_provider(true))?;
        let name = format!("projects/{id}");
        let deleted = self
            .retry
            .run("delete project", || async {
                client
                    .delete_project()
                    .set_name(name.clone())
                    .poller()
                    .until_done()
                    .await
                    .map_err(CallError::from)
            })
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() || e.http_status == Some(403) => Ok(()),
            // A retry after an answer lost on the way back finds the project no longer ACTIVE
            // (400 "Project … is not active"): the first attempt deleted it.
            Err(e) => match self.find(id).await {
                Ok(None) => Ok(()),
                _ => Err(e.into_provider(true)),
            },
        }
    }
}

fn labels(props: &Properties, owner: &Ownership) -> Result<HashMap<String, String>, ProviderError> {
    let mut out = HashMap::new();
    if let Some(given) = props.get("labels").filter(|v| !v.is_null()) {
        let given = given
            .as_object()
            .ok_or_else(|| invalid("labels must be a map"))?;
        for (k, v) in given {
            if ownership::is_ownership_label(k) {
                return Err(invalid(format!(
                    "label `{k}` is reserved for Terrace's ownership"
                )));
            }
            let v = v
                .as_str()
                .ok_or_else(|| invalid(format!("label `{k}` must be a string")))?;
            out.insert(k.clone(), v.to_string());
        }
    }
    out.extend(ownership::labels(owner));
    Ok(out)
}

/// A project as Terrace sees it; its id is the project id.
fn observe(project: &Project) -> Observed {
    let all: Map<String, Json> = project
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let user: Map<String, Json> = all
        .iter()
        .filter(|(k, _)| !ownership::is_ownership_label(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut properties = Properties::new();
    properties.insert("project_id".into(), json!(project.project_id));
    if !project.parent.is_empty() {
        properties.insert("parent".into(), json!(project.parent));
    }
    properties.insert("display_name".into(), json!(project.display_name));
    properties.insert("labels".into(), Json::Object(user));
    let mut attributes = Properties::new();
    attributes.insert("name".into(), json!(project.name));
    let number = project.name.strip_prefix("projects/").unwrap_or_default();
    attributes.insert("project_number".into(), json!(number));
    attributes.insert(
        "state".into(),
        json!(project.state.name().unwrap_or_default()),
    );
    Observed {
        id: project.project_id.clone(),
        properties,
        attributes,
        ownership: ownership::from_labels(&all),
    }
}
