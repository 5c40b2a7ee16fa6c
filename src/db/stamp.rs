//! `Stamp`, the SQL type of every timestamp column: a `timestamp` on
//! PostgreSQL, text such as `2026-11-21 16:34:15.123456` on SQLite.
//!
//! On SQLite diesel's own `Timestamp` formats each value through a
//! `strftime` pattern and parses each one by trying up to 18 patterns in
//! turn; together that was a sixth of the server's CPU in the ticket
//! benchmark. `Stamp` writes exactly the text diesel writes (`%F %T%.f`),
//! so existing databases and comparisons in SQL are unchanged, but formats
//! and reads that one shape by hand. Anything else it reads (another
//! layout, a Julian day number) goes to diesel's parser as before.
//! PostgreSQL's binary encoding is left to diesel.
//!
//! Reads give plain `NaiveDateTime`s; values to bind are wrapped in `At`.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{HasSqlType, SqlOrd, Timestamp};
use diesel::sqlite::{Sqlite, SqliteType};

use super::{MultiBackend, MultiRawValue};

/// A point in time without a zone (all of countersign's are UTC).
#[derive(
    Debug, Clone, Copy, Default, diesel::sql_types::SqlType, diesel::query_builder::QueryId,
)]
#[diesel(postgres_type(oid = 1114, array_oid = 1115))]
#[diesel(sqlite_type(name = "Text"))]
pub struct Stamp;

impl SqlOrd for Stamp {}

impl HasSqlType<Stamp> for MultiBackend {
    fn metadata(lookup: &mut Self::MetadataLookup) -> Self::TypeMetadata {
        MultiBackend::lookup_sql_type::<Stamp>(lookup)
    }
}

/// `2026-11-21 16:34:15.123456789`, with the fraction cut to 3, 6 or 9
/// digits and left out when zero, as chrono's `%F %T%.f` prints it.
/// `None` for years outside 0–9999 and leap seconds, which go to chrono.
pub fn format(at: &NaiveDateTime) -> Option<String> {
    let (year, nanos) = (at.year(), at.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return None;
    }
    let mut out = [0u8; 29];
    let mut put = |pos: usize, value: u32, width: usize| {
        let mut v = value;
        for i in (0..width).rev() {
            out[pos + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year as u32, 4);
    put(5, at.month(), 2);
    put(8, at.day(), 2);
    put(11, at.hour(), 2);
    put(14, at.minute(), 2);
    put(17, at.second(), 2);
    let len = if nanos == 0 {
        19
    } else if nanos % 1_000_000 == 0 {
        put(20, nanos / 1_000_000, 3);
        23
    } else if nanos % 1_000 == 0 {
        put(20, nanos / 1_000, 6);
        26
    } else {
        put(20, nanos, 9);
        29
    };
    out[4] = b'-';
    out[7] = b'-';
    out[10] = b' ';
    out[13] = b':';
    out[16] = b':';
    out[19] = b'.';
    Some(String::from_utf8_lossy(&out[..len]).into_owned())
}

/// Reads what `format` writes (`YYYY-MM-DD HH:MM:SS`, then optionally a
/// dot and 1–9 digits); `None` for anything else.
pub fn parse(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    if b.len() < 19 || [b[4], b[7], b[10], b[13], b[16]] != *b"-- ::" {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            num(20, b.len())? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 7)?, num(8, 10)?)?;
    let time = NaiveTime::from_hms_nano_opt(num(11, 13)?, num(14, 16)?, num(17, 19)?, nanos)?;
    Some(date.and_time(time))
}

impl FromSql<Stamp, Sqlite> for NaiveDateTime {
    fn from_sql(mut value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        if value.value_type() == Some(SqliteType::Text)
            && let Some(at) = parse(value.read_text())
        {
            return Ok(at);
        }
        <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value)
    }
}

impl FromSql<Stamp, Pg> for NaiveDateTime {
    fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value)
    }
}

impl FromSql<Stamp, MultiBackend> for NaiveDateTime {
    fn from_sql(value: MultiRawValue<'_>) -> deserialize::Result<Self> {
        value.from_sql::<Self, Stamp>()
    }
}

/// A `NaiveDateTime` bound as a `Stamp`: `column.eq(At(at))`. Diesel's
/// expression traits cannot be given to chrono's type for a type of ours,
/// so binds wrap it; reads give plain `NaiveDateTime`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, diesel::expression::AsExpression)]
#[diesel(sql_type = Stamp)]
pub struct At(pub NaiveDateTime);

impl ToSql<Stamp, Sqlite> for At {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        match format(&self.0) {
            Some(text) => {
                out.set_value(text);
                Ok(IsNull::No)
            }
            None => <NaiveDateTime as ToSql<Timestamp, Sqlite>>::to_sql(&self.0, out),
        }
    }
}

impl ToSql<Stamp, Pg> for At {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <NaiveDateTime as ToSql<Timestamp, Pg>>::to_sql(&self.0, out)
    }
}

impl ToSql<Stamp, MultiBackend> for At {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
        out.set_value((Stamp, self));
        Ok(IsNull::No)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%F %T%.f").unwrap()
    }

    #[test]
    fn formats_as_diesel_does_for_every_precision() {
        for text in [
            "2026-11-21 16:34:15",
            "2026-11-21 16:34:15.120",
            "2026-11-21 16:34:15.123456",
            "2026-11-21 16:34:15.000001",
            "2026-11-21 16:34:15.123456789",
            "0001-01-01 00:00:00.000000001",
            "9999-12-31 23:59:59.999",
        ] {
            let value = at(text);
            assert_eq!(
                format(&value).as_deref(),
                Some(value.format("%F %T%.f").to_string().as_str())
            );
            assert_eq!(parse(&format(&value).unwrap()), Some(value));
        }
    }

    #[test]
    fn reads_short_fractions_and_refuses_other_layouts() {
        assert_eq!(
            parse("2026-11-21 16:34:15.5"),
            Some(at("2026-11-21 16:34:15.500"))
        );
        for text in [
            "2026-11-21T16:34:15",
            "2026-11-21 16:34",
            "2026-11-21 16:34:15.",
            "2026-11-21 16:34:15.1234567890",
            "2026-11-21 16:34:15Z",
            "2026-13-21 16:34:15",
            "2026-11-21 24:00:00",
            "2026-1x-21 16:34:15",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }

    #[test]
    fn leaves_years_past_9999_to_chrono() {
        let far = NaiveDate::from_ymd_opt(10000, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        assert_eq!(format(&far), None);
    }
}
