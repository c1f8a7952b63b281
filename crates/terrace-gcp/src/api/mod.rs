//! Calls to Compute through the official `google-cloud-compute-v1` clients, one per
//! collection, built lazily on first use. Bodies travel as Compute's JSON and are turned into
//! the client's typed models by serde; each collection's calls are one line of the table in
//! [`collections`], and list, insert, delete, patch and setLabels are written once here for
//! every type, through the type's [`Collection`]. Every call goes through
//! our retry loop; a mutation then polls its operation in the operation's own scope (global,
//! region or zone `operations.get`) until DONE, retrying polls that are throttled or fail
//! transiently — a throttled poll is no reason to forget an accepted change
//! (hashicorp/terraform-provider-google#8655) — and reports how it ended as a
//! [`MutationError`]: refused, accepted with an unknown outcome, or DONE with `error`.

/// Sends a built request (one attempt; [`Api`] retries and settles).
macro_rules! send {
    ($builder:expr) => {
        $builder.send().await.map_err(CallError::from)
    };
}

pub mod collections;

use crate::client::{operation_error, CallError, Retry, Settings};
use crate::waits::Waits;
use collections::{Clients, Cx};
use google_cloud_compute_v1::model;
use serde_json::Value as Json;
use terrace_provider::{ErrorKind, ProviderError};

pub use collections::Collection;

/// What a call needs of a resource type: its name for messages (`Subnetwork`) and its
/// collection's calls. The declarative table's `resources::KindDef` is one.
pub trait Kind: Sync {
    /// The type's kind, for messages.
    fn name(&self) -> &'static str;
    /// Its Compute collection.
    fn calls(&self) -> &'static dyn Collection;
}

/// Where a call is addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Global,
    Region(String),
    Zone(String),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Global => f.write_str("global"),
            Location::Region(region) => write!(f, "region {region}"),
            Location::Zone(zone) => write!(f, "zone {zone}"),
        }
    }
}

impl Location {
    fn region(&self) -> Result<&str, CallError> {
        match self {
            Location::Region(r) => Ok(r),
            _ => Err(CallError::invalid("this type needs a region")),
        }
    }

    fn zone(&self) -> Result<&str, CallError> {
        match self {
            Location::Zone(z) => Ok(z),
            _ => Err(CallError::invalid("this type needs a zone")),
        }
    }
}

/// One page of a list call, as Compute's JSON items.
#[derive(Debug, Default)]
pub struct Page {
    pub items: Vec<Json>,
    pub next: Option<String>,
}

fn to_page<T: serde::Serialize>(
    result: google_cloud_compute_v1::Result<T>,
) -> Result<Page, CallError> {
    let list = serde_json::to_value(result?).map_err(|e| CallError::invalid(e.to_string()))?;
    let items = list
        .get("items")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    let next = list
        .get("nextPageToken")
        .and_then(Json::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    Ok(Page { items, next })
}

fn body<T: serde::de::DeserializeOwned>(json: &Json) -> Result<T, CallError> {
    serde_json::from_value(json.clone())
        .map_err(|e| CallError::invalid(format!("the properties do not fit Compute's schema: {e}")))
}

fn unsupported(collection: &str, verb: &str) -> CallError {
    CallError::invalid(format!("{collection} cannot be changed in place by {verb}"))
}

/// How a mutation failed.
#[derive(Debug, Clone)]
pub enum MutationError {
    /// The call was refused (after retries). A 5xx or a lost connection may still have
    /// reached Compute: [`MutationError::into_provider`] makes those `Ambiguous`.
    Refused(CallError),
    /// Compute accepted the call, but how its operation ended could not be learnt (polls
    /// kept failing, or `operation_timeout` passed).
    Unsettled(CallError),
    /// The operation finished DONE with `error` (Google's operation error code, e.g.
    /// `RESOURCE_NOT_FOUND`, and `httpErrorStatusCode`).
    Failed(CallError),
}

impl MutationError {
    /// The underlying call error.
    pub fn call(&self) -> &CallError {
        match self {
            MutationError::Refused(e) | MutationError::Unsettled(e) | MutationError::Failed(e) => e,
        }
    }

    /// The provider error for a mutation of `what`.
    pub fn into_provider(self, what: &str, settings: &Settings) -> ProviderError {
        match self {
            MutationError::Refused(e) => e.about(what, settings, true),
            MutationError::Unsettled(e) => ProviderError::new(
                ErrorKind::Ambiguous,
                e.reason.clone(),
                format!(
                    "{what}: Compute accepted the request but its operation's outcome is \
                     unknown: {}",
                    e.message
                ),
            ),
            MutationError::Failed(e) => {
                let mut error = e.about(what, settings, false);
                error.message = format!("{what}: the operation failed: {}", error.message);
                error
            }
        }
    }
}

/// Compute for one provider: settings, lazily built clients, the retry loop.
pub struct Api {
    pub settings: Settings,
    clients: Clients,
    retry: Retry,
}

impl Api {
    pub fn new(settings: Settings, waits: Waits) -> Api {
        Api {
            retry: Retry::from_settings(&settings, waits),
            settings,
            clients: Clients::default(),
        }
    }

    /// The retry loop (and its journal of waits).
    pub fn retry(&self) -> &Retry {
        &self.retry
    }

    /// GET of an operation in its own scope.
    async fn get_operation(
        &self,
        project: &str,
        op: &model::Operation,
    ) -> Result<model::Operation, CallError> {
        let c = &self.clients;
        let s = &self.settings;
        let name = op.name.clone().unwrap_or_default();
        let last = |url: &Option<String>| {
            url.as_deref()
                .map(|u| u.rsplit('/').next().unwrap_or(u).to_string())
        };
        if let Some(zone) = last(&op.zone) {
            return send!(c
                .zone_operations(s)
                .await?
                .get()
                .set_project(project)
                .set_zone(zone)
                .set_operation(name));
        }
        if let Some(region) = last(&op.region) {
            return send!(c
                .region_operations(s)
                .await?
                .get()
                .set_project(project)
                .set_region(region)
                .set_operation(name));
        }
        send!(c
            .global_operations(s)
            .await?
            .get()
            .set_project(project)
            .set_operation(name))
    }

    /// Polls an accepted operation until DONE (pause `polling_interval`, ×1.5 per poll, up
    /// to `max_backoff`), within `operation_timeout`. A poll that is throttled or fails
    /// transiently is noted and polled again; any other failure leaves the outcome unknown.
    pub async fn settle(
        &self,
        what: &str,
        project: &str,
        op: model::Operation,
    ) -> Result<model::Operation, MutationError> {
        let deadline = tokio::time::Instant::now() + self.settings.operation_timeout;
        let cap = self
            .settings
            .polling_interval
            .max(self.settings.max_backoff);
        let mut delay = self.settings.polling_interval;
        let mut failed_polls = 0;
        let mut op = op;
        loop {
            if op.status == Some(model::operation::Status::Done) {
                return match operation_error(&op) {
                    Some(error) => Err(MutationError::Failed(error)),
                    None => Ok(op),
                };
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(MutationError::Unsettled(CallError {
                    http_status: None,
                    reason: "operationTimeout".into(),
                    message: format!(
                        "operation {} not DONE after {} s",
                        op.name.as_deref().unwrap_or("?"),
                        self.settings.operation_timeout.as_secs()
                    ),
                    maybe_sent: true,
                }));
            }
            tokio::time::sleep(delay).await;
            delay = delay.mul_f64(1.5).min(cap);
            match self.get_operation(project, &op).await {
                Ok(next) => op = next,
                Err(e) if e.retryable() => {
                    failed_polls += 1;
                    let call =
                        format!("{what}: poll {}", op.name.as_deref().unwrap_or("operation"));
                    self.retry.note(&call, &e, failed_polls, delay);
                }
                Err(e) => return Err(MutationError::Unsettled(e)),
            }
        }
    }

    /// What a call is addressed with.
    fn cx<'a>(&'a self, project: &'a str, at: &'a Location) -> Cx<'a> {
        Cx {
            clients: &self.clients,
            settings: &self.settings,
            project,
            at,
        }
    }

    /// One page of a list, retried.
    pub async fn list_page(
        &self,
        def: &dyn Kind,
        project: &str,
        at: &Location,
        filter: Option<&str>,
        token: Option<&str>,
    ) -> Result<Page, CallError> {
        let what = format!("list {} at {at}", def.name());
        let cx = self.cx(project, at);
        self.retry
            .run(&what, || {
                def.calls()
                    .list(&cx, filter.map(str::to_string), token.map(str::to_string))
            })
            .await
    }

    /// Retries a mutation (same `requestId` each time) and settles its operation.
    async fn mutate<F, Fut>(
        &self,
        what: &str,
        project: &str,
        call: F,
    ) -> Result<model::Operation, MutationError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<model::Operation, CallError>>,
    {
        let op = self
            .retry
            .run(what, call)
            .await
            .map_err(MutationError::Refused)?;
        self.settle(what, project, op).await
    }

    /// `insert` with Compute's JSON body, retried with one `requestId` and settled.
    pub async fn insert(
        &self,
        def: &dyn Kind,
        project: &str,
        at: &Location,
        json: &Json,
        rid: &str,
    ) -> Result<model::Operation, MutationError> {
        let name = json["name"].as_str().unwrap_or("?");
        let what = format!("insert {} {name}", def.name());
        let cx = self.cx(project, at);
        self.mutate(&what, project, || def.calls().insert(&cx, json, rid))
            .await
    }

    /// `delete`, retried with one `requestId` and settled.
    pub async fn delete(
        &self,
        def: &dyn Kind,
        project: &str,
        at: &Location,
        name: &str,
        rid: &str,
    ) -> Result<model::Operation, MutationError> {
        let what = format!("delete {} {name}", def.name());
        let cx = self.cx(project, at);
        self.mutate(&what, project, || def.calls().delete(&cx, name, rid))
            .await
    }

    /// PATCH with a body holding the changed fields (and the current fingerprint).
    pub async fn patch(
        &self,
        def: &dyn Kind,
        project: &str,
        at: &Location,
        name: &str,
        json: &Json,
        rid: &str,
    ) -> Result<model::Operation, MutationError> {
        let what = format!("patch {} {name}", def.name());
        let cx = self.cx(project, at);
        self.mutate(&what, project, || def.calls().patch(&cx, name, json, rid))
            .await
    }

    /// setLabels with `{"labels", "labelFingerprint"}`. (Compute's
    /// `globalForwardingRules.setLabels` takes no `requestId`; a retry that finds the
    /// fingerprint moved is settled by the caller comparing labels.)
    pub async fn set_labels(
        &self,
        def: &dyn Kind,
        project: &str,
        at: &Location,
        name: &str,
        json: &Json,
        rid: &str,
    ) -> Result<model::Operation, MutationError> {
        let what = format!("setLabels {} {name}", def.name());
        let cx = self.cx(project, at);
        self.mutate(&what, project, || {
            def.calls().set_labels(&cx, name, json, rid)
        })
        .await
    }

    /// `subnetworks.setPrivateIpGoogleAccess`: the one way to change
    /// `privateIpGoogleAccess` ("updated using setPrivateIpGoogleAccess", `Subnetwork` in
    /// Compute's reference; `subnetworks.patch` refuses it).
    pub async fn set_private_ip_google_access(
        &self,
        project: &str,
        at: &Location,
        name: &str,
        enabled: bool,
        rid: &str,
    ) -> Result<model::Operation, MutationError> {
        let what = format!("setPrivateIpGoogleAccess Subnetwork {name}");
        let region = at.region().map_err(MutationError::Refused)?;
        self.mutate(&what, project, || async {
            let c = self.clients.subnetworks(&self.settings).await?;
            send!(c
                .set_private_ip_google_access()
                .set_project(project)
                .set_region(region)
                .set_subnetwork(name)
                .set_request_id(rid)
                .set_body(
                    model::SubnetworksSetPrivateIpGoogleAccessRequest::new()
                        .set_private_ip_google_access(enabled)
                ))
        })
        .await
    }

    /// `networks.addPeering` (`add`) or `networks.removePeering` on the network named
    /// `network`, with `json` as the request body, retried with one `requestId` and settled.
    pub async fn network_peering(
        &self,
        project: &str,
        network: &str,
        add: bool,
        json: &Json,
        rid: &str,
    ) -> Result<model::Operation, MutationError> {
        let verb = if add { "addPeering" } else { "removePeering" };
        self.mutate(&format!("{verb} {network}"), project, || async {
            let c = self.clients.networks(&self.settings).await?;
            if add {
                send!(c
                    .add_peering()
                    .set_project(project)
                    .set_network(network)
                    .set_request_id(rid)
                    .set_body(body::<model::NetworksAddPeeringRequest>(json)?))
            } else {
                send!(c
                    .remove_peering()
                    .set_project(project)
                    .set_network(network)
                    .set_request_id(rid)
                    .set_body(body::<model::NetworksRemovePeeringRequest>(json)?))
            }
        })
        .await
    }

    /// `routers.update`: the whole router replaced by `json` (a PUT), retried with one
    /// `requestId` and settled. Used where a list must become empty: the client leaves empty
    /// lists out of a PATCH body, which would leave the old list in place.
    pub async fn update_router(
        &self,
        project: &str,
        region: &str,
        router: &str,
        json: &Json,
        rid: &str,
    ) -> Result<model::Operation, MutationError> {
        self.mutate(&format!("update router {router}"), project, || async {
            send!(self
                .clients
                .routers(&self.settings)
                .await?
                .update()
                .set_project(project)
                .set_region(region)
                .set_router(router)
                .set_request_id(rid)
                .set_body(body::<model::Router>(json)?))
        })
        .await
    }

    /// `networks.get` as Compute's JSON; `None` when there is no such network.
    pub async fn network_json(
        &self,
        project: &str,
        network: &str,
    ) -> Result<Option<Json>, CallError> {
        let got = self
            .retry
            .run(&format!("get network {network}"), || async {
                let c = self.clients.networks(&self.settings).await?;
                let found = c
                    .get()
                    .set_project(project)
                    .set_network(network)
                    .send()
                    .await?;
                serde_json::to_value(found).map_err(|e| CallError::invalid(e.to_string()))
            })
            .await;
        match got {
            Ok(json) => Ok(Some(json)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `regionInstanceGroupManagers.listManagedInstances`: every VM of a regional managed
    /// instance group and those scheduled, as Compute's JSON `ManagedInstance`s (each with
    /// `currentAction`, `instanceStatus` once it exists, and `version.instanceTemplate`).
    pub async fn managed_instances(
        &self,
        project: &str,
        region: &str,
        group: &str,
    ) -> Result<Vec<Json>, CallError> {
        let what = format!("listManagedInstances {group}");
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .retry
                .run(&what, || async {
                    let c = self.clients.region_igms(&self.settings).await?;
                    let list = c
                        .list_managed_instances()
                        .set_project(project)
                        .set_region(region)
                        .set_instance_group_manager(group)
                        .set_or_clear_page_token(token.clone())
                        .send()
                        .await?;
                    serde_json::to_value(list).map_err(|e| CallError::invalid(e.to_string()))
                })
                .await?;
            out.extend(
                page.get("managedInstances")
                    .and_then(Json::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
            match page.get("nextPageToken").and_then(Json::as_str) {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => return Ok(out),
            }
        }
    }
}
