//! Stack locks in DynamoDB: one item per stack, key `LockID` = `<prefix>/<stack>`, with the
//! holder (`Info`: the [`LockInfo`] JSON), the lock id (`Owner`) and an expiry (`Expires`,
//! Unix seconds, usable as the table's TTL attribute).
//!
//! Taking a lock is one conditional `PutItem` (`attribute_not_exists(LockID) OR Expires <
//! :now`), so of any number of racers exactly one wins and an expired lock can be taken over.
//! Releasing it is a `DeleteItem` conditional on `Owner`. While a lock is held, a task of the
//! holder pushes its expiry forward every third of the TTL, so only a holder that is gone
//! (killed, powered off, partitioned) loses its lock when the TTL passes.

use crate::error::S3Error;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::time::Duration;
use terrace::state::{LockInfo, StateError};

const KEY: &str = "LockID";
const INFO: &str = "Info";
const OWNER: &str = "Owner";
const EXPIRES: &str = "Expires";

/// The lock table.
#[derive(Clone)]
pub struct LockTable {
    pub client: Client,
    pub table: String,
    pub ttl: Duration,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl LockTable {
    fn target(&self, id: &str) -> String {
        format!("dynamodb://{}/{id}", self.table)
    }

    fn failed<E, R>(&self, operation: &'static str, id: &str, err: &SdkError<E, R>) -> S3Error
    where
        E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        S3Error::Service {
            operation,
            target: self.target(id),
            message: crate::error::sdk_message(err),
        }
    }

    fn expiry(&self) -> i64 {
        now() + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2)
    }

    /// Takes the lock `id` for `info`, or names who holds it.
    pub async fn lock(&self, stack: &str, id: &str, info: &LockInfo) -> Result<(), StateError> {
        let json = serde_json::to_string(info).expect("lock info serializes");
        // The holder may release between our failed put and our read: try again then.
        for _ in 0..5 {
            let answer = self
                .client
                .put_item()
                .table_name(&self.table)
                .item(KEY, AttributeValue::S(id.to_string()))
                .item(INFO, AttributeValue::S(json.clone()))
                .item(OWNER, AttributeValue::S(info.id.clone()))
                .item(EXPIRES, AttributeValue::N(self.expiry().to_string()))
                .condition_expression("attribute_not_exists(#key) OR #expires < :now")
                .expression_attribute_names("#key", KEY)
                .expression_attribute_names("#expires", EXPIRES)
                .expression_attribute_values(":now", AttributeValue::N(now().to_string()))
                .send()
                .await;
            match answer {
                Ok(_) => return Ok(()),
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                {
                    if let Some((holder, _)) = self.read(id).await? {
                        return Err(StateError::Locked {
                            stack: stack.to_string(),
                            holder: Box::new(holder),
                        });
                    }
                }
                Err(err) => return Err(self.failed("PutItem", id, &err).into()),
            }
        }
        Err(StateError::Locked {
            stack: stack.to_string(),
            holder: Box::new(LockInfo::unknown()),
        })
    }

    /// Pushes the expiry of a lock we hold forward; `false` if we no longer hold it.
    pub async fn refresh(&self, id: &str, owner: &str) -> Result<bool, S3Error> {
        let answer = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(id.to_string()))
            .update_expression("SET #expires = :expires")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#expires", EXPIRES)
            .expression_attribute_names("#owner", OWNER)
            .expression_attribute_values(":expires", AttributeValue::N(self.expiry().to_string()))
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_string()))
            .send()
            .await;
        match answer {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(self.failed("UpdateItem", id, &err)),
        }
    }

    /// Releases the lock if `owner` holds it (otherwise does nothing).
    pub async fn unlock(&self, id: &str, owner: &str) -> Result<(), S3Error> {
        let answer = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(id.to_string()))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", OWNER)
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_string()))
            .send()
            .await;
        match answer {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(self.failed("DeleteItem", id, &err)),
        }
    }

    /// Removes the lock whoever holds it, returning its holder.
    pub async fn force_unlock(&self, id: &str) -> Result<Option<LockInfo>, S3Error> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(id.to_string()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| self.failed("DeleteItem", id, &e))?;
        match output.attributes() {
            Some(item) if !item.is_empty() => Ok(Some(self.parse(id, item)?.0)),
            _ => Ok(None),
        }
    }

    /// The lock's holder and expiry (Unix seconds), expired or not.
    pub async fn read(&self, id: &str) -> Result<Option<(LockInfo, i64)>, S3Error> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.failed("GetItem", id, &e))?;
        output.item().map(|item| self.parse(id, item)).transpose()
    }

    /// The holder of a lock that has not expired.
    pub async fn holder(&self, id: &str) -> Result<Option<LockInfo>, S3Error> {
        Ok(self
            .read(id)
            .await?
            .filter(|(_, expires)| *expires >= now())
            .map(|(info, _)| info))
    }

    fn parse(
        &self,
        id: &str,
        item: &HashMap<String, AttributeValue>,
    ) -> Result<(LockInfo, i64), S3Error> {
        let corrupt = |message: String| S3Error::Corrupt {
            target: self.target(id),
            message,
        };
        let info = match item.get(INFO) {
            Some(AttributeValue::S(json)) => {
                serde_json::from_str(json).map_err(|e| corrupt(format!("{INFO}: {e}")))?
            }
            _ => return Err(corrupt(format!("no string attribute {INFO}"))),
        };
        let expires = match item.get(EXPIRES) {
            Some(AttributeValue::N(n)) => n
                .parse()
                .map_err(|e| corrupt(format!("{EXPIRES} `{n}`: {e}")))?,
            _ => return Err(corrupt(format!("no number attribute {EXPIRES}"))),
        };
        Ok((info, expires))
    }
}
