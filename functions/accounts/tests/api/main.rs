//! The accounts function's integration tests: API Gateway v2 events through the real
//! routers (this function's and, to use the tokens, the leads function's) against one
//! in-process DynamoDB emulator per test, with real JWTs and Argon2id hashes.

mod common;

mod assignment;
mod audit_log;
mod domains;
mod hosts;
mod invitations;
mod jwks;
mod keys;
mod login;
mod members;
mod plans;
mod profile;
mod rate_limits;
mod sessions;
mod tenants;
