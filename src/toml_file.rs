//! The one way aviary reads a TOML file (config, themes, query templates): regular files
//! only, a size cap, and every error as `file:line:column: message`, so a typo in any of them
//! reads the same and points at the same place an editor does.

use serde::de::DeserializeOwned;
use std::io::Read;
use std::path::Path;

/// Largest TOML file read. Real config, theme and template files are a few KiB; a cap keeps
/// a mistaken `--config /var/log/huge` from filling memory before the first error.
pub const MAX_BYTES: u64 = 1 << 20;

/// Why a TOML file could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TomlError {
    /// Syntax error, unknown key or bad value, at a place in the file.
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        /// The file, as the user named it.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The file could not be read (missing, not a regular file, too large, not UTF-8).
    #[error("{file}: {message}")]
    Read {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// 1-based line and column of a byte offset: the line the offset is on, even when the
/// offset is the first byte of that line.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Parses `text`; `file` labels errors.
pub fn parse<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, TomlError> {
    toml::from_str(text).map_err(|e: toml::de::Error| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        TomlError::Parse {
            file: file.to_string(),
            line,
            column,
            message: e.message().trim_end().to_string(),
        }
    })
}

/// Reads a file's text: a regular file (not a FIFO, device or directory, which could block
/// or never end) of at most [`MAX_BYTES`].
pub fn read_text(path: &Path) -> Result<String, TomlError> {
    let file = path.display().to_string();
    let fail = |message: String| TomlError::Read {
        file: file.clone(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail("not a regular file".into()));
    }
    if meta.len() > MAX_BYTES {
        return Err(fail(format!(
            "{} bytes is over the {} KiB limit for a TOML file",
            meta.len(),
            MAX_BYTES / 1024
        )));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(fail(format!(
            "grew past the {} KiB limit while being read",
            MAX_BYTES / 1024
        )));
    }
    String::from_utf8(bytes).map_err(|_| fail("not UTF-8 text".into()))
}

/// Reads and parses a TOML file; the text comes back too, for checks that need positions.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<(T, String), TomlError> {
    let text = read_text(path)?;
    let value = parse(&path.display().to_string(), &text)?;
    Ok((value, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Small {
        a: Option<u32>,
        b: Option<u32>,
    }

    #[test]
    fn an_error_in_column_one_is_on_its_own_line() {
        let e = parse::<Small>("f.toml", "a = 1\nb = 2\nc = 3\n").unwrap_err();
        let TomlError::Parse { line, column, .. } = e else {
            panic!("{e}")
        };
        assert_eq!((line, column), (3, 1));
    }

    #[test]
    fn non_files_and_large_files_are_refused_at_once() {
        let e = read_text(Path::new("/dev/zero")).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; (MAX_BYTES + 1) as usize]).unwrap();
        let e = read_text(&big).unwrap_err();
        assert!(e.to_string().contains("limit"), "{e}");
        let e = read_text(dir.path()).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }
}
