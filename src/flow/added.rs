//! Approvers added by hand to a waiting approval (加签): an assignee adds
//! people who decide before them (they are asked again once all of them
//! approve), after them (their approval counts once all of them approve)
//! or alongside them (more seats, counted by the step's mode). A step's
//! mode counts seats; an assignee with people added before or after is
//! one seat whose vote is their group's: rejected by any of them, approved
//! once all of them approved. Pure: the store keeps the rows.

use serde::{Deserialize, Serialize};

use super::decision::Vote;
use super::votes::Seat;

/// Where added people stand, relative to whoever added them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// They decide first; the one who added them is asked again after.
    Before,
    /// The one who added them decides; the step then needs them too.
    After,
    /// More people on the step, counted as its mode counts everyone.
    Alongside,
}

impl Placement {
    pub const ALL: [Placement; 3] = [Placement::Before, Placement::After, Placement::Alongside];

    pub fn as_str(self) -> &'static str {
        match self {
            Placement::Before => "before",
            Placement::After => "after",
            Placement::Alongside => "alongside",
        }
    }

    pub fn parse(s: &str) -> Option<Placement> {
        Placement::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Whether people so added are a seat of their own.
    pub fn seats(self) -> bool {
        self == Placement::Alongside
    }
}

/// One assignment of a step as the count sees it: its own vote, and —
/// for someone added before or after another — whose group it is in
/// (an index into the same list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part<T> {
    pub seat: Seat<T>,
    pub group: Option<(usize, Placement)>,
}

impl<T> Part<T> {
    /// Whether it is a seat of the step (not added before or after anyone).
    pub fn is_seat(&self) -> bool {
        self.group.is_none_or(|(_, p)| p.seats())
    }
}

/// The step's seats in order, each with its group's vote and the index
/// of its part: rejected (as its first rejection was cast) by anyone in
/// the group; approved (as the last approval was cast) once the seat and
/// everyone added before or after it approved; otherwise not yet.
pub fn seats<T: Ord + Copy>(parts: &[Part<T>]) -> Vec<(usize, Seat<T>)> {
    parts
        .iter()
        .enumerate()
        .filter(|(_, p)| p.is_seat())
        .map(|(i, own)| {
            let group: Vec<&Part<T>> = std::iter::once(own)
                .chain(
                    parts
                        .iter()
                        .filter(|p| p.group.is_some_and(|(g, pl)| g == i && !pl.seats())),
                )
                .collect();
            let rejected = group
                .iter()
                .filter(|p| p.seat.vote == Some(Vote::Reject))
                .map(|p| p.seat.cast)
                .min();
            let seat = match rejected {
                Some(cast) => Seat {
                    vote: Some(Vote::Reject),
                    cast,
                },
                None if group.iter().all(|p| p.seat.vote == Some(Vote::Approve)) => Seat {
                    vote: Some(Vote::Approve),
                    cast: group
                        .iter()
                        .map(|p| p.seat.cast)
                        .max()
                        .unwrap_or(own.seat.cast),
                },
                None => Seat {
                    vote: None,
                    cast: own.seat.cast,
                },
            };
            (i, seat)
        })
        .collect()
}

/// Who of a seat's group is to be asked now that the seat's turn has
/// come (indexes into `parts`): the people added before it while any of
/// them has still to decide, else the seat itself until it has, then
/// the people added after it. Someone who decided is never asked again.
pub fn to_ask<T>(parts: &[Part<T>], seat: usize) -> Vec<usize> {
    let added = |placement: Placement| -> Vec<usize> {
        parts
            .iter()
            .enumerate()
            .filter(|(_, p)| p.group == Some((seat, placement)))
            .map(|(i, _)| i)
            .collect()
    };
    let open = |ids: &[usize]| -> Vec<usize> {
        ids.iter()
            .copied()
            .filter(|i| parts[*i].seat.vote.is_none())
            .collect()
    };
    let before = open(&added(Placement::Before));
    if !before.is_empty() {
        return before;
    }
    if parts[seat].seat.vote.is_none() {
        return vec![seat];
    }
    open(&added(Placement::After))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn part(vote: Option<Vote>, cast: u32, group: Option<(usize, Placement)>) -> Part<u32> {
        Part {
            seat: Seat { vote, cast },
            group,
        }
    }

    const A: Option<Vote> = Some(Vote::Approve);
    const R: Option<Vote> = Some(Vote::Reject);

    #[test]
    fn people_added_before_are_asked_first_and_the_seat_again_once_they_approved() {
        let mut parts = vec![
            part(None, 0, None),
            part(None, 0, Some((0, Placement::Before))),
            part(None, 0, Some((0, Placement::Before))),
        ];
        assert_eq!(to_ask(&parts, 0), vec![1, 2]);
        parts[1].seat = Seat { vote: A, cast: 1 };
        assert_eq!(to_ask(&parts, 0), vec![2], "in the order promised");
        assert_eq!(
            seats(&parts),
            vec![(
                0,
                Seat {
                    vote: None,
                    cast: 0
                }
            )]
        );
        parts[2].seat = Seat { vote: A, cast: 2 };
        assert_eq!(to_ask(&parts, 0), vec![0]);
        parts[0].seat = Seat { vote: A, cast: 3 };
        assert_eq!(seats(&parts), vec![(0, Seat { vote: A, cast: 3 })]);
        assert!(to_ask(&parts, 0).is_empty());
    }

    #[test]
    fn an_approval_with_people_added_after_counts_once_they_approved_too() {
        let mut parts = vec![
            part(A, 1, None),
            part(None, 0, Some((0, Placement::After))),
            part(None, 0, None),
        ];
        assert_eq!(to_ask(&parts, 0), vec![1]);
        assert_eq!(
            seats(&parts)[0].1.vote,
            None,
            "not yet: the step needs them too"
        );
        parts[1].seat = Seat { vote: A, cast: 5 };
        assert_eq!(seats(&parts)[0].1, Seat { vote: A, cast: 5 });
        assert_eq!(
            seats(&parts).len(),
            2,
            "one seat per person not added around another"
        );
    }

    #[test]
    fn a_rejection_by_anyone_added_rejects_the_seat_as_it_was_cast() {
        let parts = vec![
            part(A, 1, None),
            part(R, 4, Some((0, Placement::After))),
            part(A, 2, Some((0, Placement::Alongside))),
        ];
        let seats = seats(&parts);
        assert_eq!(seats[0], (0, Seat { vote: R, cast: 4 }));
        assert_eq!(
            seats[1],
            (2, Seat { vote: A, cast: 2 }),
            "alongside is a seat"
        );
    }

    proptest! {
        /// Whatever the votes, a seat is approved only when everyone in
        /// its group approved, and anyone's rejection rejects it.
        #[test]
        fn a_seat_approves_only_with_its_whole_group(
            votes in proptest::collection::vec(proptest::option::of(any::<bool>()), 1..8),
            placements in proptest::collection::vec(0u8..3, 8),
        ) {
            let parts: Vec<Part<u32>> = votes.iter().enumerate().map(|(i, v)| {
                let vote = v.map(|a| if a { Vote::Approve } else { Vote::Reject });
                let group = (i > 0).then(|| (0, Placement::ALL[placements[i] as usize]));
                part(vote, i as u32, group)
            }).collect();
            let first = seats(&parts)[0].1;
            let group: Vec<&Part<u32>> = parts.iter().filter(|p| !p.is_seat() || std::ptr::eq(*p, &parts[0])).collect();
            let any_reject = group.iter().any(|p| p.seat.vote == R);
            let all_approve = group.iter().all(|p| p.seat.vote == A);
            prop_assert_eq!(first.vote == R, any_reject);
            prop_assert_eq!(first.vote == A, !any_reject && all_approve);
        }
    }
}
