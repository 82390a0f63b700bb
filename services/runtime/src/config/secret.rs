//! Secrets: never plain environment values in a deployment, but files (compose secrets).

use super::Env;

impl Env {
    /// A secret: the value of `NAME`, or the contents of the file named by `NAME_FILE`
    /// (how compose secrets arrive, so that no secret is a plain environment value).
    pub fn secret(&mut self, name: &str, doc: &str) -> Option<String> {
        let file_var = format!("{name}_FILE");
        self.record(&file_var, None, &format!("file holding {doc}"));
        self.record(name, None, doc);
        if let Some(path) = self.raw(&file_var).map(str::to_string) {
            return match std::fs::read_to_string(&path) {
                Ok(s) => Some(s.trim_end_matches(['\n', '\r']).to_string()),
                Err(e) => {
                    self.errors
                        .push(format!("{file_var}={path:?}: cannot read: {e}"));
                    None
                }
            };
        }
        self.raw(name).map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_from_file() {
        let dir = std::path::PathBuf::from(crate::testing::temp_dir("lucid-secret"));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "s3cret\n").unwrap();
        let mut env = Env::from_vars([("PW_FILE", file.to_str().unwrap())]);
        assert_eq!(env.secret("PW", "password").as_deref(), Some("s3cret"));
        let mut env = Env::from_vars([("PW_FILE", "/nonexistent/pw")]);
        assert_eq!(env.secret("PW", "password"), None);
        assert_eq!(env.errors().len(), 1);
    }
}
