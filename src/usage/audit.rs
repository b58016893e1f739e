//! The audit log's entries: who did what to what, when, from where, and how it was answered.
//! Never a key, a token or a body: the actor is a key id, the place an address prefix, the
//! target an id from the path (or the new key's id).

use std::net::IpAddr;

use serde::Serialize;

use crate::auth::Scope;
use crate::auth::routes::{Access, ROUTES};

/// Who acted when it was not a key.
pub const ACTOR_CLI: &str = "cli";
/// A request to a server without a server secret (every route open).
pub const ACTOR_DEV_MODE: &str = "dev-mode";

/// One admin action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Its rank in the log (0 until written).
    pub id: i64,
    /// Unix milliseconds.
    pub at_ms: i64,
    /// A key id (`key_…`), `cli` or `dev-mode`.
    pub actor: String,
    /// The client's address cut to its network: /24 for IPv4, /48 for IPv6 (absent for the
    /// CLI and when the server has no peer address).
    pub ip_prefix: Option<String>,
    /// `keys.create`, `reindex`, `companies.delete`… ([`action_of`]).
    pub action: String,
    /// What it acted on: a key or company id.
    pub target: Option<String>,
    /// The HTTP status answered (absent for the CLI, which records only what it did).
    pub status: Option<u16>,
    /// The request's `x-request-id`, to find its log lines.
    pub request_id: Option<String>,
}

impl AuditEntry {
    /// An action of the command line on the data directory, now.
    pub fn cli(action: &str, target: Option<&str>) -> AuditEntry {
        AuditEntry {
            id: 0,
            at_ms: jiff::Timestamp::now().as_millisecond(),
            actor: ACTOR_CLI.to_owned(),
            ip_prefix: None,
            action: action.to_owned(),
            target: target.map(str::to_owned),
            status: None,
            request_id: None,
        }
    }
}

/// The names of the audited routes' actions. A state-changing admin route missing here is
/// still audited, as `METHOD /path`.
const ACTIONS: &[(&str, &str, &str)] = &[
    ("POST", "/admin/keys", "keys.create"),
    ("DELETE", "/admin/keys/{id}", "keys.revoke"),
    ("POST", "/admin/keys/{id}/rotate", "keys.rotate"),
    ("POST", "/admin/reindex", "reindex"),
    ("POST", "/admin/snapshot", "snapshot"),
    ("POST", "/admin/priors", "priors"),
    ("POST", "/admin/scoring/train", "scoring.train"),
    ("POST", "/admin/scoring/apply", "scoring.apply"),
    ("DELETE", "/api/v1/companies/{id}", "companies.delete"),
];

/// The action a request to `path` (as the router names it) is, when it is audited: every
/// route of the admin scope but reads (`GET`), and every delete.
pub fn action_of(method: &str, path: &str) -> Option<String> {
    // Most requests are reads: answered before the table is searched.
    if method == "GET" {
        return None;
    }
    let (_, _, access) = ROUTES.iter().find(|(m, p, _)| *m == method && *p == path)?;
    let audited = method == "DELETE" || (method != "GET" && *access == Access::Needs(Scope::Admin));
    if !audited {
        return None;
    }
    Some(match ACTIONS.iter().find(|(m, p, _)| *m == method && *p == path) {
        Some((_, _, name)) => (*name).to_owned(),
        None => format!("{method} {path}"),
    })
}

/// The values of a path's parameters: the segments of `uri_path` where `route` has `{name}`,
/// joined with `/`; `None` for a route without parameters.
pub fn path_target(route: &str, uri_path: &str) -> Option<String> {
    let values: Vec<&str> = route
        .split('/')
        .zip(uri_path.split('/'))
        .filter(|(pattern, _)| pattern.starts_with('{'))
        .map(|(_, value)| value)
        .collect();
    if values.is_empty() {
        return None;
    }
    // The values are the client's: cut, so a long one is not stored whole.
    Some(crate::error::truncated(&values.join("/"), crate::error::MAX_ECHOED_CHARS).into_owned())
}

/// `ip` cut to its network, as the log keeps it: `203.0.113.0/24`, `2001:db8:1::/48` (an
/// IPv4 address mapped into IPv6 is taken as IPv4); `None` for the unspecified address.
pub fn ip_prefix(ip: IpAddr) -> Option<String> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    if ip.is_unspecified() {
        return None;
    }
    Some(match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{}/24", std::net::Ipv4Addr::new(a, b, c, 0))
        }
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments[3..].fill(0);
            format!("{}/48", std::net::Ipv6Addr::from(segments))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_cut_to_their_network() {
        let check = |ip: &str, expected: Option<&str>| {
            assert_eq!(ip_prefix(ip.parse().unwrap()).as_deref(), expected, "{ip}");
        };
        check("203.0.113.77", Some("203.0.113.0/24"));
        check("127.0.0.1", Some("127.0.0.0/24"));
        check("2001:db8:1:2:3:4:5:6", Some("2001:db8:1::/48"));
        check("::1", Some("::/48"));
        check("::ffff:198.51.100.9", Some("198.51.100.0/24"));
        check("0.0.0.0", None);
        check("::", None);
    }

    #[test]
    fn state_changes_of_the_admin_scope_and_deletes_are_audited() {
        assert_eq!(action_of("POST", "/admin/keys").as_deref(), Some("keys.create"));
        assert_eq!(action_of("POST", "/admin/reindex").as_deref(), Some("reindex"));
        assert_eq!(action_of("DELETE", "/api/v1/companies/{id}").as_deref(), Some("companies.delete"));
        assert_eq!(action_of("GET", "/admin/keys"), None, "reads are not audited");
        assert_eq!(action_of("GET", "/admin/audit"), None);
        assert_eq!(action_of("POST", "/api/v1/match"), None);
        assert_eq!(action_of("POST", "/api/v1/companies"), None, "writes of the write scope are usage, not admin");
        assert_eq!(action_of("POST", "/nope"), None);
        // Every named action is a route that is audited; every audited route is.
        for (method, path, name) in ACTIONS {
            assert_eq!(action_of(method, path).as_deref(), Some(*name), "{method} {path}");
        }
        for (method, path, access) in ROUTES {
            if *method != "GET" && *access == Access::Needs(Scope::Admin) {
                assert!(action_of(method, path).is_some(), "{method} {path} changes state and is not audited");
            }
        }
    }

    #[test]
    fn targets_are_the_path_parameters() {
        assert_eq!(path_target("/admin/keys/{id}/rotate", "/admin/keys/key_abc/rotate").as_deref(), Some("key_abc"));
        assert_eq!(path_target("/api/v1/companies/{id}", "/api/v1/companies/552100554").as_deref(), Some("552100554"));
        assert_eq!(path_target("/admin/snapshot", "/admin/snapshot"), None);
        let long = format!("/admin/keys/{}", "x".repeat(500));
        assert!(path_target("/admin/keys/{id}", &long).unwrap().chars().count() <= crate::error::MAX_ECHOED_CHARS + 1);
    }
}
