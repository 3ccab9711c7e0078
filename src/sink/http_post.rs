//! A plain HTTP/1.1 POST, one connection per request, for the sinks that push to an
//! HTTP endpoint (Alertmanager, OTLP over HTTP): `http://` only, the answer read to the
//! end (`Connection: close`), a 2xx expected.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// POSTs `body` to `url` and returns the answer's body, or an error naming the status
/// and the start of the answer.
pub async fn post(url: &str, content_type: &str, body: &[u8]) -> std::io::Result<Vec<u8>> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "only http:// URLs")
    })?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = tokio::net::TcpStream::connect(host).await?;
    let head = format!(
        "POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let status = response
        .split(|&b| b == b' ')
        .nth(1)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(200..=299) => {
            let start =
                memchr::memmem::find(&response, b"\r\n\r\n").map_or(response.len(), |i| i + 4);
            response.drain(..start);
            Ok(response)
        }
        _ => Err(std::io::Error::other(format!(
            "answered {}",
            String::from_utf8_lossy(&response[..response.len().min(200)])
        ))),
    }
}
