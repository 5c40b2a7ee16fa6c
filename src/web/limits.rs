//! What a client may send: no compressed request bodies (a 200 KiB gzip
//! bomb would inflate to hundreds of megabytes before any size limit saw
//! it; browsers never compress what they post), and a body sent in time
//! (a client trickling a byte every few seconds would hold a connection
//! for ever). Both are refused before a handler reads anything.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, HeaderValue, TRANSFER_ENCODING};
use actix_web::middleware::Next;
use actix_web::rt::time::{Instant, Sleep, sleep_until};
use actix_web::web::Bytes;
use actix_web::{Error, HttpMessage};
use futures_util::Stream;

use super::AppError;

/// Refuses a request whose body is compressed (415), and gives every
/// other body `timeout` to arrive in full.
pub async fn request_body(
    timeout: Duration,
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if is_compressed(req.headers().get(CONTENT_ENCODING)) {
        // A response like a handler's, so the error page renders it.
        let refused = AppError::CompressedBody.error_response();
        return Ok(req.into_response(refused).map_into_right_body());
    }
    // Most requests (every GET) have no body: nothing to time.
    let has_body = req.headers().contains_key(TRANSFER_ENCODING)
        || req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    if !has_body {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    // A form carrying files (up to `ATTACHMENT_MAX_MB` each) has ten
    // times as long.
    let multipart = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/"));
    let timeout = if multipart { timeout * 10 } else { timeout };
    let payload = req.take_payload();
    let deadline = Deadline {
        inner: payload,
        timer: Box::pin(sleep_until(Instant::now() + timeout)),
        expired: false,
    };
    req.set_payload(Payload::Stream {
        payload: Box::pin(deadline),
    });
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// Any `Content-Encoding` but `identity` (which means none).
fn is_compressed(encoding: Option<&HeaderValue>) -> bool {
    encoding.is_some_and(|v| {
        v.to_str().map_or(true, |v| {
            v.split(',')
                .map(str::trim)
                .any(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity"))
        })
    })
}

/// A request body that fails with `TimedOut` once its time is up; the
/// extractor then answers 408, and the connection is closed since its
/// body was never read to the end.
struct Deadline {
    inner: Payload,
    timer: Pin<Box<Sleep>>,
    expired: bool,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.expired = true;
                Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the request body did not arrive in time",
                )))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_identity_counts_as_not_compressed() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert!(!is_compressed(None));
        assert!(!is_compressed(Some(&v("identity"))));
        assert!(!is_compressed(Some(&v("Identity"))));
        assert!(is_compressed(Some(&v("gzip"))));
        assert!(is_compressed(Some(&v("identity, br"))));
        assert!(is_compressed(Some(&v("deflate"))));
    }
}
