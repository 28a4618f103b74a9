//! The EC2 and EBS direct operations, one module per family. Operations not built yet keep
//! the generated trait's default: AWS's error envelope with code `NotImplemented`.

pub mod common;

use crate::Snapshots;
use kmsnap_api::gen::{ebs, ec2};
use kmsnap_auth::RequestContext;

impl ec2::Ec2Handler<RequestContext> for Snapshots {}

impl ebs::EbsHandler<RequestContext> for Snapshots {}
