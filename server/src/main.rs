//! `zk-server` binary: reads the configuration, recovers the data, serves until SIGTERM/SIGINT.

use std::path::PathBuf;

use anyhow::Context;
use zk_server::config::ServerConfig;

const USAGE: &str = "\
usage: zk-server [--config] [zoo.cfg]

Serves the ZooKeeper client protocol. With no file, serves standalone on 127.0.0.1:2181 with
data in ./data. The file is read as Apache ZooKeeper reads zoo.cfg; keys this server does not act
on are listed at start-up.";

fn main() -> anyhow::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut args = std::env::args().skip(1);
    let mut config_path: Option<PathBuf> = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            "--config" => {
                config_path = Some(args.next().context("--config needs a file")?.into());
            }
            other if !other.starts_with('-') && config_path.is_none() => {
                config_path = Some(other.into());
            }
            other => anyhow::bail!("unknown argument {other}\n\n{USAGE}"),
        }
    }
    let config = match &config_path {
        Some(path) => ServerConfig::from_file(path)?,
        None => ServerConfig::default(),
    };
    for line in config.unsupported_report() {
        log::warn!("{line}");
    }
    let store = zk_server::store::open(&config).context("cannot open the data directories")?;
    let address = config.client_address;
    let ensemble = config.is_ensemble();
    let secret = if ensemble {
        zk_server::store::ensemble_secret(&config)
    } else {
        store.session_secret
    };
    let (server, apply_thread) = zk_server::server::Server::start(config, store.database, secret)
        .context("cannot start the apply thread")?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let outcome = runtime.block_on(async {
        if ensemble {
            let replication = zk_server::ensemble::Replication::start(&server)
                .await
                .context("cannot join the ensemble")?;
            server.set_replication(replication);
        }
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        log::info!(
            "serving on {} (log write path: {})",
            listener.local_addr()?,
            server.log().write_mode().name()
        );
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            log::info!("shutting down: no new connections, finishing what is in flight");
            let _ = stop.send(true);
        });
        zk_server::run(std::sync::Arc::clone(&server), listener, stopped)
            .await
            .map_err(anyhow::Error::msg)
    });
    drop(apply_thread);
    outcome
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
}
