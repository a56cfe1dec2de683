//! The changes worker end to end: HTTP writes into the real routers commit to the emulator,
//! its table stream is fed to the worker as Lambda's event source mapping would feed it
//! (`crm_testkit::TestStream`), the worker sends to the SQS emulator (moto, started by
//! `make test`), and the scoring worker's answer shows on the lead.

mod stream;
mod webhooks;
