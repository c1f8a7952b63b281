//! Test support: the Compute emulator started in-process on 127.0.0.1, a counting proxy in
//! front of it (every request the provider sends is recorded), the provider pointed at the
//! proxy, and plain REST listing of the emulator to check results independently.
#![allow(dead_code)]

use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, Response, StatusCode};
use gce_emulator::{Config, RunningServer};
use serde_json::{json, Map, Value as Json};
use std::sync::{Arc, Mutex};
use terrace::provider::{CreateRequest, DeleteRequest, Observed, Ownership, Provider, ReadRequest};
use terrace_gcp::GcpProvider;

pub const PROJECT: &str = "terrace-test";
pub const REGION: &str = "europe-west3";
pub const ZONE: &str = "europe-west3-a";

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    client: reqwest::Client,
    log: Arc<Mutex<Vec<String>>>,
    statuses: Arc<Mutex<Vec<u16>>>,
    /// `METHOD path` of a request whose answer is lost once: it reaches the emulator, but the
    /// provider gets a 503 as if the connection had failed.
    lose: Arc<Mutex<Option<String>>>,
}

/// Forwards one request to the emulator and records `METHOD path`.
async fn forward(State(state): State<ProxyState>, request: Request<Body>) -> Response<Body> {
    let method = request.method().clone();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    state
        .log
        .lock()
        .expect("log")
        .push(format!("{method} {}", request.uri().path()));
    let body = match axum::body::to_bytes(request.into_body(), 64 << 20).await {
        Ok(b) => b.to_vec(),
        Err(_) => return status(StatusCode::BAD_REQUEST),
    };
    let method = reqwest::Method::from_bytes(method.as_str().as_bytes()).expect("method");
    let sent = state
        .client
        .request(method, format!("{}{path_and_query}", state.upstream))
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await;
    let Ok(answer) = sent else {
        return status(StatusCode::BAD_GATEWAY);
    };
    let code = answer.status().as_u16();
    state.statuses.lock().expect("statuses").push(code);
    let line = state.log.lock().expect("log").last().cloned();
    let lost = {
        let mut lose = state.lose.lock().expect("lose");
        let hit = lose.is_some() && *lose == line;
        if hit {
            *lose = None;
        }
        hit
    };
    if lost {
        return status(StatusCode::SERVICE_UNAVAILABLE);
    }
    let bytes = answer.bytes().await.unwrap_or_default().to_vec();
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(bytes))
        .expect("response")
}

fn status(code: StatusCode) -> Response<Body> {
    Response::builder()
        .status(code)
        .body(Body::empty())
        .expect("response")
}

/// An emulator, a counting proxy and a provider talking through it.
pub struct Env {
    pub server: Option<RunningServer>,
    proxy: tokio::task::JoinHandle<()>,
    pub proxy_url: String,
    log: Arc<Mutex<Vec<String>>>,
    statuses: Arc<Mutex<Vec<u16>>>,
    lose: Arc<Mutex<Option<String>>>,
    pub provider: GcpProvider,
    pub http: reqwest::Client,
}

impl Env {
    pub async fn start(config: Config) -> Env {
        Env::start_with(config, Map::new()).await
    }

    /// Like [`Env::start`], with some provider settings replaced. The emulator always checks
    /// request bodies against Compute's discovery document.
    pub async fn start_with(mut config: Config, overrides: Map<String, Json>) -> Env {
        config.discovery_doc = config.discovery_doc.or_else(|| Some(discovery_path()));
        let server = gce_emulator::start("127.0.0.1:0".parse().expect("addr"), config)
            .await
            .expect("emulator starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let statuses = Arc::new(Mutex::new(Vec::new()));
        let lose = Arc::new(Mutex::new(None));
        let state = ProxyState {
            lose: lose.clone(),
            upstream: server.base_url(),
            client: reqwest::Client::new(),
            log: log.clone(),
            statuses: statuses.clone(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let proxy_url = format!("http://{}", listener.local_addr().expect("addr"));
        let app = axum::Router::new().fallback(forward).with_state(state);
        let proxy = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let mut provider_settings = settings(&proxy_url);
        provider_settings.extend(overrides);
        let provider = GcpProvider::from_settings(&provider_settings).expect("settings");
        Env {
            server: Some(server),
            proxy,
            proxy_url,
            log,
            statuses,
            lose,
            provider,
            http: reqwest::Client::new(),
        }
    }

    pub fn base(&self) -> String {
        self.server.as_ref().expect("running").base_url()
    }

    /// Requests seen by the proxy so far, as `METHOD path`.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }

    /// HTTP statuses the emulator answered the provider with, in order.
    pub fn statuses(&self) -> Vec<u16> {
        self.statuses.lock().expect("statuses").clone()
    }

    /// The next answer to `METHOD path` is lost (the request itself reaches the emulator).
    pub fn lose_next_answer(&self, method: &str, collection: &str) {
        *self.lose.lock().expect("lose") = Some(format!(
            "{method} /compute/v1/projects/{PROJECT}/{collection}"
        ));
    }

    pub fn clear_requests(&self) {
        self.log.lock().expect("log").clear();
    }

    /// Every item of a collection, by plain REST on the emulator (not through the provider).
    /// `path` is relative to the project, e.g. `global/networks`.
    pub async fn rest_list(&self, path: &str) -> Vec<Json> {
        let mut items = Vec::new();
        let mut token = String::new();
        loop {
            let mut url = format!(
                "{}/compute/v1/projects/{PROJECT}/{path}?maxResults=500",
                self.base()
            );
            if !token.is_empty() {
                url.push_str(&format!("&pageToken={token}"));
            }
            let page = self.rest_get_json(&url).await;
            if let Some(list) = page.get("items").and_then(Json::as_array) {
                items.extend(list.iter().cloned());
            }
            match page.get("nextPageToken").and_then(Json::as_str) {
                Some(next) if !next.is_empty() => token = next.to_string(),
                _ => return items,
            }
        }
    }

    /// GET with retries on injected faults (403 throttling, 5xx), bounded.
    async fn rest_get_json(&self, url: &str) -> Json {
        for _ in 0..50 {
            let answer = self.http.get(url).send().await.expect("emulator answers");
            let status = answer.status();
            if status.is_success() {
                return answer.json().await.expect("json");
            }
            assert!(
                status.as_u16() == 403 || status.as_u16() == 429 || status.is_server_error(),
                "GET {url}: {status}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("GET {url} kept failing")
    }

    /// The item of that name in a collection, by plain REST.
    pub async fn rest_get(&self, path: &str, name: &str) -> Option<Json> {
        self.rest_list(path)
            .await
            .into_iter()
            .find(|i| i["name"] == json!(name))
    }

    pub async fn create(
        &self,
        type_name: &str,
        region: Option<&str>,
        resource: &str,
        props: Json,
    ) -> Observed {
        self.create_with_key(
            type_name,
            region,
            resource,
            props,
            &format!("key-{resource}"),
        )
        .await
    }

    pub async fn create_with_key(
        &self,
        type_name: &str,
        region: Option<&str>,
        resource: &str,
        props: Json,
        key: &str,
    ) -> Observed {
        self.provider
            .create(CreateRequest {
                type_name: type_name.into(),
                region: region.map(str::to_string),
                properties: object(props),
                ownership: owner(resource),
                idempotency_key: key.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("create {type_name} {resource}: {e:?}"))
    }

    pub async fn delete(&self, type_name: &str, region: Option<&str>, id: &str) {
        self.provider
            .delete(DeleteRequest {
                type_name: type_name.into(),
                region: region.map(str::to_string),
                id: id.into(),
                properties: Map::new(),
                idempotency_key: format!("delete-{id}"),
            })
            .await
            .unwrap_or_else(|e| panic!("delete {type_name} {id}: {e:?}"))
    }

    pub async fn read_ids(
        &self,
        type_name: &str,
        region: Option<&str>,
        ids: &[String],
    ) -> Vec<Observed> {
        self.provider
            .read(ReadRequest {
                type_name: type_name.into(),
                region: region.map(str::to_string),
                ids: ids.to_vec(),
                owner: None,
            })
            .await
            .unwrap_or_else(|e| panic!("read {type_name}: {e:?}"))
    }

    /// Stops the proxy and the emulator.
    pub async fn stop(mut self) {
        self.proxy.abort();
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("emulator stops");
        }
    }
}

/// The cloud profile's strictness (PATCH limited to the reference, `resourceNotReady`)
/// without its latencies and throttling, for tests of what the provider sends.
pub fn strict() -> Config {
    Config {
        latency: gce_emulator::Latency::default(),
        throttle_rate: 0.0,
        vm_latency: gce_emulator::Span::default(),
        ..Config::for_profile(gce_emulator::Profile::Cloud, Some(1))
    }
}

/// Where Compute's discovery document is (the project's virtualenv). Missing is a failure.
pub fn discovery_path() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    gce_emulator::schema::Discovery::locate(&root).unwrap_or_else(|e| panic!("{e}"))
}

/// Provider settings pointing at an emulator, with short polling and retry pauses.
pub fn settings(endpoint: &str) -> Map<String, Json> {
    object(json!({
        "project": PROJECT,
        "project_parent": "organizations/4242",
        "endpoint": endpoint,
        "polling_interval_ms": 10,
        "retry_initial_ms": 10,
        "max_backoff_ms": 200,
        "max_attempts": 30,
    }))
}

pub fn object(value: Json) -> Map<String, Json> {
    value.as_object().cloned().expect("an object")
}

pub fn owner(resource: &str) -> Ownership {
    Ownership {
        workspace: "demo".into(),
        stack: "networks/eu/gcp-europe-west3".into(),
        resource: resource.into(),
    }
}
