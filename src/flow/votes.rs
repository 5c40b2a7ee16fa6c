//! A node's votes as the decision rules count them, built from its
//! assignments: who decided what, in the order the votes count.

use super::decision::Vote;
use super::definition::Mode;

/// One assignment of a node, in the people's order: its vote once it has
/// decided, and when it was cast (what orders the votes of a node that is
/// not a sequence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seat<T> {
    pub vote: Option<Vote>,
    pub cast: T,
}

/// The vote a stored decision counts as: a rejection and a send-back both
/// count against; any other decision (approve, complete) for.
pub fn vote_of(decision: Option<&str>) -> Vote {
    match decision {
        Some("reject") | Some("send_back") => Vote::Reject,
        _ => Vote::Approve,
    }
}

/// The votes of `seats` as `decision::decide` takes them — (seat, vote) —
/// in the order they count: the order they were cast, or in a sequence,
/// where each turn follows the one before, the people's order (so someone
/// later in line who was approved automatically counts when their turn
/// comes).
pub fn votes<T: Ord + Copy>(mode: Mode, seats: &[Seat<T>]) -> Vec<(usize, Vote)> {
    let mut cast: Vec<(usize, Vote, T)> = seats
        .iter()
        .enumerate()
        .filter_map(|(i, seat)| seat.vote.map(|vote| (i, vote, seat.cast)))
        .collect();
    if mode != Mode::Sequence {
        // Stable: votes cast at the same moment keep the people's order.
        cast.sort_by_key(|(_, _, at)| *at);
    }
    cast.into_iter().map(|(i, vote, _)| (i, vote)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    #[test]
    fn a_send_back_counts_as_a_rejection_and_a_completion_as_approval() {
        assert_eq!(vote_of(Some("reject")), Vote::Reject);
        assert_eq!(vote_of(Some("send_back")), Vote::Reject);
        assert_eq!(vote_of(Some("approve")), Vote::Approve);
        assert_eq!(vote_of(Some("complete")), Vote::Approve);
    }

    #[test]
    fn votes_count_in_the_order_cast_except_in_a_sequence() {
        let seats = [
            Seat {
                vote: Some(Vote::Approve),
                cast: 30,
            },
            Seat {
                vote: None,
                cast: 0,
            },
            Seat {
                vote: Some(Vote::Reject),
                cast: 10,
            },
        ];
        assert_eq!(
            votes(Mode::All, &seats),
            [(2, Vote::Reject), (0, Vote::Approve)]
        );
        assert_eq!(
            votes(Mode::Sequence, &seats),
            [(0, Vote::Approve), (2, Vote::Reject)]
        );
    }

    fn seats() -> impl Strategy<Value = Vec<Seat<u8>>> {
        vec(
            (
                proptest::option::of(prop_oneof![Just(Vote::Approve), Just(Vote::Reject)]),
                any::<u8>(),
            )
                .prop_map(|(vote, cast)| Seat { vote, cast }),
            0..8,
        )
    }

    fn mode() -> impl Strategy<Value = Mode> {
        prop_oneof![Just(Mode::Any), Just(Mode::All), Just(Mode::Sequence)]
    }

    proptest! {
        #[test]
        fn every_decided_seat_votes_once_and_no_other((mode, seats) in (mode(), seats())) {
            let counted = votes(mode, &seats);
            let mut who: Vec<usize> = counted.iter().map(|(i, _)| *i).collect();
            who.sort_unstable();
            let decided: Vec<usize> = seats
                .iter()
                .enumerate()
                .filter(|(_, s)| s.vote.is_some())
                .map(|(i, _)| i)
                .collect();
            prop_assert_eq!(who, decided);
            for (i, vote) in counted {
                prop_assert_eq!(Some(vote), seats[i].vote);
            }
        }

        #[test]
        fn the_order_is_the_casting_order_or_the_line((mode, seats) in (mode(), seats())) {
            let counted = votes(mode, &seats);
            for pair in counted.windows(2) {
                let (a, b) = (pair[0].0, pair[1].0);
                if mode == Mode::Sequence {
                    prop_assert!(a < b);
                } else {
                    prop_assert!((seats[a].cast, a) < (seats[b].cast, b));
                }
            }
        }
    }
}
