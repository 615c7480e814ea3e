//! The IAM actions forcemfa calls, as lists the documented least-privilege policies
//! (`docs/permissions/`) must grant; a test checks them against those files.

/// Every action `plan` needs (reads only).
pub const PLAN_ACTIONS: &[&str] = &[
    "sts:GetCallerIdentity",
    "iam:GetAccountAuthorizationDetails",
    "iam:ListPolicyTags",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:ListPolicyVersions",
    "iam:GetUserPolicy",
    "iam:GetGroupPolicy",
    "iam:GetRolePolicy",
    // Who is affected (sources/principals.rs): the credential report and virtual MFA devices.
    "iam:GenerateCredentialReport",
    "iam:GetCredentialReport",
    "iam:ListVirtualMFADevices",
];

/// Every action `apply` and `rollback` need beyond [`PLAN_ACTIONS`].
pub const APPLY_ACTIONS: &[&str] = &[
    "iam:ListUserPolicies",
    "iam:ListGroupPolicies",
    "iam:ListRolePolicies",
    "iam:CreatePolicyVersion",
    "iam:DeletePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:PutUserPolicy",
    "iam:PutGroupPolicy",
    "iam:PutRolePolicy",
];
