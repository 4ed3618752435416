//! The bearer token every action (and, unless reads are open, every read) needs.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Random bytes in a generated token (hex-encoded: 64 characters).
const TOKEN_BYTES: usize = 32;
/// The shortest token an operator may give: anything shorter is guessable.
pub const MIN_TOKEN_LEN: usize = 16;
/// The longest token accepted (a file of more is not a token).
pub const MAX_TOKEN_LEN: usize = 512;

/// A bearer token. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token(<{} characters>)", self.0.len())
    }
}

/// A token that cannot be used or stored.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Shorter than [`MIN_TOKEN_LEN`], longer than [`MAX_TOKEN_LEN`], or not visible ASCII.
    #[error("a token is {MIN_TOKEN_LEN} to {MAX_TOKEN_LEN} visible ASCII characters (no spaces)")]
    Malformed,
    /// The token file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The token file is readable by other users.
    #[error("{}: readable by other users (mode {mode:o}); `chmod 600` it", path.display())]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
    /// No randomness from the operating system.
    #[error("no random bytes from the operating system: {0}")]
    Random(String),
}

impl Token {
    /// A token the operator gave: 16 to 512 visible ASCII characters.
    pub fn new(s: &str) -> Result<Self, TokenError> {
        let s = s.trim();
        if (MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_graphic())
        {
            Ok(Self(s.to_owned()))
        } else {
            Err(TokenError::Malformed)
        }
    }

    /// A new random token (256 bits from the operating system, hex).
    pub fn generate() -> Result<Self, TokenError> {
        let mut b = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut b).map_err(|e| TokenError::Random(e.to_string()))?;
        let mut s = String::with_capacity(TOKEN_BYTES * 2);
        for x in b {
            s.push_str(&format!("{x:02x}"));
        }
        Ok(Self(s))
    }

    /// The token from `path`, or a new one written there (mode 0600, its directory created
    /// 0700) when the file does not exist. The flag says whether it was created, so the caller
    /// prints it once. A file readable by group or others is refused.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), TokenError> {
        let io = |source| TokenError::Io {
            path: path.to_owned(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                check_private(path)?;
                Ok((Self::new(&text)?, false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let t = Self::generate()?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    create_private_dir(dir).map_err(io)?;
                }
                let mut f = create_private_file(path).map_err(io)?;
                f.write_all(format!("{}\n", t.0).as_bytes()).map_err(io)?;
                Ok((t, true))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The token's text (to print once, or to put in a dashboard link).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether an `Authorization` header value is `Bearer <this token>`, compared in time
    /// that does not depend on where the two differ. The scheme is case-insensitive (RFC 9110
    /// §11.1: `bearer`, `BEARER`) and followed by one or more spaces or tabs; nothing may
    /// follow the token.
    pub fn matches_header(&self, header: &[u8]) -> bool {
        const SCHEME: &[u8] = b"bearer";
        if header.len() <= SCHEME.len() || !header[..SCHEME.len()].eq_ignore_ascii_case(SCHEME) {
            return false;
        }
        let rest = &header[SCHEME.len()..];
        let given = match rest.iter().position(|b| *b != b' ' && *b != b'\t') {
            Some(0) | None => return false,
            Some(n) => &rest[n..],
        };
        constant_time_eq(given, self.0.as_bytes())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), TokenError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|source| TokenError::Io {
            path: path.to_owned(),
            source,
        })?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(TokenError::Permissions {
            path: path.to_owned(),
            mode: mode & 0o777,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path) -> Result<(), TokenError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_long_distinct_and_hidden_from_debug() {
        let a = Token::generate().unwrap();
        let b = Token::generate().unwrap();
        assert_eq!(a.expose().len(), 64);
        assert_ne!(a, b);
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn header_must_be_bearer_and_exact() {
        let t = Token::new("0123456789abcdef0123").unwrap();
        assert!(t.matches_header(b"Bearer 0123456789abcdef0123"));
        assert!(!t.matches_header(b"Bearer 0123456789abcdef012"));
        assert!(!t.matches_header(b"Bearer 0123456789abcdef01234"));
        assert!(!t.matches_header(b"Basic 0123456789abcdef0123"));
        assert!(!t.matches_header(b"0123456789abcdef0123"));
        assert!(!t.matches_header(b""));
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_the_token_exact() {
        let t = Token::new("0123456789abcdef0123").unwrap();
        for ok in [
            "Bearer 0123456789abcdef0123",
            "bearer 0123456789abcdef0123",
            "BEARER 0123456789abcdef0123",
            "bEaReR 0123456789abcdef0123",
            "Bearer   0123456789abcdef0123",
            "Bearer\t0123456789abcdef0123",
            "Bearer \t 0123456789abcdef0123",
        ] {
            assert!(t.matches_header(ok.as_bytes()), "{ok:?}");
        }
        for bad in [
            "Basic 0123456789abcdef0123",
            "BASIC 0123456789abcdef0123",
            "Bearer",
            "Bearer ",
            "Bearer    ",
            "Bearer0123456789abcdef0123",
            "Bearerx 0123456789abcdef0123",
            "Bear 0123456789abcdef0123",
            "Bearer 0123456789abcdef0123 ",
            "Bearer 0123456789abcdef0123x",
            "Bearer 0123456789abcdef0123 junk",
            "Bearer 0123456789ABCDEF0123",
            " Bearer 0123456789abcdef0123",
        ] {
            assert!(!t.matches_header(bad.as_bytes()), "{bad:?}");
        }
    }

    #[test]
    fn short_or_spaced_tokens_are_refused() {
        assert!(Token::new("short").is_err());
        assert!(Token::new("has a space inside it").is_err());
        assert!(Token::new(&"x".repeat(513)).is_err());
        assert!(Token::new("  exactly-sixteen!  ").is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn created_file_is_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("ff-serve-token-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub/token");
        let (t, created) = Token::load_or_create(&path).unwrap();
        assert!(created);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (again, created) = Token::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(t, again);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            Token::load_or_create(&path),
            Err(TokenError::Permissions { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
