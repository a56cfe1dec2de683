//! The DynamoDB client's retry and timeout settings, set explicitly rather than left to the
//! SDK's defaults (which retry with a one-second base backoff and never time a call out):
//! a Lambda has a few seconds, and a call that hangs must fail while there is time to
//! answer 503 with `Retry-After`, not run into the function's timeout.
//!
//! - **Retries**: the SDK's standard mode, [`ClientSettings::max_attempts`] attempts in all.
//!   It retries throttling (`ProvisionedThroughputExceededException`, `ThrottlingException`,
//!   `RequestLimitExceeded`, ...), 5xx answers, timeouts and connection errors, with
//!   exponential backoff and full jitter from [`ClientSettings::initial_backoff`]. A
//!   `TransactWriteItems` is sent with a client request token that its retries reuse, so a
//!   retried transaction that had in fact committed is not applied twice. What the SDK does
//!   not retry, the store does: a transaction cancelled by a `TransactionConflict` (or a
//!   throttle of one of its items), and the keys a `BatchGetItem` leaves unprocessed.
//! - **Timeouts**: each attempt gets [`ClientSettings::attempt_timeout`], the call as a
//!   whole (retries and backoff included) [`ClientSettings::operation_timeout`], a new
//!   connection [`ClientSettings::connect_timeout`].
//!
//! What fails through all of that reaches the client as 503 with `Retry-After`
//! (`crm_http::error`), and nothing of the failed write is stored: each write is one
//! transaction.

use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;

/// How the store's DynamoDB client retries and times out (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientSettings {
    /// Attempts per call, the first included (standard retry mode).
    pub max_attempts: u32,
    /// The first retry waits up to this long (full jitter), doubling per retry...
    pub initial_backoff: Duration,
    /// ...up to this.
    pub max_backoff: Duration,
    /// Opening a connection.
    pub connect_timeout: Duration,
    /// One attempt, from sending the request to reading the whole answer.
    pub attempt_timeout: Duration,
    /// The call as a whole: every attempt and the waits between them.
    pub operation_timeout: Duration,
}

impl ClientSettings {
    /// The settings the functions run with unless the environment says otherwise: 3
    /// attempts, backoff from 50 ms up to 1 s, 1 s to connect, 2 s per attempt and 5 s per
    /// call. A DynamoDB call takes milliseconds; a request makes a handful of them in
    /// sequence, and the HTTP functions have 10 s (bulk 29 s), so one call that hangs
    /// leaves time for the 503.
    pub const DEFAULT: Self = Self {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
        attempt_timeout: Duration::from_secs(2),
        operation_timeout: Duration::from_secs(5),
    };

    /// Checks the bounds: 1 to 10 attempts, every duration positive, an attempt no longer
    /// than the whole call.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=10).contains(&self.max_attempts) {
            return Err("attempts must be between 1 and 10".into());
        }
        let durations = [
            self.initial_backoff,
            self.max_backoff,
            self.connect_timeout,
            self.attempt_timeout,
            self.operation_timeout,
        ];
        if durations.iter().any(Duration::is_zero) {
            return Err("timeouts and backoffs must be positive".into());
        }
        if self.attempt_timeout > self.operation_timeout {
            return Err("an attempt cannot have longer than the whole call".into());
        }
        Ok(())
    }

    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts)
            .with_initial_backoff(self.initial_backoff)
            .with_max_backoff(self.max_backoff)
    }

    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect_timeout)
            .operation_attempt_timeout(self.attempt_timeout)
            .operation_timeout(self.operation_timeout)
            .build()
    }

    /// `builder` (from the shared AWS configuration, or a test's) with these settings.
    pub fn apply(
        &self,
        builder: aws_sdk_dynamodb::config::Builder,
    ) -> aws_sdk_dynamodb::config::Builder {
        builder
            .retry_config(self.retry_config())
            .timeout_config(self.timeout_config())
            // The SDK's guard against a response body that stops flowing arms timers and
            // interceptors on every call: about a fifth of a detail request's CPU (4 calls;
            // docs/benchmark.md). Here it guards nothing: DynamoDB answers are small, every
            // attempt is bounded by `attempt_timeout` and the call by `operation_timeout`,
            // both shorter than the guard's own 5 s grace period.
            .stalled_stream_protection(
                aws_sdk_dynamodb::config::StalledStreamProtectionConfig::disabled(),
            )
    }

    /// A client from `builder` with these settings.
    pub fn client(&self, builder: aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::from_conf(self.apply(builder).build())
    }
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_checked_and_bounded() {
        let d = ClientSettings::default();
        assert_eq!(d.check(), Ok(()));
        assert_eq!(d.retry_config().max_attempts(), 3);
        let timeouts = d.timeout_config();
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(Duration::from_secs(2))
        );
        assert_eq!(timeouts.operation_timeout(), Some(Duration::from_secs(5)));
        assert_eq!(timeouts.connect_timeout(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn out_of_bounds_settings_are_refused() {
        let d = ClientSettings::default();
        for bad in [
            ClientSettings {
                max_attempts: 0,
                ..d
            },
            ClientSettings {
                max_attempts: 11,
                ..d
            },
            ClientSettings {
                attempt_timeout: Duration::ZERO,
                ..d
            },
            ClientSettings {
                attempt_timeout: Duration::from_secs(6),
                ..d
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}
