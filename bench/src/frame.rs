//! Length-prefixed frames over one QUIC bidirectional stream, counting application bytes, for the
//! full-state and Automerge peers; plus the client's connect and close, done as baobi's agent does
//! them so that the QUIC peers pay the same transport costs.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;

/// Largest frame a bench peer accepts (a full state of 10,000 records is a few MB).
pub const MAX_FRAME: usize = 256 << 20;

/// One bidirectional stream of `u32`-length-prefixed frames.
pub struct Framed {
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    /// Application bytes written (prefixes included).
    pub bytes_sent: u64,
    /// Application bytes read.
    pub bytes_received: u64,
}

impl Framed {
    /// Wraps a stream's two halves.
    pub fn new(send: quinn::SendStream, recv: quinn::RecvStream) -> Framed {
        Framed {
            send,
            recv,
            bytes_sent: 0,
            bytes_received: 0,
        }
    }

    /// Writes one frame.
    pub async fn send(&mut self, body: &[u8]) -> anyhow::Result<()> {
        self.bytes_sent += write_frame(&mut self.send, body).await?;
        Ok(())
    }

    /// Reads one frame; `None` at the end of the stream.
    pub async fn recv(&mut self) -> anyhow::Result<Option<Vec<u8>>> {
        let got = read_frame(&mut self.recv).await?;
        if let Some(b) = &got {
            self.bytes_received += 4 + b.len() as u64;
        }
        Ok(got)
    }

    /// Writes one frame while reading the peer's next one (both sides may send large frames at
    /// once: sequential writes would stall on flow control).
    pub async fn exchange(&mut self, body: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
        let (sent, got) = tokio::join!(
            write_frame(&mut self.send, body),
            read_frame(&mut self.recv)
        );
        self.bytes_sent += sent?;
        let got = got?;
        if let Some(b) = &got {
            self.bytes_received += 4 + b.len() as u64;
        }
        Ok(got)
    }

    /// Ends our side of the stream.
    pub fn finish(&mut self) {
        let _ = self.send.finish();
    }
}

async fn write_frame(send: &mut quinn::SendStream, body: &[u8]) -> anyhow::Result<u64> {
    let len = u32::try_from(body.len()).context("frame too large")?;
    send.write_all(&len.to_le_bytes()).await?;
    send.write_all(body).await?;
    Ok(4 + body.len() as u64)
}

async fn read_frame(recv: &mut quinn::RecvStream) -> anyhow::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match recv.read_exact(&mut len).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let n = u32::from_le_bytes(len) as usize;
    anyhow::ensure!(n <= MAX_FRAME, "frame of {n} bytes is too large");
    let mut body = vec![0u8; n];
    recv.read_exact(&mut body).await?;
    Ok(Some(body))
}

/// Connects to `addr` with `cfg` and opens the stream, as baobi's agent does.
pub async fn connect(
    addr: SocketAddr,
    cfg: quinn::ClientConfig,
    server_name: &str,
) -> anyhow::Result<(quinn::Endpoint, quinn::Connection, Framed)> {
    let endpoint = baobi_agent::net::client_endpoint("127.0.0.1:0".parse()?)?;
    let conn = endpoint.connect_with(cfg, addr, server_name)?.await?;
    let (send, recv) = conn.open_bi().await?;
    Ok((endpoint, conn, Framed::new(send, recv)))
}

/// Finishes our side, reads the server's side to its end and closes as baobi's agent does
/// (`baobi_agent::net::close`: returns once the close has left, without draining), with the same
/// time limits.
pub async fn close(endpoint: quinn::Endpoint, conn: quinn::Connection, mut io: Framed) {
    io.finish();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(Some(_)) = io.recv().await {}
    })
    .await;
    baobi_agent::net::close(&conn, 0, b"done").await;
    drop(endpoint);
}

/// Server side: finishes our side, waits for the client's end of stream and its close (as the hub).
pub async fn server_finish(conn: &quinn::Connection, io: &mut Framed) {
    io.finish();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(_)) = io.recv().await {}
    })
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
}
