//! The bytes between hyper and the socket. When a request cannot be parsed
//! (a bad `Content-Length`, headers past hyper's buffer, a malformed request
//! line), hyper answers by itself, before any route or layer runs, with a
//! status line and no body. Those answers are given the API's error shape
//! here, as they are written, so that every error a client gets is JSON.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose bodiless 4xx answers are written in the error shape.
pub struct ShapedErrors<S> {
    inner: S,
    /// The answer written in place of hyper's: its bytes, how many are out,
    /// and how many of hyper's bytes it stands for.
    replacing: Option<(Vec<u8>, usize, usize)>,
}

impl<S> ShapedErrors<S> {
    pub fn new(inner: S) -> Self {
        ShapedErrors {
            inner,
            replacing: None,
        }
    }
}

/// The JSON answer for a head hyper wrote without a body, if `head` is one:
/// a whole 4xx head with no `content-type`. Every answer the API itself
/// gives to a 4xx carries a JSON body, so only hyper's own match.
fn shaped(head: &[u8]) -> Option<Vec<u8>> {
    let status = head.strip_prefix(b"HTTP/1.1 4")?;
    if !head.ends_with(b"\r\n\r\n") || status.len() < 2 {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let lower = text.to_ascii_lowercase();
    if lower.contains("\r\ncontent-type:") || !lower.contains("\r\ncontent-length: 0\r\n") {
        return None;
    }
    let code: u16 = text.get(9..12)?.parse().ok()?;
    let (code_name, message) = match code {
        431 => (
            "header_too_large",
            "the request's URL and headers are too large",
        ),
        414 => ("uri_too_long", "the request's URL is too long"),
        400 => (
            "invalid_request",
            "the request could not be parsed as HTTP/1.1 (its request line or a header such as Content-Length is malformed)",
        ),
        _ => ("invalid_request", "the request could not be read"),
    };
    let body = serde_json::json!({"error": {"code": code_name, "message": message}}).to_string();
    let status_line_end = text.find("\r\n")?;
    let mut out = String::with_capacity(256 + body.len());
    out.push_str(&text[..status_line_end]);
    out.push_str("\r\ncontent-type: application/json\r\nconnection: close\r\n");
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    out.push_str(&body);
    Some(out.into_bytes())
}

impl<S: AsyncWrite + Unpin> ShapedErrors<S> {
    /// Writes out what is left of the replacement (keeping it, so that the
    /// next `poll_write` can answer for hyper's bytes).
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written, _)) = self.replacing.as_mut() {
            if *written == bytes.len() {
                return Poll::Ready(Ok(()));
            }
            match Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Once the replacement is out: how many of hyper's bytes it stood for
    /// (at most what hyper offers now).
    fn answer(&mut self, cx: &mut Context<'_>, offered: usize) -> Poll<io::Result<usize>> {
        std::task::ready!(self.drive(cx))?;
        let stands_for = self.replacing.take().map_or(0, |(_, _, n)| n);
        Poll::Ready(Ok(stands_for.min(offered)))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ShapedErrors<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ShapedErrors<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.replacing.is_none() {
            match shaped(buf) {
                Some(bytes) => self.replacing = Some((bytes, 0, buf.len())),
                None => return Pin::new(&mut self.inner).poll_write(cx, buf),
            }
        }
        self.answer(cx, buf.len())
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let offered = bufs.iter().map(|b| b.len()).sum();
        if self.replacing.is_none() {
            let first = bufs.iter().find(|b| !b.is_empty());
            match first.and_then(|b| shaped(b).map(|bytes| (bytes, b.len()))) {
                Some((bytes, len)) => self.replacing = Some((bytes, 0, len)),
                None => return Pin::new(&mut self.inner).poll_write_vectored(cx, bufs),
            }
        }
        self.answer(cx, offered)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.replacing.is_some() {
            std::task::ready!(self.drive(cx))?;
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.replacing.is_some() {
            std::task::ready!(self.drive(cx))?;
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_bodiless_431_becomes_json_and_the_apis_own_answers_pass_unchanged() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Sun, 29 Nov 2026 19:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(shaped(bare).unwrap()).unwrap();
        assert!(out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("content-type: application/json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"]["code"], "header_too_large");

        let api = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(shaped(api), None);
        assert_eq!(
            shaped(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"),
            None
        );
        assert_eq!(
            shaped(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n"),
            None,
            "not a whole head"
        );
    }
}
