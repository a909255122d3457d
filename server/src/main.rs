//! `zk-server` binary: wiring only.

fn main() -> anyhow::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    anyhow::bail!("zk-server does not serve clients yet: the client protocol is issue 4")
}
