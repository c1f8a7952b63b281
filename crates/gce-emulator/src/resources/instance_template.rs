//! Instance templates (`global/instanceTemplates` and `regions/{r}/instanceTemplates`):
//! immutable `properties` whose machine type is a bare name and whose network interfaces
//! must reference existing networks and subnetworks (in the template's region if regional).

use super::{check_labels, get_str, instance, Ctx};
use crate::errors::{ApiError, ApiResult};
use serde_json::{Map, Value};

pub fn prepare(ctx: &mut Ctx, body: &mut Map<String, Value>) -> ApiResult<()> {
    let props = match body.get_mut("properties") {
        Some(Value::Object(p)) => p,
        Some(_) => {
            return Err(ApiError::invalid(
                "Invalid value for field 'resource.properties'. Must be an object.",
            ))
        }
        None => return Err(ApiError::required("resource.properties")),
    };
    let mt = get_str(props, "machineType")
        .ok_or_else(|| ApiError::required("resource.properties.machineType"))?;
    if !instance::valid_machine_type(mt) {
        return Err(ApiError::invalid_field(
            "resource.properties.machineType",
            mt,
            "Must be the name of a machine type, e.g. 'e2-medium'.",
        ));
    }
    check_labels("resource.properties.labels", props.get("labels"))?;
    instance::prepare_disks(props, "resource.properties.disks", None)?;
    instance::prepare_nics(ctx, props, "resource.properties.networkInterfaces", false)?;
    Ok(())
}
