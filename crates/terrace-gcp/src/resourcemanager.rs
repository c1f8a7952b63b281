//! `gcp:resourcemanager:Project` through the official `google-cloud-resourcemanager-v3`
//! client: create (a long-running operation), read, update of `display_name` and `labels`
//! (`updateMask`), delete (the project goes to `DELETE_REQUESTED`).
//!
//! A new project is bootstrapped as GCP needs before any Compute call: `billing_account` is
//! linked with the Cloud Billing API (`projects.updateBillingInfo`, `google-cloud-billing-v1`)
//! and each of `services` (e.g. `compute.googleapis.com`) enabled with the Service Usage API
//! (`services.enable`, `google-cloud-api-serviceusage-v1`), whose operation is waited for:
//! enabling needs the billing account, and Compute answers 403 `SERVICE_DISABLED` until the
//! service is enabled. Both are read back (`billingInfo`, the enabled services) and changed in
//! place; services taken out of the list are left enabled (disabling one can break what
//! runs).
//!
//! Resource Manager has no `requestId`: a create is made idempotent by the project id itself
//! (a second create of the same id is refused with 409 and adopted when its ownership labels
//! match). Reads get projects by id, and list the projects of the `project_parent` setting
//! to find them by ownership labels.

use crate::client::{CallError, Retry, Settings};
use crate::ownership;
use google_cloud_api_serviceusage_v1::client::ServiceUsage;
use google_cloud_billing_v1::client::CloudBilling;
use google_cloud_billing_v1::model::ProjectBillingInfo;
use google_cloud_lro::Poller;
use google_cloud_resourcemanager_v3::client::Projects;
use google_cloud_resourcemanager_v3::model::{project::State, Project};
use serde_json::{json, Map, Value as Json};
use std::collections::HashMap;
use terrace_provider::{
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
            // The project's id is `project_id` plus `-` and six random hex digits, kept in
            // state as the resource's id: ids are global and never reused.
            FieldSchema::input("random_suffix", FieldKind::Bool).force_new(),
            FieldSchema::input("display_name", String),
            FieldSchema::input("labels", MapKind),
            // `billingAccounts/XXXXXX-XXXXXX-XXXXXX`.
            FieldSchema::input("billing_account", String),
            // `{compute.googleapis.com: ENABLED}`: the services Terrace enables. A project has
            // others enabled by default; only these are compared.
            FieldSchema::input("services", MapKind).cloud_defaults(),
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
pub fn rate_limits() -> Vec<terrace_provider::RateLimit> {
    vec![
        terrace_provider::RateLimit {
            class: READ_CLASS.into(),
            per_second: 5.0,
            burst: 5,
        },
        terrace_provider::RateLimit {
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
    billing: OnceCell<CloudBilling>,
    usage: OnceCell<ServiceUsage>,
}

/// Builds a Google client of type `$client` with the provider's endpoint, credentials,
/// attempt timeout and no retries of its own (ours run around every call); further builder
/// calls (e.g. `with_polling_backoff_policy(..)`) may follow the settings.
macro_rules! build_client {
    ($client:ty, $settings:expr $(, $method:ident($arg:expr))* $(,)?) => {{
        let settings: &Settings = $settings;
        let mut builder = <$client>::builder()
            .with_retry_policy(google_cloud_gax::retry_policy::NeverRetry)
            .with_attempt_timeout(settings.attempt_timeout)
            $(.$method($arg))*;
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint.clone());
        }
        if let Some(credentials) = settings.client_credentials()? {
            builder = builder.with_credentials(credentials);
        }
        builder.build().await.map_err(|e| CallError {
            http_status: None,
            reason: "clientConfiguration".into(),
            message: e.to_string(),
            maybe_sent: false,
        })
    }};
}
pub(crate) use build_client;

impl ResourceManager {
    pub fn new(settings: Settings, waits: crate::waits::Waits) -> ResourceManager {
        ResourceManager {
            retry: Retry::from_settings(&settings, waits),
            settings,
            client: OnceCell::new(),
            billing: OnceCell::new(),
            usage: OnceCell::new(),
        }
    }

    async fn billing(&self) -> Result<&CloudBilling, CallError> {
        self.billing
            .get_or_try_init(|| async { build_client!(CloudBilling, &self.settings) })
            .await
    }

    async fn usage(&self) -> Result<&ServiceUsage, CallError> {
        self.usage
            .get_or_try_init(|| async { build_client!(ServiceUsage, &self.settings) })
            .await
    }

    /// Links `account` (`billingAccounts/...`) to the project.
    async fn link_billing(&self, id: &str, account: &str) -> Result<(), CallError> {
        let client = self.billing().await?;
        let info = ProjectBillingInfo::new().set_billing_account_name(account);
        self.retry
            .run("link billing account", || async {
                client
                    .update_project_billing_info()
                    .set_name(format!("projects/{id}"))
                    .set_project_billing_info(info.clone())
                    .send()
                    .await
                    .map_err(CallError::from)
            })
            .await
            .map(|_| ())
    }

    /// Enables `service` and waits for its operation: usable once it returns.
    async fn enable(&self, id: &str, service: &str) -> Result<(), CallError> {
        let client = self.usage().await?;
        self.retry
            .run("enable service", || async {
                client
                    .enable_service()
                    .set_name(format!("projects/{id}/services/{service}"))
                    .poller()
                    .until_done()
                    .await
                    .map_err(CallError::from)
            })
            .await
            .map(|_| ())
    }

    /// The linked billing account (empty: none) and the enabled services of a project.
    async fn bootstrap_of(&self, id: &str) -> Result<(String, Vec<String>), CallError> {
        let billing = self.billing().await?;
        let info = self
            .retry
            .run("get billing info", || async {
                billing
                    .get_project_billing_info()
                    .set_name(format!("projects/{id}"))
                    .send()
                    .await
                    .map_err(CallError::from)
            })
            .await?;
        let usage = self.usage().await?;
        let mut services = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .retry
                .run("list enabled services", || async {
                    usage
                        .list_services()
                        .set_parent(format!("projects/{id}"))
                        .set_filter("state:ENABLED")
                        .set_page_token(token.clone())
                        .send()
                        .await
                        .map_err(CallError::from)
                })
                .await?;
            services.extend(
                page.services
                    .iter()
                    .map(|s| s.name.rsplit('/').next().unwrap_or_default().to_string()),
            );
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        services.sort();
        Ok((info.billing_account_name, services))
    }

    /// Links billing and enables the services `props` ask for that `current` lacks.
    async fn bootstrap(
        &self,
        id: &str,
        props: &Properties,
        current: Option<&Observed>,
    ) -> Result<(), CallError> {
        let had = |key: &str| current.and_then(|o| o.properties.get(key));
        if let Some(account) = props.get("billing_account").and_then(Json::as_str) {
            if had("billing_account").and_then(Json::as_str) != Some(account) {
                self.link_billing(id, account).await?;
            }
        }
        let enabled = had("services").and_then(Json::as_object);
        for service in wanted_services(props) {
            if !enabled.is_some_and(|m| m.contains_key(&service)) {
                self.enable(id, &service).await?;
            }
        }
        Ok(())
    }

    /// A project as observed, with its billing account and enabled services.
    async fn observe_bootstrapped(&self, project: &Project) -> Result<Observed, CallError> {
        let mut observed = observe(project);
        let (account, services) = self.bootstrap_of(&project.project_id).await?;
        if !account.is_empty() {
            observed
                .properties
                .insert("billing_account".into(), json!(account));
        }
        let services: Map<String, Json> = services
            .into_iter()
            .map(|s| (s, json!("ENABLED")))
            .collect();
        observed
            .properties
            .insert("services".into(), Json::Object(services));
        Ok(observed)
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
                if let Some(credentials) = self.settings.client_credentials()? {
                    builder = builder.with_credentials(credentials);
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
                let observed = self
                    .observe_bootstrapped(&p)
                    .await
                    .map_err(|e| e.into_provider(false))?;
                found.push(observed);
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
        idempotency_key: &str,
    ) -> Result<Observed, ProviderError> {
        let base = props
            .get("project_id")
            .and_then(Json::as_str)
            .ok_or_else(|| invalid("a project needs `project_id`"))?;
        let suffix = (props.get("random_suffix") == Some(&json!(true)))
            .then(|| random_suffix(idempotency_key));
        let project_id = match &suffix {
            Some(suffix) => format!("{base}-{suffix}"),
            None => base.to_string(),
        };
        check_services(props)?;
        let mut labels = labels(props, owner)?;
        if let Some(suffix) = &suffix {
            labels.insert(SUFFIX_LABEL.into(), suffix.clone());
        }
        let project = Project::new()
            .set_project_id(project_id.clone())
            .set_parent(self.parent(Some(props)).unwrap_or_default())
            .set_display_name(
                props
                    .get("display_name")
                    .and_then(Json::as_str)
                    .unwrap_or_default(),
            )
            .set_labels(labels);
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
        let project = match created {
            Ok(p) => p,
            Err(e) if e.http_status == Some(409) || e.reason == "alreadyExists" => {
                let existing = self
                    .find(&project_id)
                    .await
                    .map_err(|e| e.into_provider(false))?;
                existing
                    .filter(|p| {
                        observe(p)
                            .ownership
                            .as_ref()
                            .is_some_and(|f| ownership::matches(f, owner))
                    })
                    .ok_or_else(|| already_taken(&project_id, e))?
            }
            Err(e) => return Err(e.into_provider(true)),
        };
        // The project exists from here on: a failure is ambiguous (the engine adopts it).
        self.bootstrap(&project_id, props, None)
            .await
            .map_err(|e| e.into_provider(true))?;
        self.observe_bootstrapped(&project)
            .await
            .map_err(|e| e.into_provider(true))
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
            .set_labels(update_labels(id, new, owner)?);
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
        let current = self
            .observe_bootstrapped(&updated)
            .await
            .map_err(|e| e.into_provider(true))?;
        self.bootstrap(id, new, Some(&current))
            .await
            .map_err(|e| e.into_provider(true))?;
        self.observe_bootstrapped(&updated)
            .await
            .map_err(|e| e.into_provider(true))
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

/// The labels of an update: the user's, the ownership's, and the random id suffix kept.
fn update_labels(
    id: &str,
    new: &Properties,
    owner: &Ownership,
) -> Result<HashMap<String, String>, ProviderError> {
    let mut out = labels(new, owner)?;
    if new.get("random_suffix") == Some(&json!(true)) {
        if let Some((_, suffix)) = id.rsplit_once('-') {
            out.insert(SUFFIX_LABEL.into(), suffix.to_string());
        }
    }
    Ok(out)
}

/// The label holding a project's random id suffix (see `random_suffix`).
const SUFFIX_LABEL: &str = "terrace-id-suffix";

/// Six hex digits drawn once per create: derived from the create's idempotency key, which a
/// retry after a lost answer or a crash reuses, so the retry asks for the same id and adopts
/// the project it finds instead of making a second one.
fn random_suffix(idempotency_key: &str) -> String {
    let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, idempotency_key.as_bytes());
    id.simple().to_string()[..6].to_string()
}

/// The services `props` ask to enable (`services: {NAME: ENABLED}`).
fn wanted_services(props: &Properties) -> Vec<String> {
    props
        .get("services")
        .and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .filter(|(_, state)| state.as_str() == Some("ENABLED"))
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// `services` is a map of service names to `ENABLED`.
fn check_services(props: &Properties) -> Result<(), ProviderError> {
    let Some(services) = props.get("services").filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let map = services
        .as_object()
        .ok_or_else(|| invalid("services must be a map: {compute.googleapis.com: ENABLED}"))?;
    match map.iter().find(|(_, v)| v.as_str() != Some("ENABLED")) {
        Some((name, v)) => Err(invalid(format!(
            "services.{name} is {v}: Terrace enables services (write ENABLED) and never disables one"
        ))),
        None => Ok(()),
    }
}

/// A create refused because the project id is taken: project ids are global across every
/// organization and never reused, even once deleted
/// (<https://cloud.google.com/resource-manager/docs/creating-managing-projects>).
fn already_taken(project_id: &str, e: CallError) -> ProviderError {
    ProviderError::new(
        ErrorKind::Conflict,
        "alreadyExists",
        format!(
            "project id `{project_id}` is taken — by another workspace, another organization, \
             or a deleted project (ids are global and never reused): choose another \
             `project_id` ({})",
            e.message
        ),
    )
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
        .filter(|(k, _)| !ownership::is_ownership_label(k) && k.as_str() != SUFFIX_LABEL)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut properties = Properties::new();
    let suffix = project
        .labels
        .get(SUFFIX_LABEL)
        .filter(|s| project.project_id.ends_with(&format!("-{s}")));
    match suffix {
        Some(s) => {
            let base = &project.project_id[..project.project_id.len() - s.len() - 1];
            properties.insert("project_id".into(), json!(base));
            properties.insert("random_suffix".into(), json!(true));
        }
        None => {
            properties.insert("project_id".into(), json!(project.project_id));
        }
    }
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
