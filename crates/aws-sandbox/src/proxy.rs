//! The request path: parse the call, answer it here when AWS would (an `AssumeRole` into a
//! closed account, throttling, a not yet propagated id, an in-use refusal, a repeated client
//! token), otherwise forward it to moto;
//! then record the ids a create introduced, lose the answer of a create now and then, and
//! leave not yet propagated resources out of Describe answers.

use crate::answer::{self, AwsError};
use crate::call::{Call, Protocol};
use crate::upstream::Answer;
use crate::{consistency, in_use, Behaviour, Layer};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Response, StatusCode};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Largest request body forwarded (S3 state objects are small).
const BODY_LIMIT: usize = 256 * 1024 * 1024;

/// Services whose calls this layer makes behave like AWS; S3, DynamoDB, KMS, STS and IAM (the
/// state backend, locks, secrets, credentials) pass through untouched, but for an `AssumeRole`
/// into a closed account ([`crate::closed`]).
const STRICT_SERVICES: &[&str] = &[
    "ec2",
    "elasticloadbalancing",
    "autoscaling",
    "organizations",
];

/// Handles one request.
pub async fn handle(State(layer): State<Arc<Layer>>, request: Request) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(body) => body,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let call = Call::parse(&parts.headers, &body);
    if layer.behaviour().closed_accounts {
        let refusal = layer
            .closed
            .refusal(&call, &parts.headers, &layer.upstream)
            .await;
        if let Some(refusal) = refusal {
            return layer.error(&call, refusal);
        }
    }
    let strict = STRICT_SERVICES.contains(&call.service.as_str());
    if strict {
        if let Some(early) = layer.answer_here(&call, &parts.headers).await {
            return early;
        }
    }
    let body = if strict {
        layer.forwarded_body(&call).unwrap_or(body)
    } else {
        body
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let answer = match layer
        .upstream
        .forward(parts.method.clone(), path, &parts.headers, body)
        .await
    {
        Ok(answer) => answer,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, &format!("moto: {e}")),
    };
    if strict && answer.status.is_success() {
        return layer.after_success(&call, &parts.headers, answer).await;
    }
    respond(answer.status, answer.headers, answer.body)
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Body::from(text.to_string()))
        .expect("a valid response")
}

fn respond(status: StatusCode, headers: HeaderMap, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

impl Layer {
    fn behaviour(&self) -> &Behaviour {
        &self.behaviour
    }

    fn error(&self, call: &Call, error: AwsError) -> Response<Body> {
        self.log(&format!(
            "{} {}: answered {} {}",
            call.service, call.action, error.status, error.code
        ));
        error.answer(call.protocol, &self.request_id())
    }

    /// An answer given without moto, when AWS would give it.
    async fn answer_here(&self, call: &Call, headers: &HeaderMap) -> Option<Response<Body>> {
        let behaviour = self.behaviour();
        if self.chance(behaviour.throttle_rate) {
            self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            return Some(self.error(call, answer::throttled(&call.service)));
        }
        if behaviour.consistency.is_some() {
            if let Some(id) = self.consistency.named_hidden(call) {
                self.stats.not_yet_visible.fetch_add(1, Ordering::Relaxed);
                return Some(self.error(call, consistency::not_found(call, &id)));
            }
        }
        if behaviour.client_tokens && call.protocol == Protocol::Ec2Query {
            match self.tokens.replay(call) {
                Some(Ok(first)) => {
                    self.stats.tokens_replayed.fetch_add(1, Ordering::Relaxed);
                    self.log(&format!(
                        "{}: replayed the answer of its client token",
                        call.action
                    ));
                    return Some(xml_answer(first));
                }
                Some(Err(mismatch)) => return Some(self.error(call, mismatch)),
                None => {}
            }
        }
        if let Some(refusal) = self.vpn.refusal(call) {
            return Some(self.error(call, refusal));
        }
        if behaviour.in_use_refusals {
            if let Some(refusal) =
                in_use::refusal(call, headers, &self.upstream, &self.launches).await
            {
                self.stats.in_use_refused.fetch_add(1, Ordering::Relaxed);
                return Some(self.error(call, refusal));
            }
        }
        None
    }

    /// The body to forward instead of the caller's: DescribeVpnConnections without the
    /// `vpn-connection-id` filter moto lacks (applied to its answer, [`crate::vpn`]).
    fn forwarded_body(&self, call: &Call) -> Option<Bytes> {
        if call.action != "DescribeVpnConnections" || call.protocol != Protocol::Ec2Query {
            return None;
        }
        let (params, _) = crate::vpn::without_id_filter(&call.params)?;
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        Some(Bytes::from(body))
    }

    /// moto's answer to a VPN connection call as AWS gives it ([`crate::vpn`]).
    fn vpn_answer(&self, call: &Call, text: String) -> String {
        match call.action.as_str() {
            "CreateVpnConnection" => {
                let pending = self
                    .behaviour()
                    .vpn_pending
                    .map(|(low, high)| self.delay(low, high))
                    .unwrap_or_default();
                self.vpn.record(call, &text, pending, &mut || self.draw());
                if !pending.is_zero() {
                    self.log(&format!(
                        "CreateVpnConnection: pending for {} ms",
                        pending.as_millis()
                    ));
                }
                self.vpn.rewrite(call, &text)
            }
            "DescribeVpnConnections" => self.vpn.rewrite(call, &text),
            "DeleteVpnConnection" => {
                self.vpn.forget(call);
                text
            }
            _ => text,
        }
    }

    /// Post-processing of a successful answer from moto.
    async fn after_success(
        &self,
        call: &Call,
        headers: &HeaderMap,
        mut answer: Answer,
    ) -> Response<Body> {
        if self.behaviour().closed_accounts {
            self.closed.observe(call);
        }
        let mut text = String::from_utf8_lossy(&answer.body).into_owned();
        if call.protocol == Protocol::Ec2Query && call.action.contains("VpnConnection") {
            text = self.vpn_answer(call, text);
            answer.body = Bytes::from(text.clone());
        }
        if call.action == "DescribeAutoScalingGroups" && self.behaviour().in_use_refusals {
            self.launches
                .observe(&text, call, headers, &self.upstream)
                .await;
        }
        if call.is_create() {
            if self.behaviour().client_tokens {
                self.tokens.remember(call, &text);
            }
            self.hide_new_ids(call, &text);
            if self.chance(self.behaviour().lost_answer_rate) {
                self.stats.lost.fetch_add(1, Ordering::Relaxed);
                return self.lose(call);
            }
        }
        if call.is_describe() && self.behaviour().consistency.is_some() {
            let hidden = self.consistency.hidden_now();
            if !hidden.is_empty() {
                let (filtered, removed) = crate::xml::without_entries(&text, &hidden);
                if removed > 0 {
                    self.stats
                        .left_out
                        .fetch_add(removed as u64, Ordering::Relaxed);
                    return respond(answer.status, answer.headers, Bytes::from(filtered));
                }
            }
        }
        respond(answer.status, answer.headers, answer.body)
    }

    fn hide_new_ids(&self, call: &Call, text: &str) {
        let Some((low, high)) = self.behaviour().consistency else {
            return;
        };
        for id in consistency::new_ids(call, text) {
            let delay = self.delay(low, high);
            let line = format!(
                "{}: {id} becomes visible in {} ms",
                call.action,
                delay.as_millis()
            );
            if self.consistency.hide(id, Instant::now() + delay) {
                self.log(&line);
            }
        }
    }

    /// The create was carried out, but its answer is lost: half of the time an internal error
    /// (the service failed after acting), else the connection breaks before the answer ends.
    fn lose(&self, call: &Call) -> Response<Body> {
        if self.chance(0.5) {
            return self.error(call, answer::internal(&call.service));
        }
        self.log(&format!(
            "{} {}: connection lost after the create",
            call.service, call.action
        ));
        let broken = futures::stream::once(async {
            Err::<Bytes, std::io::Error>(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "the sandbox lost this answer",
            ))
        });
        Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "text/xml")
            .body(Body::from_stream(broken))
            .expect("a valid response")
    }
}

fn xml_answer(body: String) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/xml;charset=UTF-8")
        .body(Body::from(body))
        .expect("a valid response")
}
