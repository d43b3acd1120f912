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
    // serde reads a struct from an array too, field by field in order: a body
    // `["vendor", "v-1"]` would make a key. Every body is an object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(DomainError::Invalid {
            field: None,
            message: format!("invalid {what}: the body must be a JSON object"),
        });
    }
    check_shape(body).map_err(|(field, message)| DomainError::Invalid {
        field,
        message: format!("invalid {what}: {message}"),
    })?;
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

/// Reads a record the service stored. Stores made before bodies were bounded
/// at [`MAX_JSON_DEPTH`] hold events that nest up to serde_json's default
/// limit of 128 levels, one or two levels inside the record: read with that
/// limit they could never be read back, fetched by their vendor or delivered.
/// Accepted bodies nested at most 128 levels, so the stack stays small.
pub fn from_stored_json<T: serde::de::DeserializeOwned>(s: &str) -> serde_json::Result<T> {
    let mut de = serde_json::Deserializer::from_str(s);
    de.disable_recursion_limit();
    let value = T::deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

fn backticked(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

/// How deeply a body's objects and arrays may nest. A stored record wraps what
/// was accepted a level or two deeper, and serde_json refuses past 128 levels:
/// a body accepted near that limit could never be read back.
pub const MAX_JSON_DEPTH: usize = 32;
/// The longest string a body may hold, in bytes.
pub const MAX_JSON_STRING: usize = 64 * 1024;
/// The most elements one array of a body may hold.
pub const MAX_JSON_ARRAY: usize = 1000;

/// Checks a JSON body's shape against the bounds above in one pass over its
/// bytes, before it is parsed; answers the top-level field at fault and why.
/// Malformed JSON passes here, for the parser to report.
fn check_shape(body: &[u8]) -> Result<(), (Option<String>, String)> {
    // Most bodies cannot break a bound at all: no more brackets than the
    // depth allows, no more commas than an array may hold, no longer than a
    // string may be. Counting them is a fast pass the compiler vectorises.
    let opens = body.iter().filter(|&&b| b == b'{' || b == b'[').count();
    let commas = body.iter().filter(|&&b| b == b',').count();
    if opens <= MAX_JSON_DEPTH && commas < MAX_JSON_ARRAY && body.len() <= MAX_JSON_STRING {
        return Ok(());
    }
    // One entry per open object or array: (is an array, elements so far).
    let mut open: Vec<(bool, usize)> = Vec::new();
    let mut top_key: Option<String> = None;
    let mut expect_key = false;
    let mut i = 0;
    let at_fault = |key: &Option<String>| key.clone();
    while i < body.len() {
        match body[i] {
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < body.len() && body[i] != b'"' {
                    i += if body[i] == b'\\' { 2 } else { 1 };
                }
                let end = i.min(body.len());
                if end - start > MAX_JSON_STRING {
                    return Err((
                        at_fault(&top_key),
                        format!("a string is longer than {MAX_JSON_STRING} bytes"),
                    ));
                }
                if expect_key && open.len() == 1 {
                    top_key = Some(String::from_utf8_lossy(&body[start..end]).into_owned());
                }
                expect_key = false;
            }
            open_byte @ (b'{' | b'[') => {
                if open.len() == MAX_JSON_DEPTH {
                    return Err((
                        at_fault(&top_key),
                        format!("nested deeper than {MAX_JSON_DEPTH} levels"),
                    ));
                }
                if let Some((true, n)) = open.last_mut() {
                    *n = (*n).max(1);
                }
                open.push((open_byte == b'[', 0));
                expect_key = open_byte == b'{';
            }
            b'}' | b']' => {
                open.pop();
                expect_key = false;
            }
            b',' => match open.last_mut() {
                Some((true, n)) => {
                    *n = (*n).max(1) + 1;
                    if *n > MAX_JSON_ARRAY {
                        return Err((
                            at_fault(&top_key),
                            format!("an array holds more than {MAX_JSON_ARRAY} elements"),
                        ));
                    }
                }
                Some((false, _)) => expect_key = true,
                None => {}
            },
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(body: &str) -> (Option<String>, String) {
        match parse_json::<serde_json::Value>(body.as_bytes(), "body") {
            Err(DomainError::Invalid { field, message }) => (field, message),
            other => panic!("{body:.80}: {other:?}"),
        }
    }

    #[test]
    fn a_body_nested_past_the_bound_is_refused_naming_its_top_level_field() {
        let deep = format!(
            r#"{{"creator": {{"address": {}1{}}}}}"#,
            "[".repeat(40),
            "]".repeat(40)
        );
        let (field, message) = refusal(&deep);
        assert_eq!(field.as_deref(), Some("creator"));
        assert!(message.contains("nested deeper than 32"), "{message}");
        let fine = format!(r#"{{"a": {}1{}}}"#, "[".repeat(30), "]".repeat(30));
        assert!(parse_json::<serde_json::Value>(fine.as_bytes(), "body").is_ok());
    }

    #[test]
    fn overlong_strings_and_arrays_are_refused_naming_their_top_level_field() {
        let long = format!(
            r#"{{"a": 1, "note": "{}"}}"#,
            "x".repeat(MAX_JSON_STRING + 1)
        );
        let (field, message) = refusal(&long);
        assert_eq!(field.as_deref(), Some("note"));
        assert!(message.contains("string"), "{message}");
        let items = vec!["1"; MAX_JSON_ARRAY + 1].join(",");
        let (field, message) = refusal(&format!(r#"{{"ids": [{items}]}}"#));
        assert_eq!(field.as_deref(), Some("ids"));
        assert!(message.contains("array"), "{message}");
        let items = vec!["1"; MAX_JSON_ARRAY].join(",");
        assert!(parse_json::<serde_json::Value>(
            format!(r#"{{"ids": [{items}]}}"#).as_bytes(),
            "b"
        )
        .is_ok());
    }

    #[test]
    fn braces_and_quotes_inside_strings_do_not_count() {
        let body = r#"{"a": "[[[[{{{{\"]]]", "b": {"c": "\\"}}"#;
        assert!(parse_json::<serde_json::Value>(body.as_bytes(), "body").is_ok());
        assert_eq!(
            refusal("[1, 2]").1,
            "invalid body: the body must be a JSON object"
        );
    }
}
