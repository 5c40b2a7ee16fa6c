//! Branches in a flow: gateways that split it into branches, each a
//! sequence of nodes, and what a ticket may start next when some of its
//! nodes run side by side. Pure.
//!
//! A process's nodes stay one list; a node inside a gateway names it and
//! its branch ([`BranchRef`]). A gateway's nodes sit together in the list,
//! branch by branch, where the gateway stands in the flow.
//!
//! - A **parallel** gateway runs all its branches at once; the flow goes
//!   on past it (the join) when every branch is done. A reject in any
//!   branch ends the ticket as that node's on-reject policy says, and the
//!   other branches stop with it.
//! - An **exclusive** gateway takes one branch: the first whose condition
//!   holds when the ticket is planned, or else its default (the branch
//!   without a condition, last). The others are left out, each node with
//!   a note saying the branch was not taken.

use serde::{Deserialize, Serialize};

use super::definition::{Condition, LocalText, NodeDef, ProcessDef};

/// A gateway: where the flow splits into branches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GatewayDef {
    /// Stable key, unique among the process's gateways and nodes.
    pub key: String,
    pub name: LocalText,
    pub kind: GatewayKind,
    pub branches: Vec<BranchDef>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GatewayKind {
    /// Every branch runs at once; the flow waits for all of them.
    Parallel,
    /// The first branch whose condition holds is taken, or the default.
    Exclusive,
}

impl GatewayKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayKind::Parallel => "parallel",
            GatewayKind::Exclusive => "exclusive",
        }
    }

    pub fn parse(input: &str) -> Option<GatewayKind> {
        match input {
            "parallel" => Some(GatewayKind::Parallel),
            "exclusive" => Some(GatewayKind::Exclusive),
            _ => None,
        }
    }
}

/// One branch of a gateway.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BranchDef {
    pub name: LocalText,
    /// Of an exclusive gateway: when the branch is taken; `None` is the
    /// default branch. A parallel gateway's branches have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
}

/// Where a node sits: a gateway (by key) and its branch (by index).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchRef {
    pub gateway: String,
    pub branch: usize,
}

impl NodeDef {
    /// Whether the node runs in a branch of gateway `key`.
    pub fn in_gateway(&self, key: &str) -> bool {
        self.branch.as_ref().is_some_and(|b| b.gateway == key)
    }
}

impl ProcessDef {
    pub fn gateway(&self, key: &str) -> Option<&GatewayDef> {
        self.gateways.iter().find(|g| g.key == key)
    }

    pub fn gateway_mut(&mut self, key: &str) -> Option<&mut GatewayDef> {
        self.gateways.iter_mut().find(|g| g.key == key)
    }

    /// Whether some nodes of a ticket of this process may run side by side.
    pub fn has_parallel(&self) -> bool {
        self.gateways
            .iter()
            .any(|g| g.kind == GatewayKind::Parallel)
    }

    /// The parallel gateway `node` runs in, with its branch, if any.
    pub fn parallel_branch(&self, node: &NodeDef) -> Option<(&GatewayDef, usize)> {
        let at = node.branch.as_ref()?;
        self.gateway(&at.gateway)
            .filter(|g| g.kind == GatewayKind::Parallel)
            .map(|g| (g, at.branch))
    }

    /// Whether nodes `a` and `b` (by key) run in different branches of
    /// the same parallel gateway: neither waits for the other.
    pub fn side_by_side(&self, a: &str, b: &str) -> bool {
        let place = |key: &str| {
            self.node(key)
                .and_then(|n| self.parallel_branch(n))
                .map(|(g, b)| (g.key.as_str(), b))
        };
        matches!((place(a), place(b)), (Some((ga, ba)), Some((gb, bb))) if ga == gb && ba != bb)
    }

    /// Sets where node `key` runs. Joining a gateway that has steps
    /// already, it stands after them (the gateway stays where it is, and
    /// so does every other step); then the nodes are tidied.
    pub fn place_in_branch(&mut self, key: &str, at: Option<BranchRef>) {
        let Some(from) = self.nodes.iter().position(|n| n.key == key) else {
            return;
        };
        if let Some(at) = &at
            && let Some(last) = self
                .nodes
                .iter()
                .rposition(|n| n.key != key && n.in_gateway(&at.gateway))
        {
            let node = self.nodes.remove(from);
            let to = if from < last { last } else { last + 1 };
            self.nodes.insert(to, node);
        }
        if let Some(node) = self.node_mut(key) {
            node.branch = at;
        }
        self.tidy_branches();
    }

    /// Inserts `branch` into gateway `key` as its branch `at`; the steps
    /// of the branches from `at` on follow their branch to its new place.
    pub fn insert_branch(&mut self, key: &str, at: usize, branch: BranchDef) {
        let Some(gateway) = self.gateway_mut(key) else {
            return;
        };
        gateway
            .branches
            .insert(at.min(gateway.branches.len()), branch);
        for node in &mut self.nodes {
            if let Some(b) = node.branch.as_mut().filter(|b| b.gateway == key)
                && b.branch >= at
            {
                b.branch += 1;
            }
        }
        self.tidy_branches();
    }

    /// Removes branch `i` of gateway `key`: its steps go back to the main
    /// line, the later branches' steps keep theirs.
    pub fn remove_branch(&mut self, key: &str, i: usize) {
        let Some(gateway) = self.gateway_mut(key).filter(|g| i < g.branches.len()) else {
            return;
        };
        gateway.branches.remove(i);
        for node in &mut self.nodes {
            let Some(b) = node.branch.as_mut().filter(|b| b.gateway == key) else {
                continue;
            };
            if b.branch == i {
                node.branch = None;
            } else if b.branch > i {
                b.branch -= 1;
            }
        }
        self.tidy_branches();
    }

    /// Puts each gateway's nodes together where its first node stands,
    /// branch by branch, keeping every other order; forgets branch places
    /// that name no gateway or branch. The designer calls it after every
    /// change to where nodes stand.
    pub fn tidy_branches(&mut self) {
        let gateways = self.gateways.clone();
        for node in &mut self.nodes {
            let known = node.branch.as_ref().is_some_and(|at| {
                gateways
                    .iter()
                    .any(|g| g.key == at.gateway && at.branch < g.branches.len())
            });
            if !known {
                node.branch = None;
            }
        }
        let mut nodes = std::mem::take(&mut self.nodes);
        let mut placed: Vec<NodeDef> = Vec::with_capacity(nodes.len());
        while !nodes.is_empty() {
            let node = nodes.remove(0);
            let Some(at) = node.branch.clone() else {
                placed.push(node);
                continue;
            };
            // The whole gateway goes here, branch by branch.
            let mut members = vec![node];
            let mut i = 0;
            while i < nodes.len() {
                if nodes[i].in_gateway(&at.gateway) {
                    members.push(nodes.remove(i));
                } else {
                    i += 1;
                }
            }
            members.sort_by_key(|n| n.branch.as_ref().map_or(0, |b| b.branch));
            placed.extend(members);
        }
        self.nodes = placed;
    }
}

/// Where one of a ticket's steps stands, as [`next`] weighs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Planned, not started.
    Waiting,
    /// Started, not settled.
    Running,
    /// Passed, left out, cancelled or otherwise over.
    Over,
}

/// What a ticket does next, given its steps in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Start the step at this index.
    Start(usize),
    /// Wait: steps are running and nothing else may start yet.
    Wait,
    /// Every step is over: the ticket is done.
    Finish,
}

/// The first waiting step that may start now: one before which every
/// step is over, save those running or waiting in another branch of the
/// same parallel gateway. `steps` are the ticket's steps in order, each
/// node key and where it stands.
pub fn next(def: &ProcessDef, steps: &[(&str, Standing)]) -> Next {
    let mut open = steps
        .iter()
        .enumerate()
        .filter(|(_, (_, s))| *s != Standing::Over)
        .peekable();
    if open.peek().is_none() {
        return Next::Finish;
    }
    let open: Vec<(usize, &str, Standing)> = open.map(|(i, (k, s))| (i, *k, *s)).collect();
    for (at, &(i, key, standing)) in open.iter().enumerate() {
        if standing != Standing::Waiting {
            continue;
        }
        let free = open[..at]
            .iter()
            .all(|(_, before, _)| def.side_by_side(before, key));
        if free {
            return Next::Start(i);
        }
    }
    Next::Wait
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{NodeKind, ProcessKind};
    use proptest::prelude::*;

    fn t(en: &str) -> LocalText {
        LocalText::new(en, en)
    }

    fn node(key: &str, branch: Option<(&str, usize)>) -> NodeDef {
        let mut n = NodeDef::new(key, t(key), NodeKind::Approval);
        n.branch = branch.map(|(g, b)| BranchRef {
            gateway: g.into(),
            branch: b,
        });
        n
    }

    /// submit, lead, then a parallel group (security | dba, dba2), then
    /// implement.
    fn parallel() -> ProcessDef {
        let mut def = ProcessDef::new(t("Change"), ProcessKind::Change);
        def.nodes.extend([
            node("lead", None),
            node("security", Some(("reviews", 0))),
            node("dba", Some(("reviews", 1))),
            node("dba2", Some(("reviews", 1))),
            node("implement", None),
        ]);
        def.gateways.push(GatewayDef {
            key: "reviews".into(),
            name: t("Reviews"),
            kind: GatewayKind::Parallel,
            branches: vec![BranchDef::default(), BranchDef::default()],
        });
        def
    }

    fn steps<'a>(def: &'a ProcessDef, standing: &[Standing]) -> Vec<(&'a str, Standing)> {
        def.nodes
            .iter()
            .map(|n| n.key.as_str())
            .zip(standing.iter().copied())
            .collect()
    }

    use Standing::{Over as O, Running as R, Waiting as W};

    #[test]
    fn the_branches_of_a_parallel_gateway_start_together_and_each_runs_in_order() {
        let def = parallel();
        assert_eq!(next(&def, &steps(&def, &[O, R, W, W, W, W])), Next::Wait);
        assert_eq!(
            next(&def, &steps(&def, &[O, O, W, W, W, W])),
            Next::Start(2)
        );
        // security runs: dba starts beside it, dba2 waits for dba.
        assert_eq!(
            next(&def, &steps(&def, &[O, O, R, W, W, W])),
            Next::Start(3)
        );
        assert_eq!(next(&def, &steps(&def, &[O, O, R, R, W, W])), Next::Wait);
        assert_eq!(
            next(&def, &steps(&def, &[O, O, R, O, W, W])),
            Next::Start(4)
        );
        // The join waits for every branch.
        assert_eq!(next(&def, &steps(&def, &[O, O, R, O, O, W])), Next::Wait);
        assert_eq!(next(&def, &steps(&def, &[O, O, O, O, R, W])), Next::Wait);
        assert_eq!(
            next(&def, &steps(&def, &[O, O, O, O, O, W])),
            Next::Start(5)
        );
        assert_eq!(next(&def, &steps(&def, &[O, O, O, O, O, O])), Next::Finish);
    }

    #[test]
    fn a_straight_flow_starts_one_step_at_a_time() {
        let mut def = parallel();
        def.gateways.clear();
        def.tidy_branches();
        assert_eq!(next(&def, &steps(&def, &[O, O, R, W, W, W])), Next::Wait);
        assert_eq!(
            next(&def, &steps(&def, &[O, O, O, W, W, W])),
            Next::Start(3)
        );
    }

    #[test]
    fn tidying_puts_a_gateways_nodes_together_branch_by_branch_and_forgets_unknown_places() {
        let mut def = parallel();
        // dba moved to the end, security's branch named after dba2's.
        let dba = def.nodes.remove(3);
        def.nodes.push(dba);
        def.nodes.push(node("stray", Some(("nowhere", 0))));
        def.nodes.push(node("far", Some(("reviews", 9))));
        def.tidy_branches();
        let keys: Vec<&str> = def.nodes.iter().map(|n| n.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "submit",
                "lead",
                "security",
                "dba2",
                "dba",
                "implement",
                "stray",
                "far"
            ]
        );
        assert!(def.node("stray").unwrap().branch.is_none());
        assert!(def.node("far").unwrap().branch.is_none());
    }

    #[test]
    fn a_step_put_in_a_branch_joins_the_gateway_where_it_stands_and_nothing_else_moves() {
        let mut def = parallel();
        def.nodes.insert(1, node("early", None));
        let at = |branch| {
            Some(BranchRef {
                gateway: "reviews".into(),
                branch,
            })
        };
        def.place_in_branch("early", at(0));
        let keys: Vec<&str> = def.nodes.iter().map(|n| n.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "submit",
                "lead",
                "security",
                "early",
                "dba",
                "dba2",
                "implement"
            ]
        );
        // Back on the main line, a step stands just after the gateway.
        def.place_in_branch("implement", at(1));
        def.place_in_branch("early", None);
        let keys: Vec<&str> = def.nodes.iter().map(|n| n.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "submit",
                "lead",
                "security",
                "dba",
                "dba2",
                "implement",
                "early"
            ]
        );
        assert_eq!(def.node("implement").unwrap().branch, at(1));
        assert_eq!(def.node("early").unwrap().branch, None);
    }

    #[test]
    fn branches_inserted_or_removed_take_their_steps_places_along() {
        let mut def = parallel();
        let place = |def: &ProcessDef, key: &str| def.node(key).unwrap().branch.clone();
        def.insert_branch("reviews", 1, BranchDef::default());
        assert_eq!(def.gateway("reviews").unwrap().branches.len(), 3);
        assert_eq!(place(&def, "security").unwrap().branch, 0);
        assert_eq!(place(&def, "dba2").unwrap().branch, 2);
        def.remove_branch("reviews", 0);
        assert_eq!(place(&def, "security"), None, "back on the main line");
        assert_eq!(place(&def, "dba").unwrap().branch, 1);
        let keys: Vec<&str> = def.nodes.iter().map(|n| n.key.as_str()).collect();
        assert_eq!(
            keys,
            ["submit", "lead", "security", "dba", "dba2", "implement"]
        );
    }

    fn standing() -> impl Strategy<Value = Standing> {
        prop_oneof![Just(W), Just(R), Just(O)]
    }

    proptest! {
        /// Whatever the steps' states, the step after the gateway never
        /// starts while a step of any branch is unfinished, and a step
        /// never starts while an earlier step of its own branch is.
        #[test]
        fn a_join_never_starts_before_every_branch_is_over(
            states in proptest::collection::vec(standing(), 6)
        ) {
            let def = parallel();
            let steps = steps(&def, &states);
            if let Next::Start(i) = next(&def, &steps) {
                prop_assert_eq!(states[i], W);
                let over = |r: std::ops::Range<usize>| states[r].iter().all(|s| *s == O);
                match i {
                    5 => prop_assert!(over(0..5)),
                    4 => prop_assert!(over(0..2) && states[3] == O),
                    2 | 3 => prop_assert!(over(0..2)),
                    1 => prop_assert!(over(0..1)),
                    _ => {}
                }
            }
            if states.iter().all(|s| *s == O) {
                prop_assert_eq!(next(&def, &steps), Next::Finish);
            }
        }
    }
}
