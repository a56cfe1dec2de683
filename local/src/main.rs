//! `crm-local`: helpers for the local stack.
//!
//! `crm-local dynamodb` serves the DynamoDB emulator (dynoxide) on loopback, persisted to an
//! SQLite file so the data survives restarts, and stops cleanly on Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "crm-local", version, about = "Local stack helpers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a DynamoDB-compatible endpoint (dynoxide) backed by a file.
    Dynamodb {
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 8000)]
        port: u16,
        /// SQLite file holding the data (created with its folder when missing).
        #[arg(long, default_value = ".local/dynamodb.sqlite")]
        data: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let Command::Dynamodb { host, port, data } = Cli::parse().command;
    match serve_dynamodb(&host, port, data).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crm-local: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_dynamodb(host: &str, port: u16, data: PathBuf) -> Result<(), String> {
    if let Some(dir) = data.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let path = data.to_str().ok_or("the data path must be valid UTF-8")?;
    let db = dynoxide::Database::new(path).map_err(|e| format!("cannot open {path}: {e}"))?;
    let listener = tokio::net::TcpListener::bind((host, port))
        .await
        .map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("crm-local: DynamoDB (dynoxide) on http://{addr}, data in {path}");
    dynoxide::server::serve_with_shutdown(listener, db, shutdown_signal()).await?;
    eprintln!("crm-local: DynamoDB stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM (what `kill` and the dev script's trap send).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
