//! Percent-encoding of URL query values, for the registry API and the Docker Engine API.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// RFC 3986 unreserved characters stay; everything else in a query value is %XX-encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `s` as a query value: `repository:pickme/lucid:pull` → `repository%3Apickme%2Flucid%3Apull`.
pub fn query_value(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

#[cfg(test)]
mod tests {
    use super::query_value;

    #[test]
    fn keeps_only_unreserved_characters() {
        assert_eq!(
            query_value("repository:pickme/lucid:pull,push"),
            "repository%3Apickme%2Flucid%3Apull%2Cpush"
        );
        assert_eq!(
            query_value("sha256:ab-c.d_e~f 1"),
            "sha256%3Aab-c.d_e~f%201"
        );
    }
}
