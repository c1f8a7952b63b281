//! moto, reached over loopback: requests forwarded as they came, and the Query-protocol
//! calls of our own that the behaviour layer makes to look things up (in the caller's account).

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, Method, StatusCode};

/// moto, reached over loopback.
pub struct Upstream {
    base: String,
    client: reqwest::Client,
}

/// What moto answered.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Upstream {
    pub fn new(base: &str) -> Upstream {
        Upstream {
            base: base.trim_end_matches('/').to_string(),
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("an HTTP client"),
        }
    }

    pub(crate) async fn forward(
        &self,
        method: Method,
        path: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Answer, reqwest::Error> {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            if !hop_by_hop(name) {
                request = request.header(name, value);
            }
        }
        let response = request.body(body).send().await?;
        let status = response.status();
        let mut headers = response.headers().clone();
        headers.retain_hop_free();
        let body = response.bytes().await?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// A Query-protocol call of our own to moto, in the caller's account (its access key) and
    /// region; the answer's body, if it succeeded.
    pub async fn query(
        &self,
        like: &HeaderMap,
        service: &str,
        region: &str,
        params: &[(String, String)],
    ) -> Option<String> {
        let key = like
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split('/').next())
            .unwrap_or("testing");
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={key}/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0"
        );
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let mut request = self
            .client
            .post(format!("{}/", self.base))
            .header("authorization", auth)
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(token) = like.get("x-amz-security-token") {
            request = request.header("x-amz-security-token", token);
        }
        let response = request.body(body).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.text().await.ok()
    }
}

fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host" | "content-length" | "connection" | "transfer-encoding" | "keep-alive"
    )
}

trait HopFree {
    fn retain_hop_free(&mut self);
}

impl HopFree for HeaderMap {
    fn retain_hop_free(&mut self) {
        for name in [
            "content-length",
            "connection",
            "transfer-encoding",
            "keep-alive",
        ] {
            self.remove(name);
        }
    }
}
