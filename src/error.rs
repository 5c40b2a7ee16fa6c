//! Why a unit of work did not happen: the error every layer from the
//! database up shares, at the bottom so that none has to import upward.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Why a unit of work did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A rule of the domain refused the change; `key` is a catalog key and
    /// `field` the form field it belongs beside ("" for the whole form).
    #[error("refused: {field}: {key}")]
    Rule {
        field: &'static str,
        key: &'static str,
    },
    /// The one door refused a ticket action, saying why in a type each
    /// way of acting turns into its own words.
    #[error("refused: {0}")]
    Refused(Box<crate::refusal::Refusal>),
    #[error("database error: {0}")]
    Db(DieselError),
    /// The disk (or the database's quota) is full: the change was not
    /// stored. Pages keep working, and writes succeed again once there
    /// is room.
    #[error("no room to store the change: {0}")]
    StorageFull(String),
    #[error("connection pool error: {0}")]
    Pool(#[from] r2d2::Error),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => StoreError::NotFound,
            DieselError::DatabaseError(_, ref info) if is_full(info.message()) => {
                StoreError::StorageFull(info.message().to_string())
            }
            other => StoreError::Db(other),
        }
    }
}

/// Whether a database's message says it ran out of room: SQLite's
/// `SQLITE_FULL` ("database or disk is full"), or PostgreSQL failing to
/// extend a file or write its log ("No space left on device", SQLSTATE
/// 53100).
pub fn is_full(message: &str) -> bool {
    message.contains("database or disk is full") || message.contains("No space left on device")
}

impl From<crate::refusal::Refusal> for StoreError {
    fn from(r: crate::refusal::Refusal) -> Self {
        StoreError::Refused(Box::new(r))
    }
}

impl StoreError {
    /// The refusal, if the one door refused.
    pub fn refusal(&self) -> Option<&crate::refusal::Refusal> {
        match self {
            StoreError::Refused(r) => Some(r),
            _ => None,
        }
    }

    /// The field and message key of a refusal or a rule, if it is one.
    pub fn refused_key(&self) -> Option<(&'static str, &'static str)> {
        match self {
            StoreError::Rule { field, key } => Some((field, key)),
            StoreError::Refused(r) => Some((r.field(), r.key())),
            _ => None,
        }
    }

    pub fn rule(field: &'static str, key: &'static str) -> StoreError {
        StoreError::Rule { field, key }
    }

    /// Whether the database could not be reached: the connection was lost,
    /// or the pool had none to give in time.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Pool(_)
                | StoreError::Db(DieselError::DatabaseError(
                    DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                    _
                ))
        )
    }

    /// Maps a unique-constraint violation (a race the explicit check lost)
    /// to the same message the check gives.
    pub fn unique_as(e: DieselError, field: &'static str, key: &'static str) -> StoreError {
        match e {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                StoreError::rule(field, key)
            }
            other => other.into(),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
