//! Every service of the catalog declares its routes through the runtime, so that 404 and 405
//! (with `Allow`) are the same everywhere: each declared route is reachable, a wrong method on it
//! is 405 naming the methods it has, and a path with an empty segment (`//`) is 404.

mod common;

#[test]
fn every_service_answers_a_wrong_method_with_405_and_empty_segments_with_404() {
    let mut problems = Vec::new();
    let mut routes = 0;
    for (service, facts) in common::services() {
        let found = (facts.route_problems)();
        routes += 1;
        problems.extend(found.into_iter().map(|p| format!("{service}: {p}")));
    }
    assert_eq!(routes, 27);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn example_paths_fill_parameters_and_the_rest() {
    assert_eq!(common::example_path("/"), "/");
    assert_eq!(
        common::example_path("/sessions/{id}/chunks/{index}"),
        "/sessions/id1/chunks/index1"
    );
    assert_eq!(
        common::example_path("/api/{service}/{*rest}"),
        "/api/service1/a/b"
    );
}
