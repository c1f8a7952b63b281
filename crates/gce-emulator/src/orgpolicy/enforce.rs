//! `constraints/gcp.resourceLocations` applied to Compute: an insert of a regional or zonal
//! resource into a project whose policy does not allow its location is refused as Compute
//! refuses it — HTTP 412, reason `conditionNotMet` (`FAILED_PRECONDITION`), message
//! "Location ZONE:asia-south1-b violates constraint constraints/gcp.resourceLocations on the
//! resource projects/p/zones/asia-south1-b/instances/vm." (GoogleCloudPlatform/oss-test-infra#2703,
//! cloudfoundry/bosh-bootloader#513, reason in SUSE-Enceladus/img-proof#212; regional
//! subnetworks answer the same 412 in googlecodelabs/feedback#817).
//!
//! Global resources (networks, firewalls, global addresses, instance templates) are not
//! restricted: "This constraint does not affect where global resources ... are created"
//! (Restricting resource locations). Only creates are checked: existing resources keep
//! working, as on GCP.
//!
//! Evaluation of the policy's `spec.rules` (rules with a `condition` need resource tags,
//! which the emulator has not, and are skipped): `denyAll` refuses every location,
//! `allowAll` allows every one; otherwise a location must be covered by some
//! `allowedValues` entry when any are listed, and by no `deniedValues` entry. A spec with
//! `reset` set falls back to the default (every location allowed).

use super::groups::{self, Location};
use crate::app::App;
use crate::errors::ApiError;
use crate::paths::Route;
use serde_json::Value;

const CONSTRAINT: &str = "gcp.resourceLocations";

/// The refusal of an insert into `route` (the resource named `name`), or `None`.
pub fn check_insert(app: &App, route: &Route, name: &str) -> Option<ApiError> {
    let location = match &route.scope {
        crate::paths::Scope::Global => return None,
        crate::paths::Scope::Region(r) => Location::Region(r),
        crate::paths::Scope::Zone(z) => Location::Zone(z),
    };
    let spec = app.read(|s| {
        let id = crate::crm::resolve(&s.crm, &route.project)?;
        s.crm
            .policies
            .get(&id)?
            .get(CONSTRAINT)?
            .get("spec")
            .cloned()
    })?;
    if allows(&spec, location) {
        return None;
    }
    let path = format!(
        "projects/{}/{}/{}/{name}",
        route.project,
        route.scope.segment(),
        route.collection
    );
    Some(ApiError::condition_not_met(format!(
        "Location {} violates constraint constraints/{CONSTRAINT} on the resource {path}.",
        location.tagged()
    )))
}

/// Whether a `PolicySpec` allows `location`.
pub fn allows(spec: &Value, location: Location) -> bool {
    if spec["reset"] == true {
        return true;
    }
    let rules: Vec<&Value> = spec["rules"]
        .as_array()
        .map(|r| r.iter().filter(|r| r.get("condition").is_none()).collect())
        .unwrap_or_default();
    if rules.iter().any(|r| r["denyAll"] == true) {
        return false;
    }
    if rules.iter().any(|r| r["allowAll"] == true) {
        return true;
    }
    let values = |key: &str| -> Vec<&str> {
        rules
            .iter()
            .filter_map(|r| r["values"][key].as_array())
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    };
    let allowed = values("allowedValues");
    let denied = values("deniedValues");
    let is_allowed = allowed.is_empty() || allowed.iter().any(|v| groups::covers(v, location));
    is_allowed && !denied.iter().any(|v| groups::covers(v, location))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_allow_deny_and_reset() {
        let eu = json!({"rules": [{"values": {"allowedValues": ["in:eu-locations"]}}]});
        assert!(allows(&eu, Location::Zone("europe-west3-a")));
        assert!(!allows(&eu, Location::Region("us-east1")));
        let deny = json!({"rules": [{"values": {"deniedValues": ["in:us-locations"]}}]});
        assert!(allows(&deny, Location::Region("europe-west1")));
        assert!(!allows(&deny, Location::Zone("us-east1-b")));
        assert!(!allows(
            &json!({"rules": [{"denyAll": true}]}),
            Location::Region("europe-west1")
        ));
        assert!(allows(
            &json!({"rules": [{"allowAll": true}]}),
            Location::Region("us-east1")
        ));
        let reset = json!({"reset": true, "rules": [{"denyAll": true}]});
        assert!(allows(&reset, Location::Region("us-east1")));
    }
}
