//! Resource types, one module per service and kind.

pub mod ec2;
