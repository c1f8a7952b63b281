//! Resource types, one module per service and kind.

pub mod autoscaling;
pub mod common;
pub mod ec2;
pub mod elbv2;
pub mod organizations;
