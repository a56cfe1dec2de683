//! The bodies of the lead actions that take one (`convert`, `mark-lost`), as typed inputs.

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::lead::{MONEY_DIGITS, MONEY_PLACES};
use crate::validate::{FieldErrors, Input, Patch, Text};

/// Longest accepted lost reason (the lead's other long texts allow the same).
pub const REASON_CHARS: usize = 10_000;

/// `convert`'s body: `{conversion_value?}`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConvertInput {
    pub conversion_value: Patch<Decimal>,
}

impl ConvertInput {
    pub fn parse(body: &Map<String, Value>) -> Result<Self, FieldErrors> {
        let mut input = Input::new(body);
        let conversion_value = input.money("conversion_value", MONEY_DIGITS, MONEY_PLACES);
        input.finish()?;
        Ok(Self { conversion_value })
    }
}

/// `mark-lost`'s body: `{reason}`, required.
#[derive(Clone, Debug, PartialEq)]
pub struct LostInput {
    pub reason: String,
}

impl LostInput {
    pub fn parse(body: &Map<String, Value>) -> Result<Self, FieldErrors> {
        let mut input = Input::new(body);
        input.require("reason", true);
        let reason = input.text("reason", Text::required(REASON_CHARS));
        input.finish()?;
        let Patch::Set(reason) = reason else {
            unreachable!("a required text that passed validation is set")
        };
        Ok(Self { reason })
    }
}
