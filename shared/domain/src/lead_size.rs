//! How large a lead may be. DynamoDB stores at most 400 KB per item, and a lead's write
//! puts more than the lead in items of that limit: its audit entry holds the old and the
//! new value of every changed field, so a lead at most [`MAX_LEAD_BYTES`] keeps that entry
//! (at most twice as large) within the limit too. Each field has its own length limit; this
//! one bounds their sum, which many custom fields or long texts in several characters'
//! bytes could otherwise push past what the database takes.

use serde_json::Value;

use crate::lead::Lead;
use crate::validate::FieldErrors;
use crate::Error;

/// The most a lead may take, measured as its JSON (UTF-8 bytes of every field's name and
/// value), which is no smaller than DynamoDB's measure of the stored item.
pub const MAX_LEAD_BYTES: usize = 160 * 1024;

/// A lead that fits, or a 400 naming the largest fields: those a client would have to
/// shorten to bring it within [`MAX_LEAD_BYTES`].
pub fn check_size(lead: &Lead) -> Result<(), Error> {
    let Ok(Value::Object(fields)) = serde_json::to_value(lead) else {
        return Ok(()); // A lead always serialises to an object.
    };
    let mut sizes: Vec<(&str, usize)> = fields
        .iter()
        .map(|(name, value)| (name.as_str(), name.len() + json_bytes(value)))
        .collect();
    let total: usize = sizes.iter().map(|(_, size)| size).sum();
    if total <= MAX_LEAD_BYTES {
        return Ok(());
    }
    sizes.sort_by_key(|(_, size)| std::cmp::Reverse(*size));
    let mut errors = FieldErrors::default();
    let mut left = total;
    for (name, size) in sizes {
        errors.add(
            name,
            format!(
                "The lead would take {total} bytes, more than the {MAX_LEAD_BYTES} a lead may \
                 hold; this field takes {size}."
            ),
        );
        left -= size;
        if left <= MAX_LEAD_BYTES {
            break;
        }
    }
    Err(Error::Validation(errors))
}

fn json_bytes(value: &Value) -> usize {
    serde_json::to_vec(value).map_or(0, |bytes| bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::lead;
    use serde_json::json;

    #[test]
    fn an_ordinary_lead_fits() {
        assert!(check_size(&lead()).is_ok());
    }

    #[test]
    fn the_largest_fields_are_named_until_the_rest_fits() {
        let mut big = lead();
        let text = "€".repeat(30_000); // 90,000 bytes
        big.notes = Some(text.clone());
        big.requirements = Some(text.clone());
        big.custom_fields.insert("memo".into(), json!("short"));
        let Err(Error::Validation(errors)) = check_size(&big) else {
            panic!("180,000 bytes of text must not fit");
        };
        // Either long text alone brings the lead within the limit.
        assert_eq!(errors.messages().count(), 1, "{errors:?}");
        assert!(errors.has("notes") || errors.has("requirements"));
        big.requirements = Some("€".repeat(20_000));
        assert!(check_size(&big).is_ok());
    }
}
