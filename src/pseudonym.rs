//! Keyed pseudonyms of users: HMAC-SHA256 over the normalised e-mail.
//!
//! With a key configured, conversion replaces the `user` of every action by
//! `hmac:<64 lowercase hex digits>`, the HMAC-SHA256 of the user as normalised by the KPI
//! engine (trimmed and lower-cased), so `Ada@Example.com ` and `ada@example.com` stay one
//! person. It runs inside [`crate::convert::convert`], so the in-process exporter and the
//! bridge both apply it before anything reaches a sink. `actionlog kpi` applies the same
//! function to the employee table's e-mails and to `--exclude-user`, so the KPIs of a
//! pseudonymised warehouse equal those of a clear one.
//!
//! The key never comes from a command-line value or the TOML file (both end up in shell
//! histories, process lists and `--print-config`): only from a file
//! ([`KEY_FILE_ENV`] or the `pseudonym_key_file` setting) or an environment variable
//! ([`KEY_ENV`]). See `docs/security.md`, including what rotating the key means.

use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Environment variable holding the key itself.
pub const KEY_ENV: &str = "ACTIONLOG_PSEUDONYM_KEY";
/// Environment variable holding the path of a file with the key.
pub const KEY_FILE_ENV: &str = "ACTIONLOG_PSEUDONYM_KEY_FILE";
/// What every pseudonym starts with, so a reader can tell a pseudonym from a name.
pub const PREFIX: &str = "hmac:";
/// Shortest key accepted, in bytes: HMAC-SHA256 keys shorter than this are guessable.
pub const MIN_KEY_BYTES: usize = 16;

/// Why no key could be loaded. The messages name the source, never the key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read.
    #[error("cannot read pseudonym key file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The key is shorter than [`MIN_KEY_BYTES`].
    #[error(
        "pseudonym key from {source_name} is too short: {len} byte(s), at least {MIN_KEY_BYTES} needed (e.g. `openssl rand -hex 32`)"
    )]
    TooShort {
        /// Where the key came from (a path or a variable name).
        source_name: String,
        /// Its length after trimming.
        len: usize,
    },
    /// Both a key file and a key variable are set, so which one is meant is unclear.
    #[error("both a pseudonym key file and {KEY_ENV} are set: use one")]
    Ambiguous,
}

/// Turns users into keyed pseudonyms. Cheap to clone; `Debug` never shows the key.
#[derive(Clone)]
pub struct Pseudonymiser {
    /// The MAC already keyed: cloning it per user skips re-deriving the key blocks.
    mac: Hmac<Sha256>,
    /// A hash of the key, so two pseudonymisers compare equal exactly when their keys do,
    /// without keeping the key around in the clear.
    fingerprint: [u8; 32],
}

impl std::fmt::Debug for Pseudonymiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymiser { key: [REDACTED] }")
    }
}

impl PartialEq for Pseudonymiser {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint
    }
}

impl Eq for Pseudonymiser {}

impl Pseudonymiser {
    /// A pseudonymiser with `key` (surrounding ASCII whitespace is ignored, so a key file
    /// ending in a newline works). `source_name` only goes into the error message.
    pub fn new(key: &[u8], source_name: &str) -> Result<Self, KeyError> {
        let key = key.trim_ascii();
        if key.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort {
                source_name: source_name.to_owned(),
                len: key.len(),
            });
        }
        // HMAC takes keys of any length: this cannot fail.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|_| KeyError::TooShort {
            source_name: source_name.to_owned(),
            len: key.len(),
        })?;
        let mut fp = <Hmac<Sha256> as Mac>::new_from_slice(b"actionlog pseudonym key fingerprint")
            .map_err(|_| KeyError::Ambiguous)?;
        fp.update(key);
        Ok(Self {
            mac,
            fingerprint: fp.finalize().into_bytes().into(),
        })
    }

    /// Reads the key from a file.
    pub fn from_key_file(path: &Path) -> Result<Self, KeyError> {
        let key = std::fs::read(path).map_err(|source| KeyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::new(&key, &path.display().to_string())
    }

    /// The key from `file` (a setting or flag) or, failing that, from [`KEY_FILE_ENV`] or
    /// [`KEY_ENV`] read through `env`; `None` when none is set (pseudonymisation off).
    pub fn from_sources(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, KeyError> {
        let env_file = env(KEY_FILE_ENV)
            .filter(|v| !v.trim().is_empty())
            .map(PathBuf::from);
        let file = file.map(Path::to_path_buf).or(env_file);
        let inline = env(KEY_ENV).filter(|v| !v.is_empty());
        match (file, inline) {
            (Some(_), Some(_)) => Err(KeyError::Ambiguous),
            (Some(path), None) => Self::from_key_file(&path).map(Some),
            (None, Some(key)) => Self::new(key.as_bytes(), KEY_ENV).map(Some),
            (None, None) => Ok(None),
        }
    }

    /// The pseudonym of `user`: [`PREFIX`] and the hex HMAC of the trimmed, lower-cased
    /// text. A user that is blank after trimming is returned unchanged, so it still counts
    /// as "no user" downstream instead of becoming one shared pseudonym.
    pub fn pseudonymise(&self, user: &str) -> String {
        let norm = user.trim().to_lowercase();
        if norm.is_empty() {
            return user.to_owned();
        }
        let mut mac = self.mac.clone();
        mac.update(norm.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(PREFIX.len() + 64);
        out.push_str(PREFIX);
        out.push_str(&const_hex::encode(digest));
        out
    }

    /// Whether `text` looks like a pseudonym made by this module (any key).
    pub fn is_pseudonym(text: &str) -> bool {
        text.strip_prefix(PREFIX).is_some_and(|h| {
            h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn agrees_with_an_independent_hmac_implementation() {
        // Reference from Python's standard library:
        // hmac.new(KEY, b"ada@example.com", hashlib.sha256).hexdigest()
        let p = Pseudonymiser::new(KEY, "test").unwrap();
        assert_eq!(
            p.pseudonymise("ada@example.com"),
            "hmac:e3e30b4d50224a4ba14084607085d072402144212a122eb4501daddd6bbe0ee3"
        );
    }

    #[test]
    fn normalises_before_hashing_and_keys_matter() {
        let p = Pseudonymiser::new(KEY, "test").unwrap();
        let a = p.pseudonymise("ada@example.com");
        assert_eq!(a, p.pseudonymise("  Ada@Example.COM\n"));
        assert!(Pseudonymiser::is_pseudonym(&a), "{a}");
        assert_ne!(a, p.pseudonymise("bob@example.com"));
        let other = Pseudonymiser::new(b"another key, also long enough", "test").unwrap();
        assert_ne!(a, other.pseudonymise("ada@example.com"));
        assert_ne!(p, other);
        // A trailing newline in a key file is not part of the key.
        let nl = Pseudonymiser::new(b"0123456789abcdef0123456789abcdef\n", "test").unwrap();
        assert_eq!(nl, p);
    }

    #[test]
    fn blank_users_stay_blank() {
        let p = Pseudonymiser::new(KEY, "test").unwrap();
        assert_eq!(p.pseudonymise("   "), "   ");
        assert_eq!(p.pseudonymise(""), "");
    }

    #[test]
    fn short_keys_and_ambiguous_sources_are_errors_that_do_not_quote_the_key() {
        let e = Pseudonymiser::new(b"short-secret", "ENV").unwrap_err();
        assert!(e.to_string().contains("too short"), "{e}");
        assert!(!e.to_string().contains("short-secret"), "{e}");
        let env = |k: &str| match k {
            KEY_ENV => Some("0123456789abcdef0123".to_owned()),
            KEY_FILE_ENV => Some("/nonexistent".to_owned()),
            _ => None,
        };
        assert!(matches!(
            Pseudonymiser::from_sources(None, &env),
            Err(KeyError::Ambiguous)
        ));
        let e = Pseudonymiser::from_sources(Some(Path::new("/nonexistent/key")), &|_| None)
            .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/key"), "{e}");
        assert!(
            Pseudonymiser::from_sources(None, &|_| None)
                .unwrap()
                .is_none()
        );
        let p = Pseudonymiser::from_sources(None, &|k| {
            (k == KEY_ENV).then(|| String::from_utf8(KEY.to_vec()).unwrap())
        })
        .unwrap()
        .unwrap();
        assert!(!format!("{p:?}").contains("0123456789abcdef"));
    }
}
