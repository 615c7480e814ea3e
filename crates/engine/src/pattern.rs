//! IAM wildcard matching (`*` any run, `?` one character), shared by detection and migrations.

/// Match an IAM pattern against a name. Action names compare case-insensitively, resources
/// case-sensitively, as IAM does.
pub fn matches(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if ignore_case {
        (
            pattern.to_ascii_lowercase().chars().collect(),
            text.to_ascii_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    // Iterative glob with single backtrack point: linear in practice, no recursion to blow up.
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Whether an action pattern matches an action (case-insensitive).
pub fn action_matches(pattern: &str, action: &str) -> bool {
    matches(pattern, action, true)
}

/// Whether a string holds an IAM wildcard.
pub fn is_wildcard(pattern: &str) -> bool {
    pattern.contains('*') || pattern.contains('?')
}

/// Whether an action pattern can match some action of `service` (`*`, `i*:*`, `iam:List*`).
pub fn pattern_covers_service(pattern: &str, service: &str) -> bool {
    match pattern.split_once(':') {
        Some((svc, _)) => matches(svc, service, true),
        // A bare `*` (or `?*`-like pattern without a colon) can match whole action names.
        None => matches(pattern, &format!("{service}:x"), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globbing() {
        assert!(action_matches("iam:List*", "IAM:ListUsers"));
        assert!(action_matches("*", "sts:GetSessionToken"));
        assert!(action_matches("iam:Get?ser", "iam:GetUser"));
        assert!(!action_matches("iam:Get?ser", "iam:GetUsers"));
        assert!(!matches(
            "arn:aws:iam::*:user/Bob",
            "arn:aws:iam::1:user/bob",
            false
        ));
        assert!(matches("a*b*c", "aXXbYYc", false));
        assert!(!matches("a*b*c", "aXXbYY", false));
    }

    #[test]
    fn service_coverage() {
        assert!(pattern_covers_service("iam:*", "iam"));
        assert!(pattern_covers_service("*", "iam"));
        assert!(pattern_covers_service("i*:List*", "iam"));
        assert!(!pattern_covers_service("s3:*", "iam"));
    }
}
