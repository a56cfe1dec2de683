//! The local stack's stand-ins for AWS plumbing that has no emulator here: creating the
//! queues as the template does, and a poller that feeds queue messages to the workers the
//! way Lambda's SQS event source mapping does. `make dev` and the tests use both.

pub mod poller;
pub mod queues;
pub mod serve;
