//! Why the one door refused a ticket action, typed: what each way of
//! acting (the ticket page, the inbox batch, a mailed link, and later the
//! API, chat and timers) turns into its own words — a page, a flash, a
//! field message, a problem document.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;

use crate::db::ids::UserId;
use crate::db::states::Decided;
use crate::flow::form::FieldError;

/// What became of an assignment that is no longer open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Became {
    /// `by` decided it.
    Decided {
        by: UserId,
        decision: Decided,
        at: Option<NaiveDateTime>,
    },
    /// Its step was decided by `by`'s vote, so it was no longer needed.
    StepDecided {
        by: Option<UserId>,
        decision: Option<Decided>,
        at: Option<NaiveDateTime>,
    },
    /// It was handed over to `to`.
    HandedOver {
        to: Option<UserId>,
        at: Option<NaiveDateTime>,
    },
}

/// Why an action on a ticket did not happen. Nothing was changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The ticket or assignment is not there for this person: they may not
    /// see it, and it says nothing more about itself.
    NotFound,
    /// The assignment is someone else's, and the actor does not stand in
    /// for them now (or can no longer act at all).
    NotYours,
    /// Someone got there first: decided, handed over, or its step decided
    /// by others — and what became of it, by whom, when.
    Overtaken(Became),
    /// The assignment is not yet this person's: an earlier one in the
    /// sequence has still to decide.
    NotYourTurn,
    /// The assignee can no longer act (deactivated); an administrator
    /// hands the step over.
    AssigneeInactive,
    Withdrawn,
    /// Finished, rejected or sent back.
    NotRunning,
    /// The applicant would decide an approval of their own ticket for
    /// someone else (as a stand-in or by hand-over).
    ApplicantForOther,
    /// An administrator picking who approves their own ticket.
    ApplicantHandsOver,
    /// The action does not fit the step (approve a task, complete an approval).
    WrongAction,
    /// Reject and send back say why.
    CommentRequired,
    /// Withdrawing says why.
    ReasonRequired,
    /// A comment with nothing in it.
    EmptyComment,
    /// Longer than `field` may be.
    TooLong(&'static str),
    /// The step's fields need correcting.
    Fields(BTreeMap<String, FieldError>),
    /// A review is completed with one of its outcomes (and the fields'
    /// own errors, if any, beside it).
    OutcomeRequired(BTreeMap<String, FieldError>),
    /// Only the applicant withdraws, urges or resubmits.
    NotApplicant,
    /// Urged less than an interval ago.
    UrgedRecently,
    /// Only a sent-back ticket is resubmitted.
    NotSentBack,
    /// Hand-over: nobody active by that name.
    UnknownUser,
    TransferToSelf,
    /// Hand-over to the applicant of an approval of their own ticket.
    TransferToApplicant,
    /// Hand-over to someone already on the step.
    AlreadyOnNode,
    /// Copying (抄送) by someone who is not the applicant, one of the
    /// ticket's people, standing in for one, or an administrator.
    NotInvolved,
    /// A copy that names nobody.
    CopyToNobody,
    /// A copy naming someone who is not an active person (their name).
    UnknownPerson(String),
    /// A copy to oneself or to the ticket's applicant.
    CopyToSelf,
    /// A send-back to an earlier step on an approval whose process does
    /// not allow it.
    SendBackNotAllowed,
    /// A send-back to a step that is not an earlier one that passed in
    /// this round.
    SendBackTarget,
    /// Adding approvers (加签) on a step that does not allow it, or by
    /// someone who was added themself before or after another.
    AddNotAllowed,
    /// An addition that names nobody.
    AddNobody,
    /// Adding the ticket's applicant, who never approves their own ticket.
    AddApplicant,
    /// Adding oneself, or the person one stands in for.
    AddSelf,
    /// A file named that is not the actor's own upload on no ticket yet.
    UnknownAttachment,
    /// The web session acted through has ended (signed out elsewhere,
    /// password changed or reset) or its person was deactivated: the
    /// door checks it in the action's transaction, and nothing was done.
    SignedOut,
}

impl Refusal {
    /// The catalog key of the message.
    pub fn key(&self) -> &'static str {
        match self {
            Refusal::NotFound => "errors.page.404",
            Refusal::NotYours => "errors.not_your_assignment",
            Refusal::Overtaken(Became::Decided { .. }) => "errors.already_decided",
            Refusal::Overtaken(Became::StepDecided { .. }) => "errors.node_already_decided",
            Refusal::Overtaken(Became::HandedOver { .. }) => "errors.assignment_transferred",
            Refusal::NotYourTurn => "errors.not_your_turn",
            Refusal::AssigneeInactive => "errors.assignee_inactive",
            Refusal::Withdrawn => "errors.ticket_withdrawn",
            Refusal::NotRunning => "errors.ticket_not_running",
            Refusal::ApplicantForOther => "errors.applicant_for_other",
            Refusal::ApplicantHandsOver => "errors.applicant_hands_over",
            Refusal::WrongAction => "errors.wrong_action",
            Refusal::CommentRequired => "errors.comment_required",
            Refusal::ReasonRequired => "errors.reason_required",
            Refusal::EmptyComment => "errors.required",
            Refusal::TooLong(_) => "errors.too_long",
            Refusal::Fields(_) => "errors.fix_fields",
            Refusal::OutcomeRequired(_) => "errors.outcome_required",
            Refusal::NotApplicant => "errors.not_applicant",
            Refusal::UrgedRecently => "errors.urged_recently",
            Refusal::NotSentBack => "errors.not_sent_back",
            Refusal::UnknownUser => "errors.unknown_user",
            Refusal::TransferToSelf => "errors.transfer_to_self",
            Refusal::TransferToApplicant => "errors.transfer_to_applicant",
            Refusal::AlreadyOnNode => "errors.already_on_node",
            Refusal::NotInvolved => "errors.not_involved",
            Refusal::CopyToNobody => "errors.copy_to_nobody",
            Refusal::UnknownPerson(_) => "errors.unknown_person",
            Refusal::CopyToSelf => "errors.copy_to_self",
            Refusal::SendBackNotAllowed => "errors.send_back_not_allowed",
            Refusal::SendBackTarget => "errors.send_back_target",
            Refusal::AddNotAllowed => "errors.add_not_allowed",
            Refusal::AddNobody => "errors.add_nobody",
            Refusal::AddApplicant => "errors.add_applicant",
            Refusal::AddSelf => "errors.add_self",
            Refusal::UnknownAttachment => "form.unknown_attachment",
            Refusal::SignedOut => "sign_in.session_expired",
        }
    }

    /// The input the refusal belongs beside ("" for the whole action).
    pub fn field(&self) -> &'static str {
        match self {
            Refusal::CommentRequired | Refusal::ReasonRequired | Refusal::EmptyComment => "comment",
            Refusal::TooLong(field) => field,
            Refusal::OutcomeRequired(_) => "outcome",
            Refusal::SendBackNotAllowed | Refusal::SendBackTarget => "send_back_to",
            Refusal::AddNobody | Refusal::AddApplicant | Refusal::AddSelf => "people",
            Refusal::UnknownAttachment => "files",
            Refusal::UnknownUser
            | Refusal::TransferToSelf
            | Refusal::TransferToApplicant
            | Refusal::AlreadyOnNode
            | Refusal::CopyToNobody
            | Refusal::UnknownPerson(_)
            | Refusal::CopyToSelf => "to",
            _ => "",
        }
    }

    /// The message in `lang`, naming what it is about where it can.
    pub fn words(&self, lang: crate::i18n::Lang) -> String {
        match self {
            Refusal::UnknownPerson(name) => lang.tf(self.key(), &[("name", name)]),
            _ => lang.t(self.key()).into_owned(),
        }
    }

    /// The field errors that came with it, if any.
    pub fn field_errors(&self) -> Option<&BTreeMap<String, FieldError>> {
        match self {
            Refusal::Fields(errors) | Refusal::OutcomeRequired(errors) => Some(errors),
            _ => None,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.field() {
            "" => f.write_str(self.key()),
            field => write!(f, "{field}: {}", self.key()),
        }
    }
}
