//! A node's outcome from its votes: pure counting by the node's [`Mode`].
//!
//! Votes are `(assignee index in planned order, vote)` in the order they were
//! cast. Counting walks them in order and stops at the deciding vote, so a
//! decided node never changes. A vote is ignored when its index is out of
//! range, when that assignee already has a counted vote (only the first
//! counts), when the node is already decided, or — in [`Mode::Sequence`] —
//! when it is not from the next assignee in order (an ignored out-of-turn
//! vote does not use up that assignee's vote).
//!
//! Quorums: `count: Some(n)` needs `min(n, assignees)` approvals;
//! `percent: Some(p)` needs `ceil(assignees * p / 100)`; either is clamped to
//! `1..=assignees`. The node is rejected once so many assignees rejected that
//! the quorum can no longer be reached. Designs with both or neither set are
//! refused by validation; here `count` wins, and neither means everyone.

use serde::{Deserialize, Serialize};

use super::definition::Mode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Vote {
    Approve,
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Pending,
    Approved,
    Rejected,
}

/// The node's outcome. `assignees` is the number of assignees (≥ 1; with 0
/// every vote is out of range and the node stays pending).
pub fn decide(mode: Mode, assignees: usize, votes: &[(usize, Vote)]) -> Outcome {
    Tally::count(mode, assignees, votes).outcome
}

/// The index in `votes` of the deciding vote (for the audit trail), `None`
/// while the node is pending.
pub fn decided_at(mode: Mode, assignees: usize, votes: &[(usize, Vote)]) -> Option<usize> {
    Tally::count(mode, assignees, votes).decided_at
}

/// Whether the assignee at `index` may vote now: the node is pending, the
/// assignee has no counted vote yet, and for a sequence it is their turn
/// (the first assignee who has not approved yet).
pub fn may_vote(mode: Mode, assignees: usize, votes: &[(usize, Vote)], index: usize) -> bool {
    let tally = Tally::count(mode, assignees, votes);
    tally.outcome == Outcome::Pending
        && index < assignees
        && !tally.voted[index]
        && (mode != Mode::Sequence || index == tally.approvals)
}

/// How many approvals approve the node (for every mode but `Any`).
fn needed(mode: Mode, assignees: usize) -> usize {
    let wanted = match mode {
        Mode::Any => 1,
        Mode::All | Mode::Sequence => assignees,
        Mode::Quorum { count: Some(n), .. } => usize::try_from(n).unwrap_or(usize::MAX),
        Mode::Quorum {
            count: None,
            percent: Some(p),
        } => assignees.saturating_mul(usize::from(p)).div_ceil(100),
        Mode::Quorum {
            count: None,
            percent: None,
        } => assignees,
    };
    wanted.clamp(1, assignees.max(1))
}

/// The state after walking the votes in order up to the deciding one.
struct Tally {
    outcome: Outcome,
    decided_at: Option<usize>,
    /// Whether each assignee has a counted vote.
    voted: Vec<bool>,
    approvals: usize,
}

impl Tally {
    fn count(mode: Mode, assignees: usize, votes: &[(usize, Vote)]) -> Tally {
        let needed = needed(mode, assignees);
        let mut tally = Tally {
            outcome: Outcome::Pending,
            decided_at: None,
            voted: vec![false; assignees],
            approvals: 0,
        };
        let mut rejections = 0;
        for (at, &(index, vote)) in votes.iter().enumerate() {
            // In a sequence, approvals so far = the index of the next assignee.
            let out_of_turn = mode == Mode::Sequence && index != tally.approvals;
            if index >= assignees || tally.voted[index] || out_of_turn {
                continue;
            }
            tally.voted[index] = true;
            match vote {
                Vote::Approve => tally.approvals += 1,
                Vote::Reject => rejections += 1,
            }
            tally.outcome = match (mode, vote) {
                (Mode::Any, Vote::Approve) => Outcome::Approved,
                (Mode::Any, Vote::Reject) => Outcome::Rejected,
                _ if tally.approvals >= needed => Outcome::Approved,
                _ if rejections > assignees - needed => Outcome::Rejected,
                _ => Outcome::Pending,
            };
            if tally.outcome != Outcome::Pending {
                tally.decided_at = Some(at);
                break;
            }
        }
        tally
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Vote::{Approve, Reject};

    fn count(n: u32) -> Mode {
        Mode::Quorum {
            count: Some(n),
            percent: None,
        }
    }

    fn percent(p: u8) -> Mode {
        Mode::Quorum {
            count: None,
            percent: Some(p),
        }
    }

    #[test]
    fn a_node_without_votes_is_pending_whatever_its_mode() {
        for mode in [Mode::Any, Mode::All, Mode::Sequence, count(2), percent(50)] {
            assert_eq!(decide(mode, 3, &[]), Outcome::Pending, "{mode:?}");
            assert_eq!(decided_at(mode, 3, &[]), None, "{mode:?}");
        }
    }

    #[test]
    fn an_any_node_takes_the_first_vote_and_ignores_the_rest() {
        assert_eq!(
            decide(Mode::Any, 3, &[(2, Reject), (0, Approve)]),
            Outcome::Rejected
        );
        assert_eq!(
            decide(Mode::Any, 3, &[(1, Approve), (0, Reject)]),
            Outcome::Approved
        );
        assert_eq!(
            decided_at(Mode::Any, 3, &[(1, Approve), (0, Reject)]),
            Some(0)
        );
    }

    #[test]
    fn an_all_node_waits_for_everyone_and_counts_a_repeated_approval_once() {
        let votes = [(0, Approve), (0, Approve), (1, Approve)];
        assert_eq!(decide(Mode::All, 3, &votes), Outcome::Pending);
        assert!(may_vote(Mode::All, 3, &votes, 2));
        assert!(!may_vote(Mode::All, 3, &votes, 0));
        let votes = [(0, Approve), (2, Approve), (1, Approve)];
        assert_eq!(decide(Mode::All, 3, &votes), Outcome::Approved);
        assert_eq!(decided_at(Mode::All, 3, &votes), Some(2));
    }

    #[test]
    fn an_all_node_rejects_on_the_first_reject_even_after_approvals() {
        let votes = [(0, Approve), (1, Reject), (2, Approve)];
        assert_eq!(decide(Mode::All, 3, &votes), Outcome::Rejected);
        assert_eq!(decided_at(Mode::All, 3, &votes), Some(1));
    }

    #[test]
    fn a_later_vote_cannot_take_back_an_earlier_one() {
        // The reject after the approval by the same person is a duplicate.
        let votes = [(0, Approve), (0, Reject), (1, Approve)];
        assert_eq!(decide(Mode::All, 2, &votes), Outcome::Approved);
    }

    #[test]
    fn a_sequence_ignores_votes_out_of_turn() {
        let votes = [(1, Approve), (2, Reject)];
        assert_eq!(decide(Mode::Sequence, 3, &votes), Outcome::Pending);
        assert!(may_vote(Mode::Sequence, 3, &votes, 0));
        assert!(!may_vote(Mode::Sequence, 3, &votes, 1));
        let votes = [(1, Approve), (0, Approve), (1, Approve), (2, Approve)];
        assert_eq!(decide(Mode::Sequence, 3, &votes), Outcome::Approved);
        assert_eq!(decided_at(Mode::Sequence, 3, &votes), Some(3));
    }

    #[test]
    fn a_sequence_rejects_when_the_person_whose_turn_it_is_rejects() {
        let votes = [(0, Approve), (1, Reject)];
        assert_eq!(decide(Mode::Sequence, 3, &votes), Outcome::Rejected);
        assert!(!may_vote(Mode::Sequence, 3, &votes, 2));
    }

    #[test]
    fn a_count_quorum_approves_at_n_and_rejects_when_n_is_out_of_reach() {
        let two_of_four = count(2);
        assert_eq!(
            decide(two_of_four, 4, &[(3, Approve), (1, Approve)]),
            Outcome::Approved
        );
        assert_eq!(
            decide(two_of_four, 4, &[(0, Reject), (1, Reject)]),
            Outcome::Pending
        );
        let three_rejects = [(0, Reject), (1, Reject), (2, Reject)];
        assert_eq!(decide(two_of_four, 4, &three_rejects), Outcome::Rejected);
        assert_eq!(decided_at(two_of_four, 4, &three_rejects), Some(2));
    }

    #[test]
    fn a_count_larger_than_the_assignees_needs_everyone() {
        assert_eq!(decide(count(5), 2, &[(0, Approve)]), Outcome::Pending);
        assert_eq!(
            decide(count(5), 2, &[(0, Approve), (1, Approve)]),
            Outcome::Approved
        );
        assert_eq!(decide(count(5), 2, &[(1, Reject)]), Outcome::Rejected);
    }

    #[test]
    fn a_percent_quorum_rounds_up_and_needs_at_least_one_approval() {
        // 50% of 3 is 1.5: two approvals.
        assert_eq!(decide(percent(50), 3, &[(0, Approve)]), Outcome::Pending);
        assert_eq!(
            decide(percent(50), 3, &[(0, Approve), (2, Approve)]),
            Outcome::Approved
        );
        // 1% of 3 rounds up to one.
        assert_eq!(decide(percent(1), 3, &[(1, Approve)]), Outcome::Approved);
        // A bad design (0%) still needs one approval.
        assert_eq!(decide(percent(0), 3, &[]), Outcome::Pending);
        assert_eq!(decide(percent(0), 3, &[(1, Approve)]), Outcome::Approved);
        assert_eq!(decide(count(0), 3, &[]), Outcome::Pending);
    }

    #[test]
    fn a_quorum_with_neither_count_nor_percent_needs_everyone() {
        let neither = Mode::Quorum {
            count: None,
            percent: None,
        };
        assert_eq!(decide(neither, 2, &[(0, Approve)]), Outcome::Pending);
        assert_eq!(decide(neither, 2, &[(1, Reject)]), Outcome::Rejected);
    }

    #[test]
    fn votes_from_unknown_indexes_are_ignored() {
        assert_eq!(decide(Mode::Any, 2, &[(2, Approve)]), Outcome::Pending);
        assert!(!may_vote(Mode::Any, 2, &[], 2));
        assert_eq!(decide(Mode::Any, 0, &[(0, Approve)]), Outcome::Pending);
        assert!(!may_vote(Mode::Any, 0, &[], 0));
    }

    #[test]
    fn nobody_may_vote_on_a_decided_node() {
        let votes = [(0, Approve)];
        for index in 0..3 {
            assert!(!may_vote(Mode::Any, 3, &votes, index));
        }
    }

    #[test]
    fn votes_and_outcomes_serialize_as_their_names() {
        assert_eq!(
            serde_json::to_string(&Vote::Approve).unwrap(),
            "\"Approve\""
        );
        assert_eq!(
            serde_json::from_str::<Outcome>("\"Rejected\"").unwrap(),
            Outcome::Rejected
        );
    }

    mod properties {
        use super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;

        fn vote() -> impl Strategy<Value = Vote> {
            prop_oneof![Just(Approve), Just(Reject)]
        }

        fn valid_mode() -> impl Strategy<Value = Mode> {
            prop_oneof![
                Just(Mode::Any),
                Just(Mode::All),
                Just(Mode::Sequence),
                (1u32..8).prop_map(count),
                (1u8..=100).prop_map(percent),
            ]
        }

        fn quorum() -> impl Strategy<Value = Mode> {
            prop_oneof![(1u32..8).prop_map(count), (1u8..=100).prop_map(percent)]
        }

        /// Any votes, duplicates and all, by `1..7` assignees.
        fn votes() -> impl Strategy<Value = (usize, Vec<(usize, Vote)>)> {
            (1usize..7).prop_flat_map(|n| (Just(n), vec((0..n, vote()), 0..16)))
        }

        /// At most one vote per assignee, in any order.
        fn one_each() -> impl Strategy<Value = (usize, Vec<(usize, Vote)>)> {
            (1usize..7).prop_flat_map(|n| {
                vec(proptest::option::of(vote()), n).prop_flat_map(move |choices| {
                    let cast: Vec<(usize, Vote)> = choices
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| v.map(|v| (i, v)))
                        .collect();
                    (Just(n), Just(cast).prop_shuffle())
                })
            })
        }

        /// The quorum worked out independently of `needed`.
        fn quorum_size(mode: Mode, n: usize) -> usize {
            match mode {
                Mode::Quorum { count: Some(c), .. } => (c as usize).min(n),
                Mode::Quorum {
                    percent: Some(p), ..
                } => ((n as f64 * f64::from(p) / 100.0).ceil() as usize).clamp(1, n),
                _ => unreachable!(),
            }
        }

        fn first_vote_of_each(votes: &[(usize, Vote)]) -> Vec<(usize, Vote)> {
            let mut seen = Vec::new();
            let mut first = Vec::new();
            for &(i, v) in votes {
                if !seen.contains(&i) {
                    seen.push(i);
                    first.push((i, v));
                }
            }
            first
        }

        proptest! {
            #[test]
            fn an_any_node_is_decided_by_its_first_vote((n, votes) in votes()) {
                let expected = match votes.first() {
                    None => Outcome::Pending,
                    Some((_, Approve)) => Outcome::Approved,
                    Some((_, Reject)) => Outcome::Rejected,
                };
                prop_assert_eq!(decide(Mode::Any, n, &votes), expected);
                prop_assert_eq!(
                    decided_at(Mode::Any, n, &votes),
                    (!votes.is_empty()).then_some(0)
                );
            }

            #[test]
            fn an_all_node_approves_only_when_everyone_approved_and_rejects_on_the_first_reject(
                (n, votes) in one_each()
            ) {
                let outcome = decide(Mode::All, n, &votes);
                let first_reject = votes.iter().position(|(_, v)| *v == Reject);
                let approvals = votes.iter().filter(|(_, v)| *v == Approve).count();
                match first_reject {
                    Some(at) => {
                        prop_assert_eq!(outcome, Outcome::Rejected);
                        prop_assert_eq!(decided_at(Mode::All, n, &votes), Some(at));
                    }
                    None if approvals == n => prop_assert_eq!(outcome, Outcome::Approved),
                    None => prop_assert_eq!(outcome, Outcome::Pending),
                }
            }

            #[test]
            fn a_decided_node_never_changes_whatever_votes_follow(
                mode in valid_mode(),
                (n, votes) in votes(),
                more in vec((0usize..7, vote()), 0..8),
            ) {
                let before = decide(mode, n, &votes);
                let mut after = votes.clone();
                after.extend(more);
                if before != Outcome::Pending {
                    prop_assert_eq!(decide(mode, n, &after), before);
                    prop_assert_eq!(decided_at(mode, n, &after), decided_at(mode, n, &votes));
                    for index in 0..n {
                        prop_assert!(!may_vote(mode, n, &after, index));
                    }
                }
            }

            #[test]
            fn sequence_only_lets_the_next_person_vote(
                (n, votes) in votes(),
                late in (0usize..7, vote()),
            ) {
                let allowed: Vec<usize> =
                    (0..n).filter(|&i| may_vote(Mode::Sequence, n, &votes, i)).collect();
                if decide(Mode::Sequence, n, &votes) != Outcome::Pending {
                    prop_assert!(allowed.is_empty());
                    return Ok(());
                }
                prop_assert_eq!(allowed.len(), 1);
                let next = allowed[0];
                // Everyone before the next person approved (in order).
                let approved: Vec<usize> = votes
                    .iter()
                    .filter(|(_, v)| *v == Approve)
                    .map(|(i, _)| *i)
                    .collect();
                for i in 0..next {
                    prop_assert!(approved.contains(&i));
                }
                let mut after = votes.clone();
                after.push(late);
                let (index, vote) = late;
                if index != next {
                    // An out-of-turn vote changes nothing.
                    prop_assert_eq!(decide(Mode::Sequence, n, &after), Outcome::Pending);
                    prop_assert!(may_vote(Mode::Sequence, n, &after, next));
                } else if vote == Reject {
                    prop_assert_eq!(decide(Mode::Sequence, n, &after), Outcome::Rejected);
                } else if next + 1 == n {
                    prop_assert_eq!(decide(Mode::Sequence, n, &after), Outcome::Approved);
                } else {
                    prop_assert!(may_vote(Mode::Sequence, n, &after, next + 1));
                }
            }

            #[test]
            fn a_quorum_node_approves_exactly_when_enough_approvals_arrived(
                mode in quorum(),
                (n, votes) in one_each(),
            ) {
                let needed = quorum_size(mode, n);
                let approvals = votes.iter().filter(|(_, v)| *v == Approve).count();
                let rejections = votes.len() - approvals;
                let expected = if approvals >= needed {
                    Outcome::Approved
                } else if rejections > n - needed {
                    Outcome::Rejected
                } else {
                    Outcome::Pending
                };
                prop_assert_eq!(decide(mode, n, &votes), expected);
            }

            #[test]
            fn decided_at_agrees_with_decide(mode in valid_mode(), (n, votes) in votes()) {
                let outcome = decide(mode, n, &votes);
                match decided_at(mode, n, &votes) {
                    None => prop_assert_eq!(outcome, Outcome::Pending),
                    Some(at) => {
                        prop_assert!(at < votes.len());
                        prop_assert_ne!(outcome, Outcome::Pending);
                        prop_assert_eq!(decide(mode, n, &votes[..=at]), outcome);
                        prop_assert_eq!(decide(mode, n, &votes[..at]), Outcome::Pending);
                    }
                }
            }

            #[test]
            fn only_the_first_vote_of_each_person_counts(
                mode in prop_oneof![Just(Mode::Any), Just(Mode::All), quorum()],
                (n, votes) in votes(),
            ) {
                prop_assert_eq!(
                    decide(mode, n, &votes),
                    decide(mode, n, &first_vote_of_each(&votes))
                );
            }

            #[test]
            fn whoever_may_vote_changes_the_tally_by_voting(
                mode in valid_mode(),
                (n, votes) in votes(),
                index in 0usize..7,
                vote in vote(),
            ) {
                let mut after = votes.clone();
                after.push((index, vote));
                if may_vote(mode, n, &votes, index) {
                    prop_assert!(!may_vote(mode, n, &after, index));
                } else {
                    prop_assert_eq!(decide(mode, n, &after), decide(mode, n, &votes));
                }
            }
        }
    }
}
