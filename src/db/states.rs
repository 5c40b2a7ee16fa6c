//! The states a ticket, its steps and their assignments are in, and the
//! other closed sets a ticket row holds (decisions, channels, review
//! outcomes): enums stored as text on both backends. A row holding text
//! that is none of them is an error when read, never a default.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;

use super::{MultiBackend, MultiRawValue};

/// An enum stored as text: its words, parsing, `Display`, and diesel's
/// binding and reading on each backend and on both at once.
macro_rules! stored_as_text {
    ($(#[$meta:meta])* pub enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident = $text:literal,)*
    }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash,
            diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = Text)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// As stored.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)*
                    _ => None,
                }
            }

        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        text_sql!($name, $name::parse);
    };
}

/// Diesel's binding and reading of a type stored as its text (`as_str`,
/// and `$parse` back, `None` for text that is none of its values), on
/// each backend and on both at once. The type derives `AsExpression` and
/// `FromSqlRow` with `sql_type = Text` where it is declared.
macro_rules! text_sql {
    ($name:ty, $parse:expr) => {
        impl ToSql<Text, Sqlite> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
                out.set_value(self.as_str());
                Ok(IsNull::No)
            }
        }

        impl ToSql<Text, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
            }
        }

        impl ToSql<Text, MultiBackend> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
                out.set_value((Text, self));
                Ok(IsNull::No)
            }
        }

        impl FromSql<Text, Sqlite> for $name {
            fn from_sql(value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                read_text(&<String as FromSql<Text, Sqlite>>::from_sql(value)?, $parse)
            }
        }

        impl FromSql<Text, Pg> for $name {
            fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                read_text(&<String as FromSql<Text, Pg>>::from_sql(value)?, $parse)
            }
        }

        impl FromSql<Text, MultiBackend> for $name {
            fn from_sql(value: MultiRawValue<'_>) -> deserialize::Result<Self> {
                value.from_sql::<Self, Text>()
            }
        }
    };
}

/// `parse` of stored text, or an error naming what it is not.
fn read_text<T>(text: &str, parse: impl Fn(&str) -> Option<T>) -> deserialize::Result<T> {
    parse(text).ok_or_else(|| {
        let name = std::any::type_name::<T>()
            .rsplit("::")
            .next()
            .unwrap_or("value");
        format!("{text:?} is not a {name}").into()
    })
}

text_sql!(crate::flow::ProcessKind, |t: &str| {
    crate::flow::ProcessKind::parse(t).ok()
});
text_sql!(crate::flow::NodeKind, crate::flow::NodeKind::parse);

stored_as_text! {
    /// Where a ticket stands.
    pub enum TicketStatus {
        Running = "running",
        Finished = "finished",
        Rejected = "rejected",
        Withdrawn = "withdrawn",
        /// Rejected for now: the applicant corrects and resubmits.
        SentBack = "sent_back",
    }
}

stored_as_text! {
    /// Where one step (node) of a ticket stands.
    pub enum StepStatus {
        /// Not yet started.
        Waiting = "waiting",
        Active = "active",
        Approved = "approved",
        /// A task or review completed (and the submit step).
        Done = "done",
        Rejected = "rejected",
        /// Left out by the plan.
        Skipped = "skipped",
        /// Not run: the ticket ended first.
        Cancelled = "cancelled",
    }
}

stored_as_text! {
    /// Where one person's part in a step stands.
    pub enum AssignmentStatus {
        /// Not yet asked (later in a sequence, or the step not started).
        Waiting = "waiting",
        /// Asked, and not yet decided.
        Pending = "pending",
        Decided = "decided",
        /// Handed over to someone else, who took its place.
        Transferred = "transferred",
        /// No longer needed: the step or ticket was decided first.
        Cancelled = "cancelled",
    }
}

stored_as_text! {
    /// What an assignment was decided as.
    pub enum Decided {
        Approve = "approve",
        Reject = "reject",
        SendBack = "send_back",
        /// A task or review completed.
        Done = "done",
        /// Approved by countersign: the person approved earlier in the round.
        Auto = "auto",
        /// The applicant's own step, as they file.
        Submit = "submit",
    }
}

stored_as_text! {
    /// How an action reached countersign: the ticket page and other pages,
    /// a mailed one-click link, the inbox batch, the JSON API, a chat
    /// robot, a timer, countersign itself, or the command line.
    pub enum Channel {
        Web = "web",
        EmailLink = "email_link",
        Batch = "batch",
        Api = "api",
        Chat = "chat",
        Timer = "timer",
        System = "system",
        Cli = "cli",
    }
}

stored_as_text! {
    /// What happened on a ticket: the events every action records in its
    /// transaction (with actor, acting-for and channel), which the
    /// timeline reads and mail, webhooks, chat and reports will consume.
    pub enum TicketEvent {
        /// Filed by its applicant.
        Filed = "ticket.submitted",
        /// A step the plan leaves out.
        StepSkipped = "node.skipped",
        /// A step starts and asks its people.
        StepStarted = "node.started",
        /// Approved by countersign for someone who approved earlier in the round.
        AutoApproved = "node.auto_approved",
        /// A step passed (approved or done).
        StepPassed = "node.approved",
        Approved = "assignment.approved",
        Rejected = "assignment.rejected",
        SentBack = "assignment.sent_back",
        /// A task or review completed.
        Completed = "assignment.completed",
        HandedOver = "assignment.transferred",
        /// A leaver's step moved to their manager.
        Reassigned = "assignment.reassigned",
        /// A leaver's step moved to the administrators.
        RoutedToAdmins = "assignment.routed_to_admins",
        /// A leaver's place dropped from a step others still hold.
        LeaverSkipped = "assignment.skipped",
        /// A leaver's step nobody could take.
        Stranded = "assignment.stranded",
        Commented = "ticket.commented",
        Urged = "ticket.urged",
        Withdrawn = "ticket.withdrawn",
        Resubmitted = "ticket.resubmitted",
        /// The ticket was sent back to its applicant.
        TicketSentBack = "ticket.sent_back",
        TicketRejected = "ticket.rejected",
        Finished = "ticket.finished",
        /// What an access ticket granted.
        Granted = "grant.recorded",
        /// The people a step waits for were reminded by its clock.
        Reminded = "node.reminded",
        /// A step's deadline passed (the detail names the policy carried out).
        Overdue = "node.overdue",
        /// A manager was added to an overdue step.
        ApproverAdded = "assignment.added",
        /// A whole ticket's deadline passed.
        TicketOverdue = "ticket.overdue",
        /// A freeze made or changed after filing now covers the change's
        /// window (the detail names it and its occurrence).
        Frozen = "change.frozen",
        /// The ticket was copied to people (抄送): by its process when a
        /// step or the ticket ended, or by hand with a note.
        Copied = "ticket.copied",
        /// An approval sent the ticket back to an earlier step, which runs
        /// again (the detail names both and the reason).
        Returned = "ticket.returned",
        /// Approvers added by hand to a waiting approval (加签): the
        /// detail names them, where they stand and why.
        ApproversAdded = "assignment.approvers_added",
    }
}

stored_as_text! {
    /// How a change went, as QC's review records it.
    pub enum ReviewOutcome {
        Successful = "successful",
        WithIssues = "with_issues",
        Unsuccessful = "unsuccessful",
    }
}

/// `'active'` written into SQL (`db::one_of::is`): the steps waiting
/// now, as the partial index `approves_waiting` names them, so both
/// databases read them from it.
pub struct ActiveStep;

impl super::one_of::Constant for ActiveStep {
    const SQL: &'static str = "'active'";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_active_step_constant_is_the_status_stored() {
        use super::super::one_of::Constant;
        assert_eq!(
            ActiveStep::SQL,
            format!("'{}'", StepStatus::Active.as_str())
        );
    }

    #[test]
    fn every_state_reads_back_what_it_writes_and_nothing_else() {
        for s in TicketStatus::ALL {
            assert_eq!(TicketStatus::parse(s.as_str()), Some(*s));
        }
        for s in AssignmentStatus::ALL {
            assert_eq!(AssignmentStatus::parse(&s.to_string()), Some(*s));
        }
        assert_eq!(StepStatus::parse("Active"), None);
        assert_eq!(Decided::parse(""), None);
        assert!(read_text("carrier pigeon", Channel::parse).is_err());
    }

    #[test]
    fn the_review_outcomes_are_the_flows() {
        let ours: Vec<&str> = ReviewOutcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(ours, crate::flow::REVIEW_OUTCOMES);
    }
}

/// A ticket's form as stored: its values as JSON text. A form that does
/// not parse is an error when read, never an empty form.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = Text)]
pub struct StoredForm(pub crate::flow::form::Values);

impl StoredForm {
    fn read(text: &str) -> deserialize::Result<StoredForm> {
        serde_json::from_str(text)
            .map(StoredForm)
            .map_err(|e| format!("a ticket's form that is not JSON values: {e}").into())
    }

    /// As stored.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".into())
    }
}

impl std::ops::Deref for StoredForm {
    type Target = crate::flow::form::Values;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl ToSql<Text, Sqlite> for StoredForm {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.to_json());
        Ok(IsNull::No)
    }
}

impl ToSql<Text, Pg> for StoredForm {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        use std::io::Write;
        out.write_all(self.to_json().as_bytes())?;
        Ok(IsNull::No)
    }
}

impl ToSql<Text, MultiBackend> for StoredForm {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
        out.set_value((Text, self));
        Ok(IsNull::No)
    }
}

impl FromSql<Text, Sqlite> for StoredForm {
    fn from_sql(value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        StoredForm::read(&<String as FromSql<Text, Sqlite>>::from_sql(value)?)
    }
}

impl FromSql<Text, Pg> for StoredForm {
    fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        StoredForm::read(&<String as FromSql<Text, Pg>>::from_sql(value)?)
    }
}

impl FromSql<Text, MultiBackend> for StoredForm {
    fn from_sql(value: MultiRawValue<'_>) -> deserialize::Result<Self> {
        value.from_sql::<Self, Text>()
    }
}
