//! `crm-local`: helpers for the local stack.
//!
//! - `crm-local dynamodb` serves the DynamoDB emulator (dynoxide) on loopback, persisted to
//!   an SQLite file so the data survives restarts.
//! - `crm-local queues` creates the service's queues and dead-letter queues in the SQS
//!   emulator (moto) and prints their URLs as `NAME=value` lines for the functions.
//! - `crm-local poll` feeds those queues to the worker functions behind the local gateway
//!   (`cargo lambda watch`'s Invoke API), as Lambda's event source mapping does in AWS.
//!
//! Each stops cleanly on Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use clap::{Parser, Subcommand};
use crm_local::poller::{poll_once, Source};
use crm_local::queues::{create_all, LocalQueue};

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
    /// Create the queues (`{prefix}-scoring`, `{prefix}-insights`, `{prefix}-webhooks` and
    /// their `-dlq`s) in the SQS endpoint of `AWS_ENDPOINT_URL_SQS` and print
    /// SCORING_QUEUE_URL=... and SCORING_DLQ_URL=... lines.
    Queues {
        #[arg(long, default_value = "crm-local")]
        prefix: String,
    },
    /// Deliver queue messages to the worker functions until stopped: `{prefix}-scoring` to
    /// the `scoring` function, `{prefix}-insights` to `insights`, `{prefix}-webhooks` to
    /// `webhooks`.
    Poll {
        #[arg(long, default_value = "crm-local")]
        prefix: String,
        /// The local gateway (cargo lambda watch) whose Invoke API runs the workers.
        #[arg(long, default_value = "http://127.0.0.1:8007")]
        gateway: String,
        /// Seconds before a failed message is delivered again.
        #[arg(long, default_value_t = 2)]
        retry_after: i32,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Dynamodb { host, port, data } => serve_dynamodb(&host, port, data).await,
        Command::Queues { prefix } => print_queues(&prefix).await,
        Command::Poll {
            prefix,
            gateway,
            retry_after,
        } => poll(&prefix, &gateway, retry_after).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crm-local: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn sqs_client() -> aws_sdk_sqs::Client {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    aws_sdk_sqs::Client::new(&config)
}

async fn print_queues(prefix: &str) -> Result<(), String> {
    let queues = create_all(&sqs_client().await, prefix).await?;
    for queue in queues {
        println!("{}_QUEUE_URL={}", queue.spec.name.to_uppercase(), queue.url);
        // The webhook worker puts deliveries that failed for 24 hours there itself.
        println!(
            "{}_DLQ_URL={}",
            queue.spec.name.to_uppercase(),
            queue.dlq_url
        );
    }
    Ok(())
}

/// Invokes `function` through cargo-lambda's Invoke API with the batch and reads its
/// `batchItemFailures`. The first invocation may wait for the function to compile.
async fn invoke(
    http: &reqwest::Client,
    gateway: &str,
    function: &str,
    event: SqsEvent,
) -> Result<SqsBatchResponse, String> {
    let url = format!("{gateway}/2015-03-31/functions/{function}/invocations");
    let response = http
        .post(&url)
        .json(&event)
        .send()
        .await
        .map_err(|e| format!("invoke {function}: {e}"))?;
    let failed = response.headers().contains_key("x-amz-function-error");
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| format!("invoke {function}: {e}"))?;
    if failed || !status.is_success() {
        return Err(format!("{function} failed ({status}): {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("{function} answered {body}: {e}"))
}

async fn poll_queue(
    sqs: aws_sdk_sqs::Client,
    http: reqwest::Client,
    gateway: String,
    queue: LocalQueue,
    retry_after: i32,
) -> Result<(), String> {
    let function = queue.spec.name;
    let source = Source {
        queue_url: queue.url.clone(),
        queue_arn: queue.arn.clone(),
        batch_size: 10,
        wait_seconds: 10,
        retry_after_seconds: retry_after,
    };
    eprintln!(
        "crm-local: delivering {} to the {function} function",
        queue.url
    );
    loop {
        let round = poll_once(&sqs, &source, |event| {
            invoke(&http, &gateway, function, event)
        })
        .await;
        match round {
            Ok(round) if round.received > 0 => eprintln!(
                "crm-local: {function}: {} received, {} done, {} to retry",
                round.received, round.deleted, round.failed
            ),
            Ok(_) => {}
            Err(e) => {
                eprintln!("crm-local: {function}: {e}");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

async fn poll(prefix: &str, gateway: &str, retry_after: i32) -> Result<(), String> {
    let sqs = sqs_client().await;
    let queues = create_all(&sqs, prefix).await?;
    // Generous: the gateway holds the first invocation while it builds the function.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(900))
        .build()
        .map_err(|e| e.to_string())?;
    let mut tasks = tokio::task::JoinSet::new();
    for queue in queues {
        tasks.spawn(poll_queue(
            sqs.clone(),
            http.clone(),
            gateway.trim_end_matches('/').to_string(),
            queue,
            retry_after,
        ));
    }
    tokio::select! {
        _ = shutdown_signal() => Ok(()),
        Some(ended) = tasks.join_next() => match ended {
            Ok(result) => result,
            Err(e) => Err(format!("a poller stopped: {e}")),
        },
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
