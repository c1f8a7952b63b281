//! EC2 client tokens. "If you repeat a request with the same client token and the same
//! parameters, Amazon EC2 returns the same result … If you repeat the request with the same
//! client token but one or more different parameters, the request fails with
//! `IdempotentParameterMismatch`" ("Ensuring idempotency in Amazon EC2 API requests",
//! <https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html>). moto ignores
//! the token of several actions (CreateRouteTable, CreateLaunchTemplate, …), which would let
//! a retried create that AWS deduplicates make a second resource: this layer answers a
//! repeated token itself, with the first answer.

use crate::answer::AwsError;
use crate::call::Call;
use std::collections::HashMap;
use std::sync::Mutex;

/// What the first request with a token sent and got.
#[derive(Debug, Clone)]
struct First {
    params: Vec<(String, String)>,
    answer: String,
}

/// Answers of EC2 requests that carried a `ClientToken`, by (account key, region, action, token).
#[derive(Debug, Default)]
pub struct ClientTokens {
    seen: Mutex<HashMap<(String, String, String, String), First>>,
}

fn key(call: &Call) -> Option<(String, String, String, String)> {
    let token = call.param("ClientToken")?;
    Some((
        call.access_key.clone(),
        call.region.clone(),
        call.action.clone(),
        token.to_string(),
    ))
}

/// The parameters that must match on a repeat (everything but the signature-related ones).
fn comparable(call: &Call) -> Vec<(String, String)> {
    let mut params = call.params.clone();
    params.sort();
    params
}

impl ClientTokens {
    /// The answer to replay for a repeated token, or the mismatch error; `None` for a first use.
    pub fn replay(&self, call: &Call) -> Option<Result<String, AwsError>> {
        let key = key(call)?;
        let seen = self.seen.lock().expect("lock");
        let first = seen.get(&key)?;
        Some(if first.params == comparable(call) {
            Ok(first.answer.clone())
        } else {
            Err(AwsError::new(
                400,
                "IdempotentParameterMismatch",
                "The client token you have provided is associated with a resource that is already deleted or has different parameters. Please use a different client token.",
            ))
        })
    }

    /// Remembers a successful answer to a request with a token.
    pub fn remember(&self, call: &Call, answer: &str) {
        if let Some(key) = key(call) {
            self.seen.lock().expect("lock").insert(
                key,
                First {
                    params: comparable(call),
                    answer: answer.to_string(),
                },
            );
        }
    }
}
