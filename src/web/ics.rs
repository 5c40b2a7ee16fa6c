//! Writing iCalendar (RFC 5545) text for calendar feeds: events with UTC
//! times, text escaped, lines folded at 75 octets, CRLF line ends — what
//! Outlook and Google Calendar subscribe to.

use chrono::NaiveDateTime;

/// One event of a feed.
pub struct Event {
    /// Stable across versions of the feed, so a client updates it in place.
    pub uid: String,
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    pub summary: String,
    pub description: String,
    pub url: Option<String>,
    /// `TENTATIVE`, `CONFIRMED` or `CANCELLED`.
    pub status: &'static str,
    pub categories: Vec<String>,
}

/// Escapes a TEXT value: backslash, semicolon, comma and line breaks.
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends one content line, folded so that no line is longer than 75
/// octets (a fold never splits a character).
fn line(out: &mut String, content: &str) {
    let mut width = 0;
    for c in content.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

fn stamp(t: NaiveDateTime) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A whole calendar named `name`, stamped `now`, with `events`.
pub fn calendar(name: &str, now: NaiveDateTime, events: &[Event]) -> String {
    let mut out = String::new();
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, "VERSION:2.0");
    line(&mut out, "PRODID:-//countersign//change calendar//EN");
    line(&mut out, "CALSCALE:GREGORIAN");
    line(&mut out, "METHOD:PUBLISH");
    line(&mut out, &format!("X-WR-CALNAME:{}", text(name)));
    line(&mut out, "X-WR-TIMEZONE:UTC");
    line(&mut out, "REFRESH-INTERVAL;VALUE=DURATION:PT15M");
    line(&mut out, "X-PUBLISHED-TTL:PT15M");
    for e in events {
        line(&mut out, "BEGIN:VEVENT");
        line(&mut out, &format!("UID:{}", text(&e.uid)));
        line(&mut out, &format!("DTSTAMP:{}", stamp(now)));
        line(&mut out, &format!("DTSTART:{}", stamp(e.start)));
        line(&mut out, &format!("DTEND:{}", stamp(e.end)));
        line(&mut out, &format!("SUMMARY:{}", text(&e.summary)));
        if !e.description.is_empty() {
            line(&mut out, &format!("DESCRIPTION:{}", text(&e.description)));
        }
        if let Some(url) = &e.url {
            line(&mut out, &format!("URL:{url}"));
        }
        line(&mut out, &format!("STATUS:{}", e.status));
        if !e.categories.is_empty() {
            let categories: Vec<String> = e.categories.iter().map(|c| text(c)).collect();
            line(&mut out, &format!("CATEGORIES:{}", categories.join(",")));
        }
        line(&mut out, "TRANSP:OPAQUE");
        line(&mut out, "END:VEVENT");
    }
    line(&mut out, "END:VCALENDAR");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn text_is_escaped_and_long_lines_fold_without_splitting_a_character() {
        let event = Event {
            uid: "change-1@countersign".into(),
            start: at("2027-11-03 22:00"),
            end: at("2027-11-04 02:00"),
            summary: "CHG-1: db01, web01; a\\b".into(),
            description: "升级数据库".repeat(20) + "\nline two",
            url: Some("http://example.com/tickets/1".into()),
            status: "TENTATIVE",
            categories: vec!["Running".into()],
        };
        let ics = calendar("Mine", at("2027-11-01 00:00"), &[event]);
        assert!(ics.contains("SUMMARY:CHG-1: db01\\, web01\\; a\\\\b\r\n"));
        assert!(ics.contains("DTSTART:20271103T220000Z\r\n"));
        for l in ics.split("\r\n") {
            assert!(l.len() <= 75, "{l}");
        }
        let unfolded = ics.replace("\r\n ", "");
        assert!(unfolded.contains(&format!(
            "DESCRIPTION:{}\\nline two",
            "升级数据库".repeat(20)
        )));
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
    }
}
