//! Plain values: strings, numbers, flags, paths.

use super::Env;
use std::fmt::Display;
use std::ops::{Bound, RangeBounds};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

impl Env {
    /// A string with a default.
    pub fn string(&mut self, name: &str, default: &str, doc: &str) -> String {
        self.record(name, Some(default.into()), doc);
        self.raw(name).unwrap_or(default).to_string()
    }

    /// An optional string.
    pub fn optional(&mut self, name: &str, doc: &str) -> Option<String> {
        self.record(name, None, doc);
        self.raw(name).map(str::to_string)
    }

    /// A required string: missing is an error.
    pub fn required(&mut self, name: &str, doc: &str) -> String {
        self.record(name, None, doc);
        match self.raw(name) {
            Some(v) => v.to_string(),
            None => {
                self.errors
                    .push(format!("{name}: required but not set ({doc})"));
                String::new()
            }
        }
    }

    /// A parsed value with a default; an unparsable value is an error naming the variable.
    pub fn parse<T>(&mut self, name: &str, default: T, doc: &str) -> T
    where
        T: FromStr + Display,
        T::Err: Display,
    {
        self.record(name, Some(default.to_string()), doc);
        match self.raw(name) {
            None => default,
            Some(v) => match v.parse::<T>() {
                Ok(parsed) => parsed,
                Err(e) => {
                    self.errors.push(format!("{name}={v:?}: {e}"));
                    default
                }
            },
        }
    }

    /// [`Env::parse`], and the value must lie in `range`: outside it is an error naming the
    /// variable, the value and the range.
    pub fn parse_within<T>(
        &mut self,
        name: &str,
        default: T,
        range: impl RangeBounds<T>,
        doc: &str,
    ) -> T
    where
        T: FromStr + Display + PartialOrd,
        T::Err: Display,
    {
        let value = self.parse(name, default, doc);
        if !range.contains(&value) {
            let bound = |b: Bound<&T>| match b {
                Bound::Included(v) => Some(v.to_string()),
                Bound::Excluded(_) | Bound::Unbounded => None,
            };
            let allowed = match (bound(range.start_bound()), bound(range.end_bound())) {
                (Some(lo), Some(hi)) => format!("must be {lo} to {hi}"),
                (Some(lo), None) => format!("must be at least {lo}"),
                (None, Some(hi)) => format!("must be at most {hi}"),
                (None, None) => "is out of range".to_string(),
            };
            self.errors.push(format!("{name}={value}: {allowed}"));
        }
        value
    }

    /// A duration within `range`, in the unit its name ends in: `*_SECS` (whole seconds) or
    /// `*_MS` (milliseconds), so the name a user sets and the unit read cannot disagree.
    pub fn duration(
        &mut self,
        name: &str,
        default: u64,
        range: impl RangeBounds<u64>,
        doc: &str,
    ) -> Duration {
        let value = self.parse_within(name, default, range, doc);
        if name.ends_with("_MS") {
            Duration::from_millis(value)
        } else {
            self.check(
                name.ends_with("_SECS"),
                format!("{name}: a duration's name must end in _SECS or _MS"),
            );
            Duration::from_secs(value)
        }
    }

    /// A boolean: true/false/1/0/yes/no.
    pub fn flag(&mut self, name: &str, default: bool, doc: &str) -> bool {
        self.record(name, Some(default.to_string()), doc);
        match self.raw(name).map(str::to_ascii_lowercase).as_deref() {
            None => default,
            Some("1" | "true" | "yes" | "on") => true,
            Some("0" | "false" | "no" | "off") => false,
            Some(other) => {
                self.errors
                    .push(format!("{name}={other:?}: expected true or false"));
                default
            }
        }
    }

    /// A filesystem path with a default (a volume of the service).
    pub fn path(&mut self, name: &str, default: &str, doc: &str) -> PathBuf {
        PathBuf::from(self.string(name, default, doc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_number_is_an_error_naming_the_variable() {
        let mut env = Env::from_vars([("LUCID_HTTP_PORT", "eighty")]);
        let port: u16 = env.parse("LUCID_HTTP_PORT", 8080, "port");
        assert_eq!(port, 8080);
        assert_eq!(env.errors().len(), 1);
        assert!(
            env.errors()[0].starts_with("LUCID_HTTP_PORT=\"eighty\""),
            "{:?}",
            env.errors()
        );
    }

    #[test]
    fn value_out_of_range_is_an_error_naming_variable_value_and_range() {
        let mut env = Env::from_vars([("A", "0"), ("B", "65"), ("C", "7"), ("D", "0")]);
        assert_eq!(env.parse_within("A", 4u32, 1..=64, "a"), 0);
        assert_eq!(env.parse_within("B", 4u32, 1..=64, "b"), 65);
        assert_eq!(env.parse_within("C", 4u32, 1..=64, "c"), 7);
        assert_eq!(env.parse_within("D", 60u64, 1.., "d"), 0);
        assert_eq!(env.parse_within("E", 60u64, 1.., "e"), 60);
        assert_eq!(
            env.errors(),
            [
                "A=0: must be 1 to 64",
                "B=65: must be 1 to 64",
                "D=0: must be at least 1"
            ]
        );
    }

    #[test]
    fn durations_are_read_in_the_unit_their_name_says_and_bounded() {
        let mut env = Env::from_vars([("T_SECS", "90"), ("T_MS", "250"), ("Z_SECS", "0")]);
        assert_eq!(env.duration("T_SECS", 5, 1.., "t"), Duration::from_secs(90));
        assert_eq!(
            env.duration("T_MS", 5, 1..=1000, "t"),
            Duration::from_millis(250)
        );
        assert_eq!(env.duration("D_SECS", 5, 1.., "d"), Duration::from_secs(5));
        env.duration("Z_SECS", 5, 1.., "z");
        env.duration("TIMEOUT", 5, 1.., "no unit");
        assert_eq!(
            env.errors(),
            [
                "Z_SECS=0: must be at least 1",
                "TIMEOUT: a duration's name must end in _SECS or _MS"
            ]
        );
    }
}
