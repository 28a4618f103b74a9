//! Wiring of the generated per-service handler traits to the domains. An operation a domain
//! does not build yet keeps its trait's default, which answers with AWS's error envelope and
//! code `NotImplemented`, never a success.

use crate::state::App;
use bytes::Bytes;
use kmsnap_api::gen;
use kmsnap_api::gen::sts::{
    AssumeRoleRequest, AssumeRoleResponse, AssumedRoleUser, Credentials as StsCredentials,
    GetCallerIdentityRequest, GetCallerIdentityResponse, StsHandler,
};
use kmsnap_api::proto::Decoded;
use kmsnap_api::{AwsError, Timestamp};
pub use kmsnap_auth::RequestContext;
use kmsnap_auth::{AssumeRoleParams, Keyring};

/// STS: GetCallerIdentity and AssumeRole, on the keyring that also authenticates requests.
pub struct Sts<'a>(&'a Keyring);

impl StsHandler<RequestContext> for Sts<'_> {
    async fn get_caller_identity(
        &self,
        ctx: &RequestContext,
        _input: GetCallerIdentityRequest,
    ) -> Result<GetCallerIdentityResponse, AwsError> {
        let id = kmsnap_auth::ops::get_caller_identity::get_caller_identity(&ctx.principal);
        Ok(GetCallerIdentityResponse {
            account: Some(id.account),
            arn: Some(id.arn),
            user_id: Some(id.user_id),
        })
    }

    async fn assume_role(
        &self,
        ctx: &RequestContext,
        input: AssumeRoleRequest,
    ) -> Result<AssumeRoleResponse, AwsError> {
        // A descriptor without an ARN stays in the list as "" so that validation reports it.
        let policy_arns: Vec<String> = input
            .policy_arns
            .iter()
            .flatten()
            .map(|d| d.arn.clone().unwrap_or_default())
            .collect();
        let params = AssumeRoleParams {
            role_arn: &input.role_arn,
            session_name: &input.role_session_name,
            duration_seconds: input.duration_seconds,
            policy: input.policy.as_deref(),
            policy_arns: &policy_arns,
            external_id: input.external_id.as_deref(),
            source_identity: input.source_identity.as_deref(),
        };
        let r = self.0.assume_role(&ctx.principal, &params, ctx.now)?;
        Ok(AssumeRoleResponse {
            credentials: Some(StsCredentials {
                access_key_id: r.access_key_id,
                secret_access_key: r.secret.expose().to_owned(),
                session_token: r.session_token,
                expiration: Timestamp(r.expiration),
            }),
            assumed_role_user: Some(AssumedRoleUser {
                assumed_role_id: r.assumed_role_id,
                arn: r.arn,
            }),
            packed_policy_size: r.packed_policy_size,
            source_identity: r.source_identity,
            ..Default::default()
        })
    }
}

pub async fn dispatch(
    app: &App,
    ctx: &RequestContext,
    service: &str,
    op: &str,
    input: Decoded,
) -> Result<(serde_json::Value, Option<Bytes>), AwsError> {
    match service {
        "sts" => gen::sts::dispatch(&Sts(&app.keyring), ctx, op, input).await,
        "kms" => gen::kms::dispatch(app.kms.as_ref(), ctx, op, input).await,
        "ec2" => gen::ec2::dispatch(app.snapshots.as_ref(), ctx, op, input).await,
        "ebs" => gen::ebs::dispatch(app.snapshots.as_ref(), ctx, op, input).await,
        "rds" => {
            // What is due settles before the call sees it (issue #17: waiters return on their
            // first poll); a failure here is logged and the call goes on with what is stored.
            if let Err(e) = app.rds.settle(ctx.now).await {
                tracing::warn!(error = %e, "rds: settling due transitions failed");
            }
            gen::rds::dispatch(app.rds.as_ref(), ctx, op, input).await
        }
        "backup" => gen::backup::dispatch(app.backup.as_ref(), ctx, op, input).await,
        "cloudtrail" => gen::cloudtrail::dispatch(&app.cloudtrail, ctx, op, input).await,
        "iam" => gen::iam::dispatch(app.iam.as_ref(), ctx, op, input).await,
        other => Err(AwsError::not_implemented(other, op)),
    }
}
