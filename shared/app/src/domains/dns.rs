//! The TXT lookup that verifies a custom domain: through the configured nameserver
//! (`DNS_NAMESERVER`) or the system's, one short attempt, no cache (a record published a
//! minute ago must be seen now, and a verification is rare).

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{Name, TokioResolver};

/// How long a verification waits for the DNS: it runs inside an HTTP request.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// What a TXT lookup found.
#[derive(Debug, PartialEq, Eq)]
pub enum TxtAnswer {
    /// The records, each as its character strings (lossily decoded: our values are hex).
    Found(Vec<Vec<String>>),
    /// No such name, or no TXT record at it.
    NotFound,
    /// The lookup did not answer (timeout, refused, unreachable): the reason, for the log
    /// and the client.
    Failed(String),
}

fn options() -> ResolverOpts {
    let mut options = ResolverOpts::default();
    options.timeout = LOOKUP_TIMEOUT;
    options.attempts = 1;
    options.cache_size = 0;
    options
}

/// The TXT records at `name` (a fully qualified name; a trailing dot is added so no search
/// domain is appended).
pub async fn txt_records(nameserver: Option<SocketAddr>, name: &str) -> TxtAnswer {
    let fqdn = format!("{}.", name.trim_end_matches('.'));
    let Ok(name) = Name::from_ascii(&fqdn) else {
        return TxtAnswer::Failed(format!("{fqdn} is not a DNS name"));
    };
    let builder = match nameserver {
        Some(addr) => {
            let mut config = ResolverConfig::new();
            config.add_name_server(NameServerConfig::new(addr, Protocol::Udp));
            TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
        }
        None => match TokioResolver::builder_tokio() {
            Ok(builder) => builder,
            Err(e) => return TxtAnswer::Failed(format!("no system resolver: {e}")),
        },
    };
    let resolver = builder.with_options(options()).build();
    // The resolver's timeout covers one query and it may try again (over TCP, another
    // server): this bounds the whole lookup, well inside the function's 10 s.
    let whole = LOOKUP_TIMEOUT + Duration::from_millis(500);
    let lookup = tokio::time::timeout(whole, resolver.txt_lookup(name)).await;
    match lookup {
        Err(_) => TxtAnswer::Failed("timed out".into()),
        Ok(Err(e)) if e.is_no_records_found() || e.is_nx_domain() => TxtAnswer::NotFound,
        Ok(Err(e)) => TxtAnswer::Failed(e.to_string()),
        Ok(Ok(found)) => TxtAnswer::Found(
            found
                .iter()
                .map(|txt| {
                    txt.txt_data()
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect()
                })
                .collect(),
        ),
    }
}
