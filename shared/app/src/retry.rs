//! The one policy for a write that lost a race: its condition failed because another
//! request changed the record after this one read it. The write reads again and tries
//! again, up to [`UPDATE_ATTEMPTS`] times, each retry after a short random delay so that
//! the racing requests do not collide again in step.
//!
//! ```text
//! let mut attempts = Attempts::default();
//! while attempts.next().await {
//!     // read, check, write; `continue` on a lost race
//! }
//! Err(busy)
//! ```

/// Attempts of one write before it answers 409.
pub const UPDATE_ATTEMPTS: u32 = 10;

/// The wait before retry `attempt` (1, 2, ...): a little longer each time, with jitter.
pub async fn back_off(attempt: u32) {
    let jitter = (uuid::Uuid::new_v4().as_u128() % 10) as u64;
    tokio::time::sleep(std::time::Duration::from_millis(
        5 * u64::from(attempt) + jitter,
    ))
    .await;
}

/// The attempts of one write, counted.
#[derive(Debug, Default)]
pub struct Attempts {
    made: u32,
}

impl Attempts {
    /// Whether another attempt may run, after [`back_off`] unless it is the first.
    pub async fn next(&mut self) -> bool {
        if self.made >= UPDATE_ATTEMPTS {
            return false;
        }
        if self.made > 0 {
            back_off(self.made).await;
        }
        self.made += 1;
        true
    }

    /// Whether the running attempt is the first.
    pub fn first(&self) -> bool {
        self.made == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_gets_the_policys_attempts_and_only_the_first_goes_at_once() {
        let mut attempts = Attempts::default();
        let mut firsts = Vec::new();
        while attempts.next().await {
            firsts.push(attempts.first());
        }
        assert_eq!(firsts.len(), UPDATE_ATTEMPTS as usize);
        assert!(firsts[0] && !firsts[1..].iter().any(|f| *f));
        assert!(!attempts.next().await, "spent attempts stay spent");
    }
}
