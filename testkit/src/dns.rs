//! [`TestDns`]: a tiny authoritative DNS server on a loopback UDP port, answering TXT
//! questions from a map the test sets (everything else: NXDOMAIN). Point the functions'
//! domain verification at it with [`TestDns::configure`] (`DNS_NAMESERVER`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;

type Records = Arc<Mutex<HashMap<String, Vec<String>>>>;

/// The server; it lives as long as the test's runtime.
#[derive(Clone)]
pub struct TestDns {
    pub addr: SocketAddr,
    records: Records,
}

fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl TestDns {
    pub async fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback UDP port");
        let addr = socket.local_addr().expect("local addr");
        let records = Records::default();
        tokio::spawn(serve(socket, records.clone()));
        Self { addr, records }
    }

    /// Publishes the TXT records of `name` (one string each), replacing what it had.
    pub fn set_txt(&self, name: &str, values: &[&str]) {
        self.records.lock().expect("records lock").insert(
            normalise(name),
            values.iter().map(|v| v.to_string()).collect(),
        );
    }

    /// `config` with domain verification looking records up here.
    pub fn configure(&self, mut config: crm_http::config::Config) -> crm_http::config::Config {
        config.domains.nameserver = Some(self.addr);
        config
    }
}

async fn serve(socket: UdpSocket, records: Records) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let Some(request) = buf.get(..len).and_then(|b| Message::from_vec(b).ok()) else {
            continue;
        };
        let answer = respond(&request, &records);
        if let Ok(bytes) = answer.to_vec() {
            let _ = socket.send_to(&bytes, peer).await;
        }
    }
}

fn respond(request: &Message, records: &Records) -> Message {
    let mut response = Message::new();
    response
        .set_id(request.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_authoritative(true)
        .set_recursion_desired(request.recursion_desired())
        .set_recursion_available(true);
    let records = records.lock().expect("records lock");
    let mut found = false;
    for query in request.queries() {
        response.add_query(query.clone());
        let name = normalise(&query.name().to_ascii());
        if let Some(values) = records.get(&name) {
            found = true;
            if query.query_type() == RecordType::TXT {
                for value in values {
                    response.add_answer(Record::from_rdata(
                        query.name().clone(),
                        60,
                        RData::TXT(TXT::new(vec![value.clone()])),
                    ));
                }
            }
        }
    }
    if !found {
        response.set_response_code(ResponseCode::NXDomain);
    }
    response
}
