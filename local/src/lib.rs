//! The local stack's stand-ins for AWS plumbing that has no emulator here: creating the
//! queues as the template does, a poller that feeds queue messages to the workers the
//! way Lambda's SQS event source mapping does, and a reader that feeds the table's stream
//! to the changes worker the way its DynamoDB event source mapping does. `make dev` and
//! the tests use them.

pub mod emulator;
pub mod poller;
pub mod queues;
pub mod serve;
pub mod stream;
