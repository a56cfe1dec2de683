//! Small helpers over utoipa's schema builders, so that the descriptions in the other
//! modules read like the rules they describe (`text(100)`, `nullable(datetime())`, ...).

use serde_json::Value;
use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ArrayBuilder, ObjectBuilder, Schema, SchemaFormat,
    SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};

use crm_domain::validate::Choice;

pub type S = RefOr<Schema>;

/// A reference to a schema of the document's components.
pub fn r(name: &str) -> S {
    Ref::from_schema_name(name).into()
}

fn typed(t: Type) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(t)
}

pub fn string() -> ObjectBuilder {
    typed(Type::String)
}

/// Text the server trims and requires: 1 to `max` characters.
pub fn text(max: usize) -> S {
    string().min_length(Some(1)).max_length(Some(max)).into()
}

/// Optional text: `null` (or blank) clears it; at most `max` characters.
pub fn opt_text(max: usize) -> S {
    nullable(string().max_length(Some(max)).into())
}

/// A string of a JSON Schema format (`uuid`, `date-time`, `email`, ...).
pub fn formatted(format: &str) -> ObjectBuilder {
    string().format(Some(SchemaFormat::Custom(format.into())))
}

pub fn uuid() -> S {
    formatted("uuid").into()
}

/// An RFC 3339 date-time (responses: UTC).
pub fn datetime() -> S {
    formatted("date-time").into()
}

/// A query value: a date (`YYYY-MM-DD`, its start in UTC) or an RFC 3339 date-time.
pub fn date_or_datetime() -> S {
    AnyOfBuilder::new()
        .item(formatted("date"))
        .item(formatted("date-time"))
        .into()
}

pub fn boolean() -> S {
    typed(Type::Boolean).into()
}

pub fn integer(min: Option<i64>, max: Option<i64>) -> S {
    typed(Type::Integer)
        .minimum(min.map(|n| n as isize))
        .maximum(max.map(|n| n as isize))
        .into()
}

pub fn number() -> ObjectBuilder {
    typed(Type::Number)
}

/// Any JSON value.
pub fn any() -> S {
    ObjectBuilder::new()
        .schema_type(SchemaType::AnyValue)
        .into()
}

/// An object with values of any type (custom-field values, metadata).
pub fn free_object() -> S {
    ObjectBuilder::new().into()
}

/// The choices of one of the domain's string enums, in the domain's order.
pub fn choice<C: Choice>() -> S {
    string()
        .enum_values(Some(C::CHOICES.iter().map(|(name, _)| *name)))
        .into()
}

pub fn array(items: S) -> ArrayBuilder {
    ArrayBuilder::new().items(items)
}

/// `schema` or `null`: a `null` type (and enum value) added to an inline schema, a
/// `oneOf` around a reference.
pub fn nullable(schema: S) -> S {
    match schema {
        RefOr::T(Schema::Object(mut object)) => {
            object.schema_type = match object.schema_type {
                SchemaType::Type(t) => SchemaType::from_iter([t, Type::Null]),
                SchemaType::Array(mut types) => {
                    types.push(Type::Null);
                    SchemaType::Array(types)
                }
                SchemaType::AnyValue => SchemaType::AnyValue,
            };
            if let Some(values) = object.enum_values.as_mut() {
                values.push(Value::Null);
            }
            RefOr::T(Schema::Object(object))
        }
        RefOr::T(Schema::Array(mut array)) => {
            array.schema_type = SchemaType::from_iter([Type::Array, Type::Null]);
            RefOr::T(Schema::Array(array))
        }
        other => AnyOfBuilder::new()
            .item(other)
            .item(typed(Type::Null))
            .into(),
    }
}

/// An object's properties, each required or optional.
pub struct Obj(ObjectBuilder);

impl Obj {
    pub fn new() -> Self {
        Obj(ObjectBuilder::new())
    }

    pub fn describe(self, description: &str) -> Self {
        Obj(self.0.description(Some(description)))
    }

    /// A property every instance has.
    pub fn req(self, name: &str, schema: S) -> Self {
        Obj(self.0.property(name, schema).required(name))
    }

    /// A property an instance may leave out.
    pub fn opt(self, name: &str, schema: S) -> Self {
        Obj(self.0.property(name, schema))
    }

    /// Properties, each required when `required` is true.
    pub fn props(mut self, props: Vec<(&str, S)>, required: bool) -> Self {
        for (name, schema) in props {
            self = if required {
                self.req(name, schema)
            } else {
                self.opt(name, schema)
            };
        }
        self
    }

    /// No other properties: what a response carries, exactly.
    pub fn closed(self) -> S {
        self.0
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .into()
    }

    /// Other properties allowed (request bodies: the server ignores unknown fields).
    pub fn open(self) -> S {
        self.0.into()
    }
}

impl Default for Obj {
    fn default() -> Self {
        Self::new()
    }
}
