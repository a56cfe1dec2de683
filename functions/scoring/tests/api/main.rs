//! The scoring loop end to end: HTTP writes into the real routers send scoring requests to
//! the SQS emulator (moto, started by `make test`), a poller delivers them to the worker as
//! Lambda would, and the score shows on the lead.

mod etag;
mod faults;
mod scoring;
