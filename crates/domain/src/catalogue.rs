//! The museum's catalogue: products of four kinds, their dated time slots with a capacity, ticket
//! types with prices in fen, versioned visiting notices, and the per-product booking rules.

use jiff::civil::{Date, Time};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::BookingError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProductId(pub i64);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SlotId(pub i64);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TicketTypeId(pub i64);

/// What a product sells entry to. Per-ID daily limits count per kind, across products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductKind {
    /// The building itself.
    Entry,
    /// An exhibition hall inside the building, e.g. the children's hall.
    Hall,
    /// Workshops and shows.
    Activity,
    /// A film in a dome or 4D theatre; each slot is a showing.
    Cinema,
}

impl ProductKind {
    pub const ALL: [ProductKind; 4] = [Self::Entry, Self::Hall, Self::Activity, Self::Cinema];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Entry => "entry",
            Self::Hall => "hall",
            Self::Activity => "activity",
            Self::Cinema => "cinema",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Booking rules, configurable per product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRules {
    /// A day's tickets open this many days before it (2: Monday for Wednesday).
    pub open_days_before: u16,
    /// ...at this museum-local time of day.
    pub open_at: Time,
    /// Booking closes this many minutes before a slot starts.
    pub close_minutes_before_start: u32,
    /// Tickets one ID number may hold per day for this product kind, across all accounts.
    pub id_limit_per_day: u16,
    /// Visitors (tickets) in one order.
    pub max_visitors_per_order: u16,
    /// Orders one account may hold per visiting day.
    pub max_orders_per_account_per_day: u16,
    /// How long an unpaid order holds its stock.
    pub hold_minutes: u32,
    /// Booking needs a passed face verification of one of the order's visitors, bound to that
    /// visitor's ID number and still valid.
    pub face_verification_required: bool,
}

impl Default for ProductRules {
    fn default() -> Self {
        Self {
            open_days_before: 2,
            open_at: Time::constant(9, 0, 0, 0),
            close_minutes_before_start: 0,
            id_limit_per_day: 1,
            max_visitors_per_order: 5,
            max_orders_per_account_per_day: 3,
            hold_minutes: 10,
            face_verification_required: false,
        }
    }
}

impl ProductRules {
    pub fn validate(&self) -> Result<(), BookingError> {
        let bad = |f: &str, m: &str| Err(BookingError::invalid(format!("rules.{f}"), m));
        if self.open_days_before > 366 {
            return bad("open_days_before", "must be at most 366");
        }
        if self.close_minutes_before_start > 7 * 24 * 60 {
            return bad("close_minutes_before_start", "must be at most one week");
        }
        if !(1..=20).contains(&self.id_limit_per_day) {
            return bad("id_limit_per_day", "must be between 1 and 20");
        }
        if !(1..=50).contains(&self.max_visitors_per_order) {
            return bad("max_visitors_per_order", "must be between 1 and 50");
        }
        if !(1..=50).contains(&self.max_orders_per_account_per_day) {
            return bad("max_orders_per_account_per_day", "must be between 1 and 50");
        }
        if !(1..=24 * 60).contains(&self.hold_minutes) {
            return bad("hold_minutes", "must be between 1 and 1440");
        }
        Ok(())
    }
}

/// Everything that describes a product, without its identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductSpec {
    pub kind: ProductKind,
    pub name: String,
    pub introduction: String,
    /// Cinema only: "dome", "4d", ...
    pub theatre_type: Option<String>,
    /// Cinema only: the film shown.
    pub film: Option<String>,
    pub featured: bool,
    pub rules: ProductRules,
}

impl ProductSpec {
    pub fn validate(&self) -> Result<(), BookingError> {
        text_field("name", &self.name, 1, 100)?;
        text_field("introduction", &self.introduction, 0, 20_000)?;
        if self.kind == ProductKind::Cinema {
            match (&self.theatre_type, &self.film) {
                (Some(t), Some(f)) => {
                    text_field("theatre_type", t, 1, 40)?;
                    text_field("film", f, 1, 100)?;
                }
                _ => {
                    return Err(BookingError::invalid(
                        "film",
                        "a cinema product names its theatre type and film",
                    ))
                }
            }
        } else if self.theatre_type.is_some() || self.film.is_some() {
            return Err(BookingError::invalid(
                "film",
                "only cinema products have a theatre type and film",
            ));
        }
        self.rules.validate()
    }
}

/// Checks a free-text field's length (in characters) and that it has no control characters.
pub fn text_field(field: &str, value: &str, min: usize, max: usize) -> Result<(), BookingError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(BookingError::invalid(
            field,
            format!("must be {min} to {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(BookingError::invalid(field, "contains control characters"));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: ProductId,
    pub spec: ProductSpec,
    /// The current visiting notice version (0 until one is published).
    pub notice_version: u32,
}

/// A versioned visiting notice. Orders store the version their visitor accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub product_id: ProductId,
    pub version: u32,
    pub text: String,
    pub published_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketType {
    pub id: TicketTypeId,
    pub product_id: ProductId,
    pub name: String,
    /// Price in fen (1/100 yuan); often 0.
    pub price_fen: u32,
}

/// A dated time slot (a showing, for cinema) with its capacity and what is taken of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub id: SlotId,
    pub product_id: ProductId,
    pub date: Date,
    pub start: Time,
    pub end: Time,
    /// The start and end as instants, computed in the museum's time zone when created.
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub capacity: u32,
    /// Tickets held by unpaid orders plus tickets sold.
    pub taken: u32,
}

impl Slot {
    pub fn remaining(&self) -> u32 {
        self.capacity.saturating_sub(self.taken)
    }
}

/// A slot to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSlot {
    pub product_id: ProductId,
    pub date: Date,
    pub start: Time,
    pub end: Time,
    pub capacity: u32,
}

impl NewSlot {
    pub fn validate(&self) -> Result<(), BookingError> {
        if self.end <= self.start {
            return Err(BookingError::invalid("end", "must be after start"));
        }
        if self.capacity > 1_000_000 {
            return Err(BookingError::invalid("capacity", "must be at most 1000000"));
        }
        Ok(())
    }
}
