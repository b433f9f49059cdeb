//! A hub serving in this process: QUIC and the control socket, started and stopped together, as
//! `serve` and the demo run it.

use std::net::SocketAddr;
use std::sync::Arc;

use super::run_with;
use crate::limits::{Bounds, Timeouts};
use crate::store::Hub;

/// A hub serving in this process (QUIC and the control socket), as `serve` and the demo run it.
#[derive(Debug)]
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    quic: tokio::task::JoinHandle<crate::Result<()>>,
    control: tokio::task::JoinHandle<crate::Result<()>>,
}

async fn stopped(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Binds `addr`, records it as the last listen address, and serves QUIC and `DIR/hub.sock`.
pub async fn start(hub: Arc<Hub>, addr: SocketAddr) -> crate::Result<Running> {
    start_with(hub, addr, Timeouts::default(), Bounds::default()).await
}

/// [`start`] with explicit deadlines and bounds.
pub async fn start_with(
    hub: Arc<Hub>,
    addr: SocketAddr,
    timeouts: Timeouts,
    bounds: Bounds,
) -> crate::Result<Running> {
    let listener = crate::control::bind(hub.dir())?;
    let endpoint = crate::net::endpoint(&hub, addr)?;
    let addr = endpoint.local_addr()?;
    hub.set_meta("listen", &addr.to_string())?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let control = tokio::spawn(crate::control::serve(
        hub.clone(),
        listener,
        stopped(rx.clone()),
    ));
    let quic = tokio::spawn(run_with(endpoint, hub, stopped(rx), timeouts, bounds));
    Ok(Running {
        addr,
        stop: tx,
        quic,
        control,
    })
}

impl Running {
    /// Stops serving: closes the endpoint (code 0), removes the socket, flushes the store.
    pub async fn stop(self) -> crate::Result<()> {
        let _ = self.stop.send(true);
        self.wait().await
    }

    /// Waits until serving stops (after `stop` or a fatal error).
    pub async fn wait(self) -> crate::Result<()> {
        let quic = self.quic.await;
        let control = self.control.await;
        for r in [quic, control] {
            match r {
                Ok(r) => r?,
                Err(e) => return Err(crate::Error::Io(std::io::Error::other(e.to_string()))),
            }
        }
        Ok(())
    }

    /// A handle that stops the hub when sent `true` (for signal handlers).
    pub fn stopper(&self) -> tokio::sync::watch::Sender<bool> {
        self.stop.clone()
    }
}
