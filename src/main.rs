//! The `aviary` binary: parse, load config, then run the chosen subcommand.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::panic)]

use aviary::cli::{Cli, Commands};
use clap::Parser;
use color_eyre::eyre::Result;
use std::process::ExitCode;

fn main() -> ExitCode {
    // color-eyre's panic hook goes in first; ratatui adds its restore hook on top when the
    // TUI starts, so a panic restores the terminal before the report is printed.
    if let Err(e) = color_eyre::install() {
        eprintln!("aviary: {e}");
    }
    let cli = Cli::parse();
    match run(cli) {
        // Shut down cleanly after a signal, but say so the way a shell expects: 128 + N.
        Ok(()) => match aviary::event_loop::signal_received() {
            Some(n) => ExitCode::from(128 + n as u8),
            None => ExitCode::SUCCESS,
        },
        Err(e) if nothing_to_watch(&e) => {
            eprintln!("aviary: {e:#}");
            ExitCode::from(aviary::headless::EXIT_NOTHING_TO_WATCH)
        }
        Err(e) => {
            // Errors that reach here are about the user's input or environment (a config
            // typo, an unreachable router): the cause chain says it; a backtrace would not.
            eprintln!("aviary: error: {e:#}");
            match e.downcast_ref::<aviary::run::Exit>() {
                Some(exit) => ExitCode::from(exit.code),
                None => ExitCode::FAILURE,
            }
        }
    }
}

/// A headless run that found nothing to watch exits with its own code.
fn nothing_to_watch(e: &color_eyre::eyre::Report) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .is_some_and(|inner| inner.is::<aviary::headless::NothingToWatch>())
            || c.is::<aviary::headless::NothingToWatch>()
    })
}

fn run(cli: Cli) -> Result<()> {
    // Packaging helpers read nothing: a broken config must not stop a shell's completions.
    match &cli.command {
        Commands::Completions { shell } => {
            aviary::cli::completions(*shell, &mut std::io::stdout());
            return Ok(());
        }
        Commands::Man => return Ok(aviary::cli::man(&mut std::io::stdout())?),
        _ => {}
    }
    // Config, theme and keys are read and checked before anything else, so a typo ends
    // here with the file and line named, the terminal untouched.
    let settings = aviary::settings::Settings::load(&cli.global)?;
    for w in &settings.warnings {
        eprintln!("aviary: warning: {w}");
    }
    let plan = settings.config.plan.clone();
    // The control room needs a terminal; finding out after the demo's servers started (as
    // "No such device or address") is no help. Checked once the files are known good.
    if !cli.global.headless && !matches!(cli.command, Commands::Simulate(_)) {
        aviary::run::require_terminal()?;
    }
    // Exactly one rustls provider is compiled in; installing it up front keeps kube and
    // reqwest from guessing.
    aviary::install_crypto_provider();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    // Watching a cluster or a router is waiting on sockets: the board keeps the main thread
    // and one worker serves every watch and poll. Each thread that allocates keeps a malloc
    // arena of its own (about 3 MB at 1,000 rollouts). The demo serves and sends its own
    // traffic as well, so it keeps a worker per core.
    if !matches!(cli.command, Commands::Demo(_)) {
        rt.worker_threads(1);
    }
    let rt = rt.enable_all().build()?;
    if !matches!(cli.command, Commands::Simulate(_)) {
        aviary::settings::init_tracing(cli.global.headless)?;
    }
    match cli.command {
        Commands::Demo(args) => rt.block_on(aviary::run::demo(args, cli.global, plan)),
        Commands::Simulate(args) => Ok(aviary::simulate::main(&args)?),
        Commands::Haproxy(args) => rt.block_on(aviary::run::haproxy(args, cli.global, plan)),
        Commands::Consul(args) => rt.block_on(aviary::run::consul(args, cli.global, plan)),
        Commands::Kube(args) => rt.block_on(aviary::run::kube(
            args,
            cli.global,
            plan,
            settings.config.file.contexts.clone(),
        )),
        Commands::Replay(args) => rt.block_on(aviary::run::replay(args, cli.global)),
        Commands::Completions { .. } | Commands::Man => Ok(()),
    }
}
