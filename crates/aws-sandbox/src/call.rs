//! What an incoming request is: the service and region from its Signature Version 4 credential
//! scope, the caller's access key (moto isolates accounts by it), and the action with its
//! parameters — from the form body of the Query protocols (EC2, Elastic Load Balancing v2, Auto
//! Scaling) or from `X-Amz-Target` and the JSON body of the JSON protocol (Organizations).
//!
//! Sources: "Signature Version 4 request elements: credential scope"
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-signing-elements.html>),
//! "Amazon EC2 Query requests" (<https://docs.aws.amazon.com/ec2/latest/devguide/making-api-requests.html>).

use axum::http::HeaderMap;

/// The wire protocol of a service, which decides the shape of its error answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// EC2's own Query flavour: `<Response><Errors><Error>…`.
    Ec2Query,
    /// The Query protocol of ELBv2, Auto Scaling and STS: `<ErrorResponse><Error>…`.
    AwsQuery,
    /// JSON 1.1 (Organizations): `{"__type": …}`.
    AwsJson,
    /// Anything else (S3, STS, …): passed through untouched.
    Other,
}

/// One parsed request.
#[derive(Debug, Clone)]
pub struct Call {
    /// The SigV4 service name: `ec2`, `elasticloadbalancing`, `autoscaling`, `organizations`, …
    pub service: String,
    /// The region of the credential scope.
    pub region: String,
    /// The access key id, which moto maps to an account.
    pub access_key: String,
    /// The action, e.g. `CreateVpc`.
    pub action: String,
    /// The request parameters in order (Query protocols; empty for JSON).
    pub params: Vec<(String, String)>,
    /// The JSON body (JSON protocol), else `Null`.
    pub json: serde_json::Value,
    /// The protocol of the service.
    pub protocol: Protocol,
}

impl Call {
    /// Parses a request; a request that is not SigV4-signed gets empty service and key.
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Call {
        let (access_key, region, service) = credential_scope(headers);
        let protocol = match service.as_str() {
            "ec2" => Protocol::Ec2Query,
            "elasticloadbalancing" | "autoscaling" | "sts" => Protocol::AwsQuery,
            "organizations" => Protocol::AwsJson,
            _ => Protocol::Other,
        };
        let mut call = Call {
            service,
            region,
            access_key,
            action: String::new(),
            params: Vec::new(),
            json: serde_json::Value::Null,
            protocol,
        };
        match protocol {
            Protocol::Ec2Query | Protocol::AwsQuery => {
                call.params = form_urlencoded::parse(body).into_owned().collect();
                call.action = call.param("Action").unwrap_or_default().to_string();
            }
            Protocol::AwsJson => {
                call.action = headers
                    .get("x-amz-target")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|t| t.rsplit('.').next())
                    .unwrap_or_default()
                    .to_string();
                call.json = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
            }
            Protocol::Other => {}
        }
        call
    }

    /// The first value of a parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Values of parameters that name resources directly: every parameter but the filters of
    /// a Describe call (`Filter.N.Value.M`), which select rather than name.
    pub fn named_values(&self) -> impl Iterator<Item = &str> {
        self.params
            .iter()
            .filter(|(k, _)| !(k.starts_with("Filter.") || k == "Action" || k == "Version"))
            .map(|(_, v)| v.as_str())
    }

    /// The strings of the JSON body (JSON protocol).
    pub fn json_strings(&self) -> Vec<String> {
        let mut values = Vec::new();
        collect_strings(&self.json, &mut values);
        values
    }

    /// Every parameter value (filters included), plus the JSON body's strings.
    pub fn all_values(&self) -> Vec<String> {
        let mut values: Vec<String> = self.params.iter().map(|(_, v)| v.clone()).collect();
        values.extend(self.json_strings());
        values
    }

    /// True for actions that create a resource and answer its new id.
    pub fn is_create(&self) -> bool {
        let a = self.action.as_str();
        (a.starts_with("Create") && a != "CreateTags" && a != "CreateOrUpdateTags")
            || a == "RunInstances"
            || a == "AllocateAddress"
    }

    /// True for read-only Describe/List/Get actions.
    pub fn is_describe(&self) -> bool {
        ["Describe", "List", "Get"]
            .iter()
            .any(|p| self.action.starts_with(p))
    }
}

fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// `(access key, region, service)` of `Authorization: AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, …`.
fn credential_scope(headers: &HeaderMap) -> (String, String, String) {
    let scope = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|rest| rest.split([',', ' ']).next())
        .unwrap_or_default();
    let mut parts = scope.split('/');
    let key = parts.next().unwrap_or_default().to_string();
    let _date = parts.next();
    let region = parts.next().unwrap_or_default().to_string();
    let service = parts.next().unwrap_or_default().to_string();
    (key, region, service)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str, target: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", auth.parse().unwrap());
        if let Some(t) = target {
            h.insert("x-amz-target", t.parse().unwrap());
        }
        h
    }

    #[test]
    fn query_and_json_requests_are_parsed() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKIDX/20260101/eu-west-1/ec2/aws4_request, SignedHeaders=host, Signature=0";
        let call = Call::parse(
            &headers(auth, None),
            b"Action=AttachInternetGateway&Version=2016-11-15&InternetGatewayId=igw-1&VpcId=vpc-2",
        );
        assert_eq!(
            (
                call.service.as_str(),
                call.region.as_str(),
                call.access_key.as_str()
            ),
            ("ec2", "eu-west-1", "AKIDX")
        );
        assert_eq!(call.action, "AttachInternetGateway");
        assert_eq!(call.protocol, Protocol::Ec2Query);
        assert_eq!(
            call.named_values().collect::<Vec<_>>(),
            vec!["igw-1", "vpc-2"]
        );
        assert!(!call.is_create());

        let auth = "AWS4-HMAC-SHA256 Credential=AKIDX/20260101/us-east-1/organizations/aws4_request, SignedHeaders=host, Signature=0";
        let call = Call::parse(
            &headers(auth, Some("AWSOrganizationsV20161128.CreateAccount")),
            br#"{"AccountName":"a","Email":"e@x"}"#,
        );
        assert_eq!(call.action, "CreateAccount");
        assert_eq!(call.protocol, Protocol::AwsJson);
        assert!(call.is_create());
        assert!(call.all_values().contains(&"e@x".to_string()));
    }

    #[test]
    fn filters_select_rather_than_name() {
        let auth = "AWS4-HMAC-SHA256 Credential=K/20260101/eu-west-1/ec2/aws4_request";
        let call = Call::parse(
            &headers(auth, None),
            b"Action=DescribeVpcs&Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-9&VpcId.1=vpc-8",
        );
        assert_eq!(call.named_values().collect::<Vec<_>>(), vec!["vpc-8"]);
        assert!(call.is_describe());
    }
}
