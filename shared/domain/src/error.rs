use thiserror::Error;

/// What went wrong, in the domain's words. The HTTP layer maps each variant to a
/// status once, in one place.
#[derive(Debug, Error)]
pub enum DomainError {
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        message: String,
    },
    #[error("missing or unknown credential")]
    Unauthenticated,
    #[error("{0}")]
    BadSignature(String),
    #[error("this credential's role may not do that")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        DomainError::Invalid {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// A failure with detail for the log only.
    pub fn internal(detail: impl Into<String>) -> Self {
        DomainError::Store(StoreError::Internal(detail.into()))
    }
}

/// Failures of a storage or queue adapter. `Unavailable` is worth retrying later;
/// `Internal` carries detail for the log, never for a client.
#[derive(Debug, Clone, Error)]
pub enum StoreError {
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("write conflict: {0}")]
    Conflict(String),
    #[error("storage failure: {0}")]
    Internal(String),
}

/// Like [`parse_json`], but an empty (or all-whitespace) body means the defaults.
pub fn parse_json_or_default<T: serde::de::DeserializeOwned + Default>(
    body: &[u8],
    what: &str,
) -> Result<T, DomainError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse_json(body, what)
    }
}

/// Parses a JSON body into `T`, naming the field at fault (`a.b[0].c`).
pub fn parse_json<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> Result<T, DomainError> {
    // A valid body parses once without tracking its path; only a failing one
    // is parsed again to find the field at fault.
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde names a missing or unknown top-level field only inside its message.
        let field = if path == "." {
            backticked(&inner)
        } else {
            Some(path)
        };
        DomainError::Invalid {
            field,
            message: format!("invalid {what}: {inner}"),
        }
    })
}

fn backticked(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}
