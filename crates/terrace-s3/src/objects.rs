//! Thin S3 helpers: read an object with its ETag, write one conditionally (`If-None-Match: *`
//! to create, `If-Match: <etag>` to replace), list keys under a prefix, delete keys.

use crate::error::S3Error;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_sdk_s3::Client;

/// The precondition of a write.
#[derive(Debug, Clone)]
pub enum Condition {
    /// Only if no object has this key.
    Absent,
    /// Only if the object still has this ETag.
    Matches(String),
    /// Unconditionally.
    Always,
}

/// The outcome of a conditional write.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    /// The object was written.
    Done,
    /// The precondition failed (`412`, or `409` for a concurrent conditional write).
    PreconditionFailed,
}

/// One bucket.
#[derive(Clone)]
pub struct Bucket {
    pub client: Client,
    pub name: String,
}

impl Bucket {
    /// `s3://bucket/key`, for messages.
    pub fn target(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.name)
    }

    fn failed<E, R>(&self, operation: &'static str, key: &str, err: &SdkError<E, R>) -> S3Error
    where
        E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        S3Error::Service {
            operation,
            target: self.target(key),
            message: crate::error::sdk_message(err),
        }
    }

    /// The object's bytes and ETag, `None` if there is no such key.
    pub async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, S3Error> {
        let answer = self
            .client
            .get_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await;
        let output = match answer {
            Ok(output) => output,
            Err(err) => {
                let missing = err.as_service_error().is_some_and(|e| e.is_no_such_key())
                    || err
                        .raw_response()
                        .is_some_and(|r| r.status().as_u16() == 404);
                return if missing {
                    Ok(None)
                } else {
                    Err(self.failed("GetObject", key, &err))
                };
            }
        };
        let etag = output.e_tag().unwrap_or_default().to_string();
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|e| S3Error::Service {
                operation: "GetObject",
                target: self.target(key),
                message: e.to_string(),
            })?
            .into_bytes()
            .to_vec();
        Ok(Some((bytes, etag)))
    }

    /// Writes an object if `condition` holds.
    pub async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        condition: Condition,
    ) -> Result<Written, S3Error> {
        let mut request = self
            .client
            .put_object()
            .bucket(&self.name)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(bytes));
        request = match condition {
            Condition::Absent => request.if_none_match("*"),
            Condition::Matches(etag) => request.if_match(etag),
            Condition::Always => request,
        };
        match request.send().await {
            Ok(_) => Ok(Written::Done),
            Err(err) => {
                let status = err.raw_response().map(|r| r.status().as_u16());
                if matches!(status, Some(412) | Some(409)) {
                    Ok(Written::PreconditionFailed)
                } else {
                    Err(self.failed("PutObject", key, &err))
                }
            }
        }
    }

    /// Every key under `prefix`, in key order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, S3Error> {
        let pages = self
            .client
            .list_objects_v2()
            .bucket(&self.name)
            .prefix(prefix)
            .into_paginator()
            .send()
            .collect::<Vec<_>>()
            .await;
        let mut keys = Vec::new();
        for page in pages {
            let page = page.map_err(|e| self.failed("ListObjectsV2", prefix, &e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
        }
        keys.sort();
        Ok(keys)
    }

    /// Deletes keys (absent ones are no error).
    pub async fn delete(&self, keys: &[String]) -> Result<(), S3Error> {
        for chunk in keys.chunks(1000) {
            let objects = chunk
                .iter()
                .map(|key| ObjectIdentifier::builder().key(key).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| S3Error::Service {
                    operation: "DeleteObjects",
                    target: self.target(&chunk[0]),
                    message: e.to_string(),
                })?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| S3Error::Service {
                    operation: "DeleteObjects",
                    target: self.target(&chunk[0]),
                    message: e.to_string(),
                })?;
            let output = self
                .client
                .delete_objects()
                .bucket(&self.name)
                .delete(delete)
                .send()
                .await
                .map_err(|e| self.failed("DeleteObjects", &chunk[0], &e))?;
            if let Some(error) = output.errors().first() {
                return Err(S3Error::Service {
                    operation: "DeleteObjects",
                    target: self.target(error.key().unwrap_or_default()),
                    message: format!(
                        "{}: {}",
                        error.code().unwrap_or("error"),
                        error.message().unwrap_or_default()
                    ),
                });
            }
        }
        Ok(())
    }
}
