//! Error answers in each protocol's real shape, so the SDKs parse them exactly as they parse
//! AWS's own.
//!
//! - EC2 (ec2Query): `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`
//!   — "Error codes for the Amazon EC2 API"
//!   (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html>).
//! - Elastic Load Balancing v2 and Auto Scaling (awsQuery):
//!   `<ErrorResponse><Error><Type>Sender</Type><Code/><Message/></Error><RequestId/></ErrorResponse>`
//!   — "Common Errors" of each API reference
//!   (<https://docs.aws.amazon.com/autoscaling/ec2/APIReference/CommonErrors.html>).
//! - Organizations (awsJson1_1): status 400 and `{"__type": CODE, "Message": …}` — the
//!   Organizations API reference's error list
//!   (<https://docs.aws.amazon.com/organizations/latest/APIReference/CommonErrors.html>).

use crate::call::Protocol;
use crate::xml::escape;
use axum::body::Body;
use axum::http::{header, Response, StatusCode};

/// An AWS error to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// HTTP status.
    pub status: u16,
    /// The error code, e.g. `InvalidVpcID.NotFound`.
    pub code: String,
    /// The message, as AWS words it.
    pub message: String,
}

impl AwsError {
    /// An error with a status, code and message.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> AwsError {
        AwsError {
            status,
            code: code.to_string(),
            message: message.into(),
        }
    }

    /// The answer in the protocol's shape; `request_id` is AWS's per-request id.
    pub fn answer(&self, protocol: Protocol, request_id: &str) -> Response<Body> {
        let (content_type, body) = match protocol {
            Protocol::Ec2Query | Protocol::Other => (
                "text/xml;charset=UTF-8",
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>",
                    escape(&self.code),
                    escape(&self.message)
                ),
            ),
            Protocol::AwsQuery => (
                "text/xml",
                format!(
                    "<ErrorResponse xmlns=\"http://webservices.amazon.com/AWSFault/2005-15-09\"><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                    if self.status >= 500 { "Receiver" } else { "Sender" },
                    escape(&self.code),
                    escape(&self.message)
                ),
            ),
            Protocol::AwsJson => (
                "application/x-amz-json-1.1",
                serde_json::json!({"__type": self.code, "Message": self.message}).to_string(),
            ),
        };
        Response::builder()
            .status(StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST))
            .header(header::CONTENT_TYPE, content_type)
            .header("x-amzn-RequestId", request_id)
            .header("x-amzn-ErrorType", self.code.as_str())
            .body(Body::from(body))
            .expect("a valid response")
    }
}

/// The service's throttling error, in its documented shape:
/// - EC2: `RequestLimitExceeded` — "Request throttling for the Amazon EC2 API"
///   (<https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html>), answered with
///   HTTP 503 as the EC2 error reference lists for it;
/// - Auto Scaling and ELBv2: `Throttling`, "Rate exceeded", HTTP 400 — what both APIs answer
///   (aws/aws-sdk-go#3119 "ASG Throttling: Rate exceeded returns 400";
///   hashicorp/terraform-provider-aws#1428);
/// - Organizations: `TooManyRequestsException`, HTTP 400 — Organizations API reference.
pub fn throttled(service: &str) -> AwsError {
    match service {
        "ec2" => AwsError::new(503, "RequestLimitExceeded", "Request limit exceeded."),
        "organizations" => AwsError::new(
            400,
            "TooManyRequestsException",
            "You have sent too many requests in too short a period of time. The quota helps protect against denial-of-service attacks. Try again later.",
        ),
        _ => AwsError::new(400, "Throttling", "Rate exceeded"),
    }
}

/// An internal error, as a service answers when it failed after (or while) acting:
/// EC2 `InternalError` (500), awsQuery `InternalFailure` (500), Organizations
/// `ServiceException` (500).
pub fn internal(service: &str) -> AwsError {
    match service {
        "ec2" => AwsError::new(
            500,
            "InternalError",
            "An internal error has occurred. Retry your request, but if the problem persists, contact us with details by posting a message on the AWS forums.",
        ),
        "organizations" => AwsError::new(
            500,
            "ServiceException",
            "Organizations can't complete your request because of an internal service error. Try again later.",
        ),
        _ => AwsError::new(
            500,
            "InternalFailure",
            "The request processing has failed because of an unknown error, exception or failure.",
        ),
    }
}
