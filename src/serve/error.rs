//! Why a request was not answered with what it asked for → its HTTP response: the status, a
//! one-line body for people (none for a 500), and the log event for the operator.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use headers::{HeaderMapExt, RetryAfter};

use crate::output::{CacheError, QueryError, Variant};
use crate::store::StoreError;

/// `Retry-After` of a query variant turned away because too many wait to be rendered: about
/// what those waiting take.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A request the handlers cannot answer as asked.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// `?before=` is not a cursor of the news page.
    #[error("bad ?before= value")]
    BadCursor,
    /// The query string of a feed cannot be read.
    #[error(transparent)]
    BadQuery(#[from] QueryError),
    /// No such output, or a private one without its token (the two look the same).
    #[error("not found")]
    NotFound,
    /// The news page narrowed to a tag or source the config does not have.
    #[error("no such tag or source")]
    NoSuchPage {
        /// The path of the page of every story, linked from the answer.
        home: String,
    },
    /// A query string longer than the news page reads.
    #[error("the query string is too long")]
    QueryTooLong,
    /// Too many query variants wait for the variants' worker already.
    #[error("too many feed variants are being rendered; try again shortly")]
    Busy {
        /// The variant turned away.
        variant: Variant,
    },
    /// A merged feed cannot be rendered.
    #[error("the merged feed is unavailable; see the server log")]
    Feed {
        /// The output or query variant.
        variant: Variant,
        /// Why.
        #[source]
        source: CacheError,
    },
    /// The news page cannot be rendered.
    #[error("the news page is unavailable; see the server log")]
    Page(#[source] StoreError),
    /// A rendering cannot be compressed (its task panicked).
    #[error("cannot compress the merged feed")]
    Compress(#[source] tokio::task::JoinError),
    /// The schedule is not loaded yet.
    #[error("starting")]
    Starting,
    /// The database does not answer.
    #[error("database unavailable")]
    Database(#[source] StoreError),
}

impl ServeError {
    /// The status it is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ServeError::BadCursor | ServeError::BadQuery(_) | ServeError::QueryTooLong => {
                StatusCode::BAD_REQUEST
            }
            ServeError::NotFound | ServeError::NoSuchPage { .. } => StatusCode::NOT_FOUND,
            ServeError::Compress(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ServeError::Busy { .. }
            | ServeError::Feed { .. }
            | ServeError::Page(_)
            | ServeError::Starting
            | ServeError::Database(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Tells the operator what a person would not understand or should not see.
    fn log(&self) {
        match self {
            ServeError::Busy { variant } => {
                tracing::debug!(output = ?variant, "query variant turned away: too many waiting");
            }
            ServeError::Feed { variant, source } => {
                tracing::error!(error = %source, output = ?variant, "cannot render a merged feed");
            }
            ServeError::Page(e) => tracing::error!(error = %e, "cannot render the news page"),
            ServeError::Compress(e) => {
                tracing::error!(error = %e, "cannot compress the merged feed");
            }
            ServeError::Database(e) => {
                tracing::warn!(error = %e, "readiness check: database unavailable");
            }
            ServeError::BadCursor
            | ServeError::BadQuery(_)
            | ServeError::NotFound
            | ServeError::NoSuchPage { .. }
            | ServeError::QueryTooLong
            | ServeError::Starting => {}
        }
    }
}

impl IntoResponse for ServeError {
    fn into_response(self) -> Response {
        self.log();
        let status = self.status();
        // A 500 says nothing: what went wrong is the server's business, and it is logged.
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            return status.into_response();
        }
        if let ServeError::NoSuchPage { home } = &self {
            return (
                status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                )],
                crate::render::page::not_found(home),
            )
                .into_response();
        }
        let mut response = (status, format!("{self}\n")).into_response();
        if let ServeError::Busy { .. } = self {
            response
                .headers_mut()
                .typed_insert(RetryAfter::delay(BUSY_RETRY_AFTER));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use axum::http::header;

    use super::*;

    #[tokio::test]
    async fn responses_keep_their_status_body_and_headers() {
        let busy = ServeError::Busy {
            variant: Variant::Output("feed".into()),
        }
        .into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "1");
        let body = axum::body::to_bytes(busy.into_body(), 1 << 10)
            .await
            .unwrap();
        assert_eq!(
            &body[..],
            b"too many feed variants are being rendered; try again shortly\n"
        );

        let not_found = ServeError::NotFound.into_response();
        assert_eq!(not_found.status(), StatusCode::NOT_FOUND);
        let body = axum::body::to_bytes(not_found.into_body(), 1 << 10)
            .await
            .unwrap();
        assert_eq!(&body[..], b"not found\n");

        let query = ServeError::from(QueryError::Repeated { name: "tag" }).into_response();
        assert_eq!(query.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(query.into_body(), 1 << 10)
            .await
            .unwrap();
        assert_eq!(&body[..], b"?tag= is given more than once\n");
    }
}
