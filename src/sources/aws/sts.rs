//! STS: who the credentials are (`GetCallerIdentity`), and an MFA session for an operator who is
//! under a force-MFA policy too (`GetSessionToken`). Assumed roles are in [`super::refresh`].

use aws_sdk_iam::config::{Credentials, SharedCredentialsProvider};

use super::errors::{AwsError, StoreError};

/// `sdk` with the credentials of an MFA session made from its own credentials. `tried` says where
/// credentials were looked for, for the error message.
pub async fn with_mfa_session(
    sdk: aws_types::SdkConfig,
    serial: &str,
    code: &str,
    tried: &str,
) -> Result<aws_types::SdkConfig, StoreError> {
    let sts = aws_sdk_sts::Client::new(&sdk);
    let out = sts
        .get_session_token()
        .serial_number(serial)
        .token_code(code)
        .send()
        .await
        .map_err(|e| StoreError::Credentials {
            detail: format!(
                "sts:GetSessionToken with MFA device {serial} failed ({}); tried {tried}; check the device ARN and enter a fresh code",
                AwsError::new(e).text()
            ),
        })?;
    let c = out.credentials().ok_or_else(|| StoreError::Credentials {
        detail: format!("sts:GetSessionToken returned no credentials; tried {tried}"),
    })?;
    let creds = Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        std::time::SystemTime::try_from(*c.expiration()).ok(),
        "forcemfa-mfa-session",
    );
    Ok(sdk
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .build())
}

/// The account the credentials of `sdk` belong to.
pub async fn caller_account(sdk: &aws_types::SdkConfig, tried: &str) -> Result<String, StoreError> {
    let sts = aws_sdk_sts::Client::new(sdk);
    let identity = sts.get_caller_identity().send().await.map_err(|e| {
        StoreError::Credentials {
            detail: format!(
                "sts:GetCallerIdentity failed ({}); tried {tried}; sign in (`aws sso login`, `aws configure`) or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or pass --profile; add --mfa-serial if your credentials need MFA",
                AwsError::new(e).text()
            ),
        }
    })?;
    identity
        .account()
        .map(str::to_string)
        .ok_or_else(|| StoreError::Credentials {
            detail: format!("sts:GetCallerIdentity returned no account id; tried {tried}"),
        })
}
