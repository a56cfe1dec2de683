//! `crm-local`: helpers for the local stack.
//!
//! - `crm-local dynamodb` serves the DynamoDB emulator (dynoxide) on loopback, persisted to
//!   an SQLite file so the data survives restarts.
//! - `crm-local queues` creates the service's queues and dead-letter queues in the SQS
//!   emulator (moto) and prints their URLs as `NAME=value` lines for the functions.
//! - `crm-local serve` runs every HTTP function's router in this one process over plain
//!   HTTP (no gateway): quick local runs and `make loadtest`.
//! - `crm-local poll` feeds those queues to the worker functions behind the local gateway
//!   (`cargo lambda watch`'s Invoke API), as Lambda's event source mapping does in AWS.
//! - `crm-local stream` feeds the table's stream (in the emulator) to the `changes`
//!   function the same way, keeping its position in `.local/` so a restart continues.
//!
//! Each stops cleanly on Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use clap::{Parser, Subcommand};
use crm_local::poller::{poll_once, Source};
use crm_local::queues::{create_all, LocalQueue};
use crm_local::stream::{deliver_once, position_file, StreamReader};

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
    /// Serve every HTTP function's router in this one process over plain HTTP (no gateway),
    /// configured from the environment as the functions are (TABLE_NAME, JWT_SECRET_KEY...).
    /// `GET /_local/usage` answers the requests served and their DynamoDB cost.
    Serve {
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 8008)]
        port: u16,
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
    /// Deliver the table's stream to the `changes` function until stopped, from where the
    /// last run stopped (`.local/stream-{table}.position`).
    Stream {
        /// The DynamoDB emulator.
        #[arg(
            long,
            env = "AWS_ENDPOINT_URL_DYNAMODB",
            default_value = "http://127.0.0.1:8000"
        )]
        endpoint: String,
        #[arg(long, env = "TABLE_NAME", default_value = "crm-local")]
        table: String,
        /// The local gateway (cargo lambda watch) whose Invoke API runs the worker.
        #[arg(long, default_value = "http://127.0.0.1:8007")]
        gateway: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Dynamodb { host, port, data } => serve_dynamodb(&host, port, data).await,
        Command::Queues { prefix } => print_queues(&prefix).await,
        Command::Serve { host, port } => serve_functions(&host, port).await,
        Command::Poll {
            prefix,
            gateway,
            retry_after,
        } => poll(&prefix, &gateway, retry_after).await,
        Command::Stream {
            endpoint,
            table,
            gateway,
        } => {
            tokio::select! {
                _ = shutdown_signal() => Ok(()),
                ended = stream(&endpoint, &table, &gateway) => ended,
            }
        }
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
    let event = serde_json::to_value(&event).map_err(|e| e.to_string())?;
    let body = invoke_json(http, gateway, function, &event).await?;
    serde_json::from_value(body).map_err(|e| format!("{function} answered: {e}"))
}

async fn invoke_json(
    http: &reqwest::Client,
    gateway: &str,
    function: &str,
    event: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let url = format!("{gateway}/2015-03-31/functions/{function}/invocations");
    let response = http
        .post(&url)
        .json(event)
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

async fn serve_functions(host: &str, port: u16) -> Result<(), String> {
    let state = crm_http::AppState::from_env()
        .await
        .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind((host, port))
        .await
        .map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("crm-local: every HTTP function on http://{addr}");
    crm_local::serve::serve(
        listener,
        crm_local::serve::all_functions(state),
        shutdown_signal(),
    )
    .await
    .map_err(|e| e.to_string())
}

/// Feeds the table's stream to the `changes` function, a round at a time, saving the
/// position after each round that moved it.
async fn stream(endpoint: &str, table: &str, gateway: &str) -> Result<(), String> {
    let reader = StreamReader::open(endpoint, table).await?;
    let file = position_file(table);
    let mut position = std::fs::read_to_string(&file)
        .ok()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(900))
        .build()
        .map_err(|e| e.to_string())?;
    let gateway = gateway.trim_end_matches('/');
    eprintln!(
        "crm-local: delivering {} to the changes function (from {})",
        reader.stream_arn,
        position.as_deref().unwrap_or("the oldest record")
    );
    loop {
        let before = position.clone();
        let http = &http;
        let batch = crm_store::stream::MAPPING.batch_size;
        let round = deliver_once(&reader, &mut position, batch, |event| async move {
            invoke_json(http, gateway, "changes", &event).await
        })
        .await;
        match round {
            Ok(round) => {
                if round.delivered > 0 {
                    eprintln!(
                        "crm-local: changes: {} delivered{}",
                        round.delivered,
                        round
                            .failed
                            .as_ref()
                            .map(|f| format!(", retrying from {f}"))
                            .unwrap_or_default()
                    );
                }
                if position != before {
                    if let Some(p) = &position {
                        if let Some(dir) = file.parent() {
                            let _ = std::fs::create_dir_all(dir);
                        }
                        std::fs::write(&file, p)
                            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
                    }
                }
                // Lambda polls a shard about four times a second; a failed batch waits a
                // little longer before its retry.
                let pause = if round.failed.is_some() { 2000 } else { 250 };
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            Err(e) => {
                eprintln!("crm-local: changes: {e}");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
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
    crm_local::emulator::index_stream_records(path)?;
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
