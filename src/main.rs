//! The `aviary` binary: parse, load config, then run the chosen subcommand.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::panic)]

use aviary::cli::{Cli, Commands};
use aviary::domain::Plan;
use clap::Parser;
use color_eyre::eyre::Result;

fn main() -> Result<()> {
    color_eyre::install()?;
    let cli = Cli::parse();
    // Exactly one rustls provider is compiled in; installing it up front keeps kube and
    // reqwest from guessing (COMPONENTS §5).
    aviary::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Commands::Demo(args) => rt.block_on(aviary::run::demo(args, cli.global, Plan::default())),
        Commands::Simulate(args) => Ok(aviary::simulate::main(&args)?),
        Commands::Haproxy(args) => {
            rt.block_on(aviary::run::haproxy(args, cli.global, Plan::default()))
        }
        Commands::Consul(args) => {
            rt.block_on(aviary::run::consul(args, cli.global, Plan::default()))
        }
    }
}
