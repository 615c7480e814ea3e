//! IaC tag rules: whether a policy's (or its owner's) tags say a deployment tool manages it, so
//! that a change made here would be reverted or cause drift.

/// Why tags suggest the policy is managed by infrastructure as code, or `None`.
pub fn iac_reason(tags: &[(String, String)]) -> Option<String> {
    const TOOLS: &[&str] = &[
        "terraform",
        "opentofu",
        "tofu",
        "terragrunt",
        "cloudformation",
        "cfn",
        "cdk",
        "pulumi",
        "crossplane",
        "ansible",
        "serverless",
        "sam",
    ];
    const MANAGER_KEYS: &[&str] = &[
        "managedby",
        "managed-by",
        "managed_by",
        "managed by",
        "provisionedby",
        "provisioned-by",
        "provisioned_by",
        "createdby",
        "created-by",
        "created_by",
        "iac",
        "tool",
    ];
    // Stack or Terraform source named, with the command that fixes it there.
    if let Some(owner) = crate::sources::iac::owner(tags) {
        return Some(owner);
    }
    for (key, value) in tags {
        let k = key.to_ascii_lowercase();
        if k.starts_with("aws:cloudformation:") {
            return Some(format!("tag {key}={value} (CloudFormation stack)"));
        }
        if MANAGER_KEYS.contains(&k.as_str()) {
            let v = value.to_ascii_lowercase();
            if v.split(|c: char| !c.is_ascii_alphanumeric())
                .any(|word| TOOLS.contains(&word))
            {
                return Some(format!("tag {key}={value}"));
            }
        }
        if k.starts_with("terraform")
            || k.starts_with("tf_")
            || k.starts_with("tf:")
            || k.starts_with("pulumi")
            || k.starts_with("aws-cdk:")
        {
            return Some(format!("tag {key}={value}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn iac_reason_recognises_common_tags() {
        assert!(iac_reason(&tags(&[("aws:cloudformation:stack-name", "base")])).is_some());
        assert!(iac_reason(&tags(&[("ManagedBy", "Terraform")])).is_some());
        assert!(iac_reason(&tags(&[("managed-by", "aws-cdk")])).is_some());
        assert!(iac_reason(&tags(&[("terraform-module", "iam")])).is_some());
        assert!(iac_reason(&tags(&[("ManagedBy", "alice")])).is_none());
        assert!(iac_reason(&tags(&[("team", "sample")])).is_none());
        assert!(iac_reason(&[]).is_none());
    }
}
