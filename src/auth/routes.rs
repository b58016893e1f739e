//! Which scope each route needs: the one table the access layer reads. A route missing from it
//! fails `every_route_of_the_router_is_in_the_table` (which reads the router's source).

use super::Scope;

/// What a route asks of a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No key: `/` (the console shell), `/health`, and the API's reference (`/openapi.json`,
    /// `/docs` and its script).
    Open,
    /// A key or token holding the scope.
    Needs(Scope),
    /// `/metrics`: the `metrics` scope or `admin`.
    Metrics,
}

/// (method, path as the router names it, access).
pub const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/", Access::Open),
    ("GET", "/health", Access::Open),
    ("GET", "/openapi.json", Access::Open),
    ("GET", "/docs", Access::Open),
    ("GET", "/docs/redoc.standalone.js", Access::Open),
    ("GET", "/metrics", Access::Metrics),
    ("POST", "/api/v1/match", Access::Needs(Scope::Search)),
    ("GET", "/api/v1/suggest", Access::Needs(Scope::Suggest)),
    ("POST", "/api/v1/companies", Access::Needs(Scope::Write)),
    ("GET", "/api/v1/companies/{id}", Access::Needs(Scope::Read)),
    ("DELETE", "/api/v1/companies/{id}", Access::Needs(Scope::Write)),
    ("POST", "/api/v1/signals", Access::Needs(Scope::Write)),
    ("POST", "/api/v1/articles", Access::Needs(Scope::Write)),
    ("POST", "/api/v1/outcomes", Access::Needs(Scope::Write)),
    ("GET", "/api/v1/companies/{id}/opportunity", Access::Needs(Scope::Read)),
    ("GET", "/api/v1/opportunities/top", Access::Needs(Scope::Read)),
    ("GET", "/api/v1/top-opportunities", Access::Needs(Scope::Read)),
    ("POST", "/api/v1/score", Access::Needs(Scope::Read)),
    ("POST", "/admin/reindex", Access::Needs(Scope::Admin)),
    ("GET", "/admin/tasks/{task_id}", Access::Needs(Scope::Admin)),
    ("POST", "/admin/snapshot", Access::Needs(Scope::Admin)),
    ("POST", "/admin/priors", Access::Needs(Scope::Admin)),
    ("GET", "/admin/scoring/drift", Access::Needs(Scope::Admin)),
    ("POST", "/admin/scoring/train", Access::Needs(Scope::Admin)),
    ("POST", "/admin/scoring/apply", Access::Needs(Scope::Admin)),
    ("POST", "/admin/keys", Access::Needs(Scope::Admin)),
    ("GET", "/admin/keys", Access::Needs(Scope::Admin)),
    ("DELETE", "/admin/keys/{id}", Access::Needs(Scope::Admin)),
    ("POST", "/admin/keys/{id}/rotate", Access::Needs(Scope::Admin)),
    ("GET", "/admin/usage", Access::Needs(Scope::Admin)),
    ("GET", "/admin/audit", Access::Needs(Scope::Admin)),
];

/// The access a route needs; `None` for a route the table does not know (refused: a route
/// nobody classified is nobody's to call).
pub fn access(method: &str, path: &str) -> Option<Access> {
    ROUTES.iter().find(|(m, p, _)| *m == method && *p == path).map(|(_, _, access)| *access)
}

/// The access a request's concrete path needs (`/api/v1/companies/42` is
/// `/api/v1/companies/{id}`), for the layers that run before routing (CORS preflights).
pub fn access_of_path(method: &str, path: &str) -> Option<Access> {
    ROUTES.iter().find(|(m, p, _)| *m == method && template_matches(p, path)).map(|(_, _, access)| *access)
}

/// Whether a concrete path fits a route's template: segment by segment, a `{parameter}` taking
/// any non-empty one.
pub fn template_matches(template: &str, path: &str) -> bool {
    let (mut template, mut path) = (template.split('/'), path.split('/'));
    loop {
        match (template.next(), path.next()) {
            (None, None) => return true,
            (Some(t), Some(s)) if t.starts_with('{') && t.ends_with('}') && !s.is_empty() => {}
            (Some(t), Some(s)) if t == s => {}
            _ => return false,
        }
    }
}

/// Whether a browser page may call a route from another origin: the routes a publishable key
/// or a signed token can reach (search, suggest, feedback), never a write or admin one.
pub fn cross_origin(access: Access) -> bool {
    matches!(access, Access::Needs(scope) if super::Scope::PUBLISHABLE.contains(&scope))
}

/// Whether a key holding `scopes` may call a route needing `access`.
pub fn allows(access: Access, scopes: &[Scope]) -> bool {
    match access {
        Access::Open => true,
        Access::Needs(scope) => scopes.contains(&scope),
        Access::Metrics => scopes.contains(&Scope::Metrics) || scopes.contains(&Scope::Admin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.route(path, method(…).method(…))` of the router (src/http/mod.rs) is in the
    /// table, and every row of the table is a route of the router.
    #[test]
    fn every_route_of_the_router_is_in_the_table() {
        let source = include_str!("../http/mod.rs");
        let mut routed: Vec<(String, String)> = Vec::new();
        for call in source.split(".route(\"").skip(1) {
            let (path, rest) = call.split_once('"').expect("a quoted path");
            let handlers = rest.split(".route(").next().unwrap_or(rest);
            let handlers = handlers.split(";").next().unwrap_or(handlers);
            for method in ["get", "post", "put", "patch", "delete"] {
                let at_start = handlers.trim_start_matches([',', ' ', '\n']).starts_with(&format!("{method}("));
                if at_start || handlers.contains(&format!(".{method}(")) {
                    routed.push((method.to_uppercase(), path.to_owned()));
                }
            }
        }
        assert!(routed.len() >= 19, "the router's routes were not found: {routed:?}");
        for (method, path) in &routed {
            assert!(
                access(method, path).is_some(),
                "{method} {path} is routed but has no scope in auth::routes::ROUTES"
            );
        }
        for (method, path, _) in ROUTES {
            assert!(
                routed.iter().any(|(m, p)| m == method && p == path),
                "{method} {path} is in the table but not routed"
            );
        }
    }

    #[test]
    fn concrete_paths_find_their_route() {
        assert_eq!(access_of_path("GET", "/api/v1/companies/42"), Some(Access::Needs(Scope::Read)));
        assert_eq!(access_of_path("GET", "/api/v1/companies/42/opportunity"), Some(Access::Needs(Scope::Read)));
        assert_eq!(access_of_path("POST", "/api/v1/match"), Some(Access::Needs(Scope::Search)));
        assert_eq!(access_of_path("GET", "/api/v1/companies/"), None);
        assert_eq!(access_of_path("GET", "/api/v1/companies/42/x"), None);
        assert_eq!(access_of_path("GET", "/"), Some(Access::Open));
        assert!(cross_origin(access_of_path("GET", "/api/v1/suggest").unwrap()));
        assert!(!cross_origin(access_of_path("POST", "/admin/snapshot").unwrap()));
        assert!(!cross_origin(access_of_path("DELETE", "/api/v1/companies/1").unwrap()));
        assert!(!cross_origin(Access::Open));
    }

    #[test]
    fn scopes_open_exactly_their_routes() {
        assert!(allows(access("GET", "/health").unwrap(), &[]));
        assert!(!allows(access("POST", "/api/v1/match").unwrap(), &[Scope::Suggest]));
        assert!(allows(access("POST", "/api/v1/match").unwrap(), &[Scope::Search]));
        assert!(!allows(access("POST", "/admin/reindex").unwrap(), &[Scope::Write, Scope::Search]));
        assert!(allows(Access::Metrics, &[Scope::Admin]) && allows(Access::Metrics, &[Scope::Metrics]));
        assert!(!allows(Access::Metrics, &[Scope::Read]));
        assert_eq!(access("PUT", "/api/v1/match"), None);
        // A publishable key reaches no write or admin route.
        for (method, path, route) in ROUTES {
            if let Access::Needs(scope) = route
                && allows(*route, &Scope::PUBLISHABLE)
            {
                assert!(Scope::PUBLISHABLE.contains(scope), "{method} {path}");
                assert!(!path.starts_with("/admin"), "{method} {path}");
            }
        }
    }
}
