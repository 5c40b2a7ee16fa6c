//! The process diagram: a process (and, for a ticket, each node's status and
//! people) drawn top to bottom as a self-contained SVG string.
//!
//! Main-line nodes stand one below the other. A gateway's nodes draw as one
//! block: a fork (a bar for a parallel gateway, a diamond for an exclusive
//! one) with the gateway's name and kind, its branches as columns side by
//! side, each with its nodes one below the other, then a join like the fork,
//! after which the flow goes on. A draft whose gateway cannot be drawn as a
//! block (its nodes apart, or out of branch order) shows that gateway's nodes
//! one below the other, as they stand in the list; a gateway with no nodes yet
//! is drawn after the last node with empty branches.
//!
//! Everything is drawn with presentation attributes and classes, never
//! `style=` or script, so the page's Content-Security-Policy stays strict and
//! CSS can still theme the drawing. All words come from the caller's labels.

use std::collections::HashMap;
use std::fmt::Write;

use super::branches::{GatewayDef, GatewayKind};
use super::definition::{HandlerRule, Mode, NodeDef, NodeKind, ProcessDef};

/// The translated texts the diagram shows; the module has no words of its own.
pub struct Labels<'a> {
    /// Whether names are shown in Chinese (see `LocalText::text`).
    pub zh: bool,
    pub kind: &'a dyn Fn(NodeKind) -> String,
    pub mode: &'a dyn Fn(&Mode) -> String,
    pub handler: &'a dyn Fn(&HandlerRule) -> String,
    /// The tag on nodes that are included only when their condition holds.
    pub conditional: &'a str,
    pub status: &'a dyn Fn(NodeStatus) -> String,
    /// The kind shown beside a parallel gateway's name.
    pub parallel: &'a str,
    /// The kind shown beside an exclusive gateway's name.
    pub exclusive: &'a str,
    /// The tag on an exclusive gateway's branch that has a condition.
    pub conditional_branch: &'a str,
    /// The tag on an exclusive gateway's default branch (the one without a
    /// condition).
    pub default_branch: &'a str,
    /// The name of a branch that has none, by its number (from 1).
    pub branch: &'a dyn Fn(usize) -> String,
}

/// Where a ticket's node stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeStatus {
    Pending,
    Active,
    Approved,
    Rejected,
    Skipped,
    Done,
}

impl NodeStatus {
    fn class(self) -> &'static str {
        match self {
            NodeStatus::Pending => "status-pending",
            NodeStatus::Active => "status-active",
            NodeStatus::Approved => "status-approved",
            NodeStatus::Rejected => "status-rejected",
            NodeStatus::Skipped => "status-skipped",
            NodeStatus::Done => "status-done",
        }
    }

    fn palette(self) -> Palette {
        match self {
            NodeStatus::Pending => Palette {
                fill: "#f5f5f5",
                stroke: "#9e9e9e",
            },
            NodeStatus::Active => Palette {
                fill: "#e3f2fd",
                stroke: "#1565c0",
            },
            NodeStatus::Approved => Palette {
                fill: "#e8f5e9",
                stroke: "#2e7d32",
            },
            NodeStatus::Rejected => Palette {
                fill: "#ffebee",
                stroke: "#c62828",
            },
            NodeStatus::Skipped => Palette {
                fill: "#fafafa",
                stroke: "#bdbdbd",
            },
            NodeStatus::Done => Palette {
                fill: "#e0f2f1",
                stroke: "#00796b",
            },
        }
    }
}

/// A ticket's view of one node: how far it got and who actually handles it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeState {
    pub status: NodeStatus,
    pub people: Vec<String>,
}

#[derive(Clone, Copy)]
struct Palette {
    fill: &'static str,
    stroke: &'static str,
}

/// A node drawn from the definition alone, or one the ticket has no state for.
const PLAIN: Palette = Palette {
    fill: "#ffffff",
    stroke: "#607d8b",
};

/// The narrowest the drawing gets; more branches than fit widen it.
const VIEW_WIDTH: i32 = 600;
const BOX_WIDTH: i32 = 520;
const BOX_X: i32 = (VIEW_WIDTH - BOX_WIDTH) / 2;
const PAD_X: i32 = 16;
const MARGIN: i32 = 12;
const TERMINAL_RADIUS: i32 = 10;
/// Room for an arrow, and for a condition tag that straddles the box's top edge.
const GAP: i32 = 40;
const RADIUS: i32 = 10;

/// A branch's column is never narrower than this; the drawing widens instead.
const MIN_COLUMN_WIDTH: i32 = 160;
const COLUMN_GAP: i32 = 16;
/// The row above a fork that carries the gateway's name and kind.
const GATEWAY_HEADER: i32 = 24;
const GATEWAY_BASELINE: i32 = 16;
/// Room the incoming arrow keeps clear between the gateway's name and kind.
const ARROW_CLEAR: i32 = 12;
/// The thickness of a parallel gateway's fork and join bars, and how far
/// they reach past the outer columns' lines.
const BAR: i32 = 6;
const BAR_OVERHANG: i32 = 12;
/// Half the diagonal of an exclusive gateway's diamonds.
const DIAMOND: i32 = 14;
/// Each row of branch labels under a fork, and where the first one starts.
const LABEL_ROW: i32 = 24;
const LABEL_TOP: i32 = 10;

const NAME_FONT: i32 = 15;
const TEXT_FONT: i32 = 13;
const STATUS_FONT: i32 = 12;
const TAG_FONT: i32 = 11;
const TAG_HEIGHT: i32 = 18;
const TAG_PAD: i32 = 8;

const NAME_BASELINE: i32 = 26;
const META_BASELINE: i32 = 46;
const LINE_HEIGHT: i32 = 19;
const BOTTOM_PAD: i32 = 14;
/// More people or rules than this many lines end in an ellipsis.
const MAX_DETAIL_LINES: usize = 3;

/// Average advance of one width unit, in thousandths of the font size; bold
/// glyphs run wider. Generous on purpose: a little slack beats overflow.
const REGULAR_EM: i32 = 620;
const BOLD_EM: i32 = 680;

const MAX_STATUS_UNITS: usize = 16;
const MAX_TAG_UNITS: usize = 20;

const ELLIPSIS: char = '…';
/// Fonts draw the ellipsis about as wide as a CJK character.
const ELLIPSIS_UNITS: usize = 2;
const SEPARATOR: &str = "; ";

/// Draws `def` as an SVG document; with `states`, each node that has a state
/// shows its status and its people instead of the handler rules.
pub fn render(
    def: &ProcessDef,
    labels: &Labels,
    states: Option<&HashMap<String, NodeState>>,
) -> String {
    let pieces = pieces(def, labels, states);

    let view_width = pieces.iter().map(Piece::width).fold(VIEW_WIDTH, i32::max);
    let center = view_width / 2;
    let pieces_height: i32 = pieces.iter().map(|p| p.height() + GAP).sum();
    let height = 2 * MARGIN + 4 * TERMINAL_RADIUS + GAP + pieces_height;
    let title = clean(def.name.text(labels.zh));
    let title = Escaped(&title);

    let mut out = String::with_capacity(1024 + def.nodes.len() * 1024);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"flow-diagram\" \
         viewBox=\"0 0 {view_width} {height}\" width=\"100%\" role=\"img\" \
         aria-label=\"{title}\" font-family=\"system-ui, sans-serif\">"
    );
    let _ = write!(out, "<title>{title}</title>");

    let mut y = MARGIN;
    let _ = write!(
        out,
        "<circle class=\"start\" cx=\"{center}\" cy=\"{}\" r=\"{TERMINAL_RADIUS}\" \
         fill=\"#607d8b\"/>",
        y + TERMINAL_RADIUS
    );
    y += 2 * TERMINAL_RADIUS;

    for piece in &pieces {
        push_arrow(&mut out, center, y, y + GAP + piece.entry(), false);
        y += GAP;
        piece.draw(&mut out, center, y);
        y += piece.height();
    }

    push_arrow(&mut out, center, y, y + GAP, false);
    y += GAP;
    let cy = y + TERMINAL_RADIUS;
    let _ = write!(
        out,
        "<g class=\"end\"><circle cx=\"{center}\" cy=\"{cy}\" r=\"{TERMINAL_RADIUS}\" \
         fill=\"#ffffff\" stroke=\"#607d8b\" stroke-width=\"2\"/>\
         <circle cx=\"{center}\" cy=\"{cy}\" r=\"{}\" fill=\"#607d8b\"/></g>",
        TERMINAL_RADIUS - 4
    );
    out.push_str("</svg>");
    out
}

/// One thing the flow draws in turn: a main-line node or a gateway's block.
enum Piece<'d> {
    Node(NodeBox<'d>),
    Gateway(Block<'d>),
}

impl Piece<'_> {
    fn height(&self) -> i32 {
        match self {
            Piece::Node(b) => b.height,
            Piece::Gateway(b) => b.height(),
        }
    }

    /// How far below its top the arrow into it ends.
    fn entry(&self) -> i32 {
        match self {
            Piece::Node(_) => 0,
            Piece::Gateway(_) => GATEWAY_HEADER,
        }
    }

    /// The width of drawing it needs.
    fn width(&self) -> i32 {
        match self {
            Piece::Node(_) => VIEW_WIDTH,
            Piece::Gateway(b) => b.span + 2 * BOX_X,
        }
    }

    fn draw(&self, out: &mut String, center: i32, top: i32) {
        match self {
            Piece::Node(b) => b.draw(out, center - b.width / 2, top),
            Piece::Gateway(b) => b.draw(out, center, top),
        }
    }
}

/// The flow cut into pieces: each gateway whose nodes stand together, branch
/// by branch, becomes a block where they stand; every other node (including
/// those of a gateway that cannot be drawn as a block) stands on the main
/// line, in list order. Gateways without nodes follow the last node.
fn pieces<'d>(
    def: &'d ProcessDef,
    labels: &Labels,
    states: Option<&HashMap<String, NodeState>>,
) -> Vec<Piece<'d>> {
    let state = |node: &NodeDef| states.and_then(|s| s.get(&node.key));
    let blocks: Vec<&GatewayDef> = def
        .gateways
        .iter()
        .filter(|g| stands_together(def, g))
        .collect();
    let block_of = |node: &NodeDef| {
        let at = node.branch.as_ref()?;
        blocks.iter().copied().find(|g| g.key == at.gateway)
    };

    let mut pieces = Vec::new();
    let mut i = 0;
    while i < def.nodes.len() {
        let node = &def.nodes[i];
        match block_of(node) {
            Some(gateway) => {
                let len = def.nodes[i..]
                    .iter()
                    .take_while(|n| n.in_gateway(&gateway.key))
                    .count()
                    .max(1);
                let members = &def.nodes[i..i + len];
                pieces.push(Piece::Gateway(Block::new(gateway, members, labels, &state)));
                i += len;
            }
            None => {
                pieces.push(Piece::Node(NodeBox::new(
                    node,
                    labels,
                    state(node),
                    BOX_WIDTH,
                )));
                i += 1;
            }
        }
    }
    for gateway in &def.gateways {
        if !def.nodes.iter().any(|n| n.in_gateway(&gateway.key)) {
            pieces.push(Piece::Gateway(Block::new(gateway, &[], labels, &state)));
        }
    }
    pieces
}

/// Whether `gateway`'s nodes can be drawn as a block: there are some, they
/// stand together in the list, each in a branch the gateway has, branch by
/// branch.
fn stands_together(def: &ProcessDef, gateway: &GatewayDef) -> bool {
    let Some(first) = def.nodes.iter().position(|n| n.in_gateway(&gateway.key)) else {
        return false;
    };
    let run = def.nodes[first..]
        .iter()
        .take_while(|n| n.in_gateway(&gateway.key))
        .count();
    let rest_outside = def.nodes[first + run..]
        .iter()
        .any(|n| n.in_gateway(&gateway.key));
    let branches: Vec<usize> = def.nodes[first..first + run]
        .iter()
        .filter_map(|n| n.branch.as_ref().map(|at| at.branch))
        .collect();
    !rest_outside
        && branches.iter().all(|&b| b < gateway.branches.len())
        && branches.windows(2).all(|w| w[0] <= w[1])
}

/// The width a block of `count` branches spans, and each column's width.
fn columns_for(count: i32) -> (i32, i32) {
    let count = count.max(1);
    let gaps = (count - 1) * COLUMN_GAP;
    let span = BOX_WIDTH.max(count * MIN_COLUMN_WIDTH + gaps);
    (span, (span - gaps) / count)
}

/// A gateway drawn as a block: its texts, cut to fit, and its columns.
struct Block<'d> {
    gateway: &'d GatewayDef,
    name: String,
    kind: String,
    columns: Vec<Column<'d>>,
    span: i32,
    column_width: i32,
    /// Rows of branch labels under the fork: names, then (exclusive) tags.
    label_rows: i32,
    /// The height of the tallest column's nodes and the arrows between.
    tallest: i32,
}

/// One branch of a block.
struct Column<'d> {
    label: Option<String>,
    tag: Option<BranchTag>,
    boxes: Vec<NodeBox<'d>>,
    /// A ticket left every node of it out: the branch was not taken.
    not_taken: bool,
}

struct BranchTag {
    text: String,
    default: bool,
}

impl<'d> Block<'d> {
    fn new<'s>(
        gateway: &'d GatewayDef,
        members: &'d [NodeDef],
        labels: &Labels,
        state: &dyn Fn(&NodeDef) -> Option<&'s NodeState>,
    ) -> Block<'d> {
        let count = gateway.branches.len().max(1);
        let (span, column_width) = columns_for(count as i32);
        let exclusive = gateway.kind == GatewayKind::Exclusive;
        let named = gateway.branches.iter().any(|b| !b.name.is_empty());
        let label_units = units_for(column_width - 2 * TAG_PAD, TAG_FONT, REGULAR_EM);

        let columns = (0..count)
            .map(|i| {
                let branch = gateway.branches.get(i);
                let label = branch.filter(|_| named).map(|b| {
                    let name = clean(b.name.text(labels.zh));
                    let name = if name.is_empty() {
                        clean(&(labels.branch)(i + 1))
                    } else {
                        name
                    };
                    truncate(&name, label_units)
                });
                let tag = branch.filter(|_| exclusive).map(|b| {
                    let text = match b.condition {
                        Some(_) => labels.conditional_branch,
                        None => labels.default_branch,
                    };
                    BranchTag {
                        text: truncate(&clean(text), label_units),
                        default: b.condition.is_none(),
                    }
                });
                let boxes: Vec<NodeBox> = members
                    .iter()
                    .filter(|n| n.branch.as_ref().is_some_and(|at| at.branch == i))
                    .map(|n| NodeBox::new(n, labels, state(n), column_width))
                    .collect();
                let not_taken = !boxes.is_empty()
                    && boxes.iter().all(|b| b.status == Some(NodeStatus::Skipped));
                Column {
                    label,
                    tag,
                    boxes,
                    not_taken,
                }
            })
            .collect::<Vec<_>>();

        let tallest = columns.iter().map(Column::height).max().unwrap_or(0);
        let half = span / 2 - ARROW_CLEAR;
        let mut name = clean(gateway.name.text(labels.zh));
        if name.is_empty() {
            name = clean(&gateway.key);
        }
        let name = truncate(&name, units_for(half, TEXT_FONT, BOLD_EM));
        let kind = if exclusive {
            labels.exclusive
        } else {
            labels.parallel
        };
        let kind = truncate(&clean(kind), units_for(half, STATUS_FONT, REGULAR_EM));
        Block {
            gateway,
            name,
            kind,
            columns,
            span,
            column_width,
            label_rows: i32::from(named) + i32::from(exclusive),
            tallest,
        }
    }

    fn exclusive(&self) -> bool {
        self.gateway.kind == GatewayKind::Exclusive
    }

    /// The height of the fork, and of the join.
    fn marker_height(&self) -> i32 {
        if self.exclusive() { 2 * DIAMOND } else { BAR }
    }

    /// From the fork's bottom to the top of each branch's first node.
    fn lead(&self) -> i32 {
        GAP + self.label_rows * LABEL_ROW
    }

    fn height(&self) -> i32 {
        GATEWAY_HEADER + 2 * self.marker_height() + self.lead() + self.tallest + GAP
    }

    fn draw(&self, out: &mut String, center: i32, top: i32) {
        let marker = self.marker_height();
        let fork_top = top + GATEWAY_HEADER;
        let split = fork_top + marker / 2;
        let first_top = fork_top + marker + self.lead();
        let join_top = first_top + self.tallest + GAP;
        let merge = join_top + marker / 2;

        let count = self.columns.len() as i32;
        let used = count * self.column_width + (count - 1) * COLUMN_GAP;
        let left = center - used / 2;
        let column_left = |i: usize| left + i as i32 * (self.column_width + COLUMN_GAP);
        let first_center = column_left(0) + self.column_width / 2;
        let last_center = column_left(self.columns.len() - 1) + self.column_width / 2;
        let key = Escaped(&self.gateway.key);
        let kind = self.gateway.kind.as_str();

        let _ = write!(
            out,
            "<g class=\"gateway {kind}\" data-gateway=\"{key}\">\
             <text class=\"gateway-name\" x=\"{left}\" y=\"{}\" font-size=\"{TEXT_FONT}\" \
             font-weight=\"bold\" fill=\"#37474f\">{}</text>",
            top + GATEWAY_BASELINE,
            Escaped(&self.name)
        );
        if !self.kind.is_empty() {
            let _ = write!(
                out,
                "<text class=\"gateway-kind\" x=\"{}\" y=\"{}\" font-size=\"{STATUS_FONT}\" \
                 text-anchor=\"end\" fill=\"#546e7a\">{}</text>",
                left + used,
                top + GATEWAY_BASELINE,
                Escaped(&self.kind)
            );
        }
        for y in [split, merge] {
            let _ = write!(
                out,
                "<path class=\"gateway-line\" d=\"M{first_center} {y}H{last_center}\" \
                 fill=\"none\" stroke=\"#90a4ae\" stroke-width=\"1.5\"/>"
            );
        }

        for (i, column) in self.columns.iter().enumerate() {
            let x = column_left(i);
            let line_x = x + self.column_width / 2;
            let class = if column.not_taken {
                "branch not-taken"
            } else {
                "branch"
            };
            let _ = write!(
                out,
                "<g class=\"{class}\" data-gateway=\"{key}\" data-branch=\"{i}\">"
            );
            let dashed = column.not_taken;
            let mut y = first_top;
            if column.boxes.is_empty() {
                push_line(out, line_x, split, merge, dashed);
            } else {
                push_arrow(out, line_x, split, first_top, dashed);
                for (n, node_box) in column.boxes.iter().enumerate() {
                    if n > 0 {
                        push_arrow(out, line_x, y, y + GAP, dashed);
                        y += GAP;
                    }
                    node_box.draw(out, x, y);
                    y += node_box.height;
                }
                push_line(out, line_x, y, merge, dashed);
            }
            let mut row = fork_top + marker + LABEL_TOP;
            if let Some(label) = &column.label {
                push_pill(out, "branch-label", line_x, row, label, PILL_PLAIN);
                row += LABEL_ROW;
            }
            if let Some(tag) = &column.tag {
                let (class, colours) = if tag.default {
                    ("branch-default", PILL_PLAIN)
                } else {
                    ("branch-condition", PILL_CONDITION)
                };
                push_pill(out, class, line_x, row, &tag.text, colours);
            }
            out.push_str("</g>");
        }

        for (class, marker_top) in [("fork", fork_top), ("join", join_top)] {
            if self.exclusive() {
                let (cx, cy) = (center, marker_top + DIAMOND);
                let _ = write!(
                    out,
                    "<g class=\"{class}\"><path d=\"M{cx} {marker_top}L{} {cy}L{cx} {}L{} {cy}Z\" \
                     fill=\"#fff8e1\" stroke=\"#f9a825\" stroke-width=\"1.5\"/>\
                     <path d=\"M{} {}L{} {}M{} {}L{} {}\" stroke=\"#8d6e00\" \
                     stroke-width=\"2\"/></g>",
                    cx + DIAMOND,
                    marker_top + 2 * DIAMOND,
                    cx - DIAMOND,
                    cx - 5,
                    cy - 5,
                    cx + 5,
                    cy + 5,
                    cx + 5,
                    cy - 5,
                    cx - 5,
                    cy + 5
                );
            } else {
                let x = first_center.min(center) - BAR_OVERHANG;
                let width = last_center.max(center) + BAR_OVERHANG - x;
                let _ = write!(
                    out,
                    "<rect class=\"{class}\" x=\"{x}\" y=\"{marker_top}\" width=\"{width}\" \
                     height=\"{BAR}\" rx=\"2\" fill=\"#455a64\"/>"
                );
            }
        }
        out.push_str("</g>");
    }
}

impl Column<'_> {
    fn height(&self) -> i32 {
        let boxes: i32 = self.boxes.iter().map(|b| b.height).sum();
        boxes + GAP * (self.boxes.len() as i32 - 1).max(0)
    }
}

/// One node's texts, already cleaned and cut to fit, and the height they need.
struct NodeBox<'d> {
    node: &'d NodeDef,
    status: Option<NodeStatus>,
    name: String,
    status_text: Option<String>,
    /// The status stands on a line of its own under the name, which did
    /// not fit beside it.
    status_line: bool,
    meta: String,
    details: Vec<String>,
    tag: Option<String>,
    width: i32,
    height: i32,
}

impl<'d> NodeBox<'d> {
    fn new(
        node: &'d NodeDef,
        labels: &Labels,
        state: Option<&NodeState>,
        box_width: i32,
    ) -> NodeBox<'d> {
        let text_width = box_width - 2 * PAD_X;
        let text_units = units_for(text_width, TEXT_FONT, REGULAR_EM);

        let status_units = MAX_STATUS_UNITS.min(units_for(text_width, STATUS_FONT, BOLD_EM));
        let status_text = state
            .map(|s| truncate(&clean(&(labels.status)(s.status)), status_units))
            .filter(|t| !t.is_empty());
        // The status sits at the right end of the name line, so the name gets
        // what it leaves; in a branch's narrow box, or when that is less than
        // half the line, a name that does not fit there gets a line of its
        // own and the status goes under it.
        let name = clean(node.name.text(labels.zh));
        let beside = status_text
            .as_ref()
            .map(|t| text_width - px_for(width(t), STATUS_FONT, BOLD_EM) - PAD_X);
        let status_line = beside.is_some_and(|px| {
            width(&name) > units_for(px, NAME_FONT, BOLD_EM)
                && (box_width < BOX_WIDTH || px < text_width / 2)
        });
        let name_px = match beside {
            Some(px) if !status_line => px,
            _ => text_width,
        };
        let name = truncate(&name, units_for(name_px, NAME_FONT, BOLD_EM));

        let kind = clean(&(labels.kind)(node.kind));
        // Only an approval weighs several votes; a submit node is filled by
        // the applicant and a task or review completed by one person.
        let meta = if node.kind != NodeKind::Approval {
            kind
        } else {
            let mode = clean(&(labels.mode)(&node.mode));
            [kind, mode]
                .into_iter()
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join(" · ")
        };
        let meta = truncate(&meta, text_units);

        let details: Vec<String> = match state {
            Some(s) => s.people.iter().map(|p| clean(p)).collect(),
            None => node
                .handlers
                .iter()
                .map(|h| clean(&(labels.handler)(h)))
                .collect(),
        };
        let details: Vec<String> = details.into_iter().filter(|t| !t.is_empty()).collect();
        let details = wrap(&details.join(SEPARATOR), text_units, MAX_DETAIL_LINES);

        let tag_units =
            MAX_TAG_UNITS.min(units_for(text_width - 2 * TAG_PAD, TAG_FONT, REGULAR_EM));
        let tag = node
            .condition
            .as_ref()
            .map(|_| truncate(&clean(labels.conditional), tag_units));

        let height = META_BASELINE
            + LINE_HEIGHT * (details.len() as i32 + i32::from(status_line))
            + BOTTOM_PAD;
        NodeBox {
            node,
            status: state.map(|s| s.status),
            name,
            status_text,
            status_line,
            meta,
            details,
            tag,
            width: box_width,
            height,
        }
    }

    fn draw(&self, out: &mut String, x: i32, top: i32) {
        let palette = self.status.map_or(PLAIN, NodeStatus::palette);
        let mut class = String::from("node");
        if let Some(status) = self.status {
            class.push(' ');
            class.push_str(status.class());
        }
        if self.tag.is_some() {
            class.push_str(" conditional");
        }
        let active = self.status == Some(NodeStatus::Active);
        let stroke_width = if active { "3" } else { "1.5" };
        let dash = if self.tag.is_some() {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        let current = if active { " aria-current=\"step\"" } else { "" };

        let _ = write!(
            out,
            "<g class=\"step\" data-key=\"{}\"{current}>",
            Escaped(&self.node.key)
        );
        let _ = write!(
            out,
            "<rect class=\"{class}\" x=\"{x}\" y=\"{top}\" width=\"{}\" \
             height=\"{}\" rx=\"{RADIUS}\" fill=\"{}\" stroke=\"{}\" \
             stroke-width=\"{stroke_width}\"{dash}/>",
            self.width, self.height, palette.fill, palette.stroke
        );

        let left = x + PAD_X;
        let right = x + self.width - PAD_X;
        let _ = write!(
            out,
            "<text class=\"node-name\" x=\"{left}\" y=\"{}\" font-size=\"{NAME_FONT}\" \
             font-weight=\"bold\" fill=\"#212121\">{}</text>",
            top + NAME_BASELINE,
            Escaped(&self.name)
        );
        // Everything under the name moves down a line when the status has one.
        let shift = if self.status_line { LINE_HEIGHT } else { 0 };
        if let Some(text) = &self.status_text {
            let (at, anchor) = if self.status_line {
                (left, "start")
            } else {
                (right, "end")
            };
            let _ = write!(
                out,
                "<text class=\"node-status\" x=\"{at}\" y=\"{}\" font-size=\"{STATUS_FONT}\" \
                 font-weight=\"bold\" text-anchor=\"{anchor}\" fill=\"{}\">{}</text>",
                top + NAME_BASELINE + shift,
                palette.stroke,
                Escaped(text)
            );
        }
        if !self.meta.is_empty() {
            let _ = write!(
                out,
                "<text class=\"node-meta\" x=\"{left}\" y=\"{}\" font-size=\"{TEXT_FONT}\" \
                 fill=\"#546e7a\">{}</text>",
                top + META_BASELINE + shift,
                Escaped(&self.meta)
            );
        }
        let details_class = if self.status.is_some() {
            "node-people"
        } else {
            "node-handlers"
        };
        for (i, line) in self.details.iter().enumerate() {
            let _ = write!(
                out,
                "<text class=\"{details_class}\" x=\"{left}\" y=\"{}\" \
                 font-size=\"{TEXT_FONT}\" fill=\"#37474f\">{}</text>",
                top + META_BASELINE + shift + LINE_HEIGHT * (i as i32 + 1),
                Escaped(line)
            );
        }
        if let Some(tag) = &self.tag {
            let tag_width = px_for(width(tag), TAG_FONT, REGULAR_EM) + 2 * TAG_PAD;
            let tag_x = right - tag_width;
            let _ = write!(
                out,
                "<g class=\"condition-tag\"><rect x=\"{tag_x}\" y=\"{}\" width=\"{tag_width}\" \
                 height=\"{TAG_HEIGHT}\" rx=\"{}\" fill=\"#fff8e1\" stroke=\"#f9a825\"/>\
                 <text x=\"{}\" y=\"{}\" font-size=\"{TAG_FONT}\" text-anchor=\"middle\" \
                 fill=\"#8d6e00\">{}</text></g>",
                top - TAG_HEIGHT / 2,
                TAG_HEIGHT / 2,
                tag_x + tag_width / 2,
                top + TAG_FONT / 2 - 1,
                Escaped(tag)
            );
        }
        out.push_str("</g>");
    }
}

/// A vertical arrow at `x` whose shaft and head are one path, so each
/// transition is exactly one element, and no marker ids can clash between
/// diagrams that share a page.
fn push_arrow(out: &mut String, x: i32, from: i32, to: i32, dashed: bool) {
    let tip = to - 1;
    let dash = if dashed {
        " stroke-dasharray=\"4 4\""
    } else {
        ""
    };
    let _ = write!(
        out,
        "<path class=\"arrow\" d=\"M{x} {from}V{tip}M{} {}L{x} {tip}L{} {}\" \
         fill=\"none\" stroke=\"#90a4ae\" stroke-width=\"1.5\"{dash}/>",
        x - 5,
        tip - 7,
        x + 5,
        tip - 7
    );
}

/// A vertical line at `x` without a head: a branch running on to its join.
fn push_line(out: &mut String, x: i32, from: i32, to: i32, dashed: bool) {
    let dash = if dashed {
        " stroke-dasharray=\"4 4\""
    } else {
        ""
    };
    let _ = write!(
        out,
        "<path class=\"branch-line\" d=\"M{x} {from}V{to}\" fill=\"none\" \
         stroke=\"#90a4ae\" stroke-width=\"1.5\"{dash}/>"
    );
}

/// The colours of a pill: fill, stroke, text.
type PillColours = (&'static str, &'static str, &'static str);

const PILL_PLAIN: PillColours = ("#ffffff", "#90a4ae", "#455a64");
const PILL_CONDITION: PillColours = ("#fff8e1", "#f9a825", "#8d6e00");

/// A small rounded label centred on a branch's line at `x`, its top at
/// `top`; `text` is already cut to fit the column.
fn push_pill(out: &mut String, class: &str, x: i32, top: i32, text: &str, colours: PillColours) {
    if text.is_empty() {
        return;
    }
    let (fill, stroke, ink) = colours;
    let pill_width = px_for(width(text), TAG_FONT, REGULAR_EM) + 2 * TAG_PAD;
    let _ = write!(
        out,
        "<g class=\"{class}\"><rect x=\"{}\" y=\"{top}\" width=\"{pill_width}\" \
         height=\"{TAG_HEIGHT}\" rx=\"{}\" fill=\"{fill}\" stroke=\"{stroke}\"/>\
         <text x=\"{x}\" y=\"{}\" font-size=\"{TAG_FONT}\" text-anchor=\"middle\" \
         fill=\"{ink}\">{}</text></g>",
        x - pill_width / 2,
        TAG_HEIGHT / 2,
        top + TAG_HEIGHT / 2 + TAG_FONT / 2 - 1,
        Escaped(text)
    );
}

/// How many width units fit in `px` at `font` size.
fn units_for(px: i32, font: i32, em_milli: i32) -> usize {
    (px.max(0) * 1000 / (font * em_milli)) as usize
}

/// The pixels `units` width units take at `font` size, rounded up.
fn px_for(units: usize, font: i32, em_milli: i32) -> i32 {
    (units as i32 * font * em_milli + 999) / 1000
}

/// Estimated width in units: East Asian wide characters take two.
fn width(text: &str) -> usize {
    text.chars().map(char_units).sum()
}

fn char_units(c: char) -> usize {
    if c == ELLIPSIS {
        ELLIPSIS_UNITS
    } else if is_wide(c) {
        2
    } else {
        1
    }
}

fn is_wide(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3040..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x3FFFD)
}

/// `text` cut to at most `max_units`, ending in an ellipsis when cut.
fn truncate(text: &str, max_units: usize) -> String {
    if width(text) <= max_units {
        return text.to_string();
    }
    let budget = max_units.saturating_sub(ELLIPSIS_UNITS);
    let mut used = 0;
    let mut out = String::new();
    for c in text.chars() {
        used += char_units(c);
        if used > budget {
            break;
        }
        out.push(c);
    }
    let mut out = out.trim_end().to_string();
    out.push(ELLIPSIS);
    out
}

/// `text` broken into at most `max_lines` lines of `max_units`, preferring
/// spaces as break points; the last line takes the rest and is truncated.
fn wrap(text: &str, max_units: usize, max_lines: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if lines.len() + 1 >= max_lines || width(rest) <= max_units {
            lines.push(truncate(rest, max_units));
            break;
        }
        let mut used = 0;
        let mut cut = 0;
        for (i, c) in rest.char_indices() {
            used += char_units(c);
            if used > max_units {
                break;
            }
            cut = i + c.len_utf8();
        }
        if cut == 0 {
            // Even one character is too wide; take it anyway to make progress.
            cut = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let head = &rest[..cut];
        let at_space = rest[cut..].starts_with(' ');
        let brk = match head.rfind(' ') {
            Some(i) if !at_space && i > 0 => i + 1,
            _ => cut,
        };
        lines.push(rest[..brk].trim_end().to_string());
        rest = rest[brk..].trim_start();
    }
    lines
}

/// One line of plain text: control characters (and the non-characters XML
/// forbids) become spaces, and whitespace runs collapse as SVG would show them,
/// so widths are measured on what is drawn.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_control() || is_xml_forbidden(c) || c.is_whitespace() {
            space = !out.is_empty();
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    out
}

fn is_xml_forbidden(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
}

/// Text escaped for XML content and double- or single-quoted attributes,
/// written straight into the drawing; characters XML cannot carry at all
/// are dropped.
struct Escaped<'a>(&'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut rest = self.0;
        while let Some(i) =
            rest.find(|c: char| matches!(c, '&' | '<' | '>' | '"' | '\'') || is_xml_forbidden(c))
        {
            f.write_str(&rest[..i])?;
            let c = rest[i..].chars().next().unwrap_or(' ');
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&apos;")?,
                _ => {}
            }
            rest = &rest[i + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// `Escaped` as a string, for the tests.
#[cfg(test)]
fn escape(text: &str) -> String {
    Escaped(text).to_string()
}

#[cfg(test)]
mod tests {
    use super::super::definition::{Condition, LocalText, Predicate, ProcessKind};
    use super::*;

    /// The room for text in a main-line box.
    const TEXT_WIDTH: i32 = BOX_WIDTH - 2 * PAD_X;

    fn kind_label(kind: NodeKind) -> String {
        format!("K:{}", kind.as_str())
    }

    fn mode_label(mode: &Mode) -> String {
        format!("M:{}", mode.as_str())
    }

    fn handler_label(rule: &HandlerRule) -> String {
        match rule {
            HandlerRule::Users { usernames } => format!("H:{}", usernames.join(",")),
            HandlerRule::Role { role, .. } => format!("H:role {role}"),
            other => format!("H:{other:?}"),
        }
    }

    fn status_label(status: NodeStatus) -> String {
        format!("S:{status:?}")
    }

    fn branch_label(n: usize) -> String {
        format!("B{n}")
    }

    fn labels(zh: bool) -> Labels<'static> {
        Labels {
            zh,
            kind: &kind_label,
            mode: &mode_label,
            handler: &handler_label,
            conditional: "COND",
            status: &status_label,
            parallel: "PAR",
            exclusive: "EXC",
            conditional_branch: "IF",
            default_branch: "ELSE",
            branch: &branch_label,
        }
    }

    fn approval(key: &str, name: &str) -> NodeDef {
        let mut node = NodeDef::new(key, LocalText::new(name, ""), NodeKind::Approval);
        node.handlers = vec![HandlerRule::Role {
            role: "lead".into(),
            in_business: false,
        }];
        node
    }

    /// Submit plus `approvals` approval nodes.
    fn process(approvals: usize) -> ProcessDef {
        let mut def = ProcessDef::new(LocalText::new("Change", "变更"), ProcessKind::Change);
        for i in 0..approvals {
            def.nodes
                .push(approval(&format!("approve_{i}"), &format!("Approve {i}")));
        }
        def
    }

    fn view_height(svg: &str) -> i32 {
        let start = svg.find("viewBox=\"0 0 600 ").expect("a viewBox") + "viewBox=\"0 0 600 ".len();
        let end = start + svg[start..].find('"').expect("a closed viewBox");
        svg[start..end].parse().expect("a numeric height")
    }

    /// The contents of every `<text class="{class}"…>…</text>`.
    fn texts(svg: &str, class: &str) -> Vec<String> {
        let open = format!("<text class=\"{class}\"");
        svg.match_indices(&open)
            .map(|(i, _)| {
                let body = &svg[i..];
                let start = body.find('>').expect("an open tag") + 1;
                let end = body.find("</text>").expect("a close tag");
                body[start..end].to_string()
            })
            .collect()
    }

    /// The `<rect class="node…">` tag of the node with `key`.
    fn node_rect<'s>(svg: &'s str, key: &str) -> &'s str {
        let group = svg
            .find(&format!("data-key=\"{key}\""))
            .expect("the node's group");
        let rect = group + svg[group..].find("<rect").expect("the node's rect");
        let end = rect + svg[rect..].find("/>").expect("a closed rect");
        &svg[rect..end]
    }

    #[test]
    fn the_root_is_an_accessible_svg_named_after_the_process() {
        let svg = render(&process(1), &labels(true), None);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains("viewBox=\"0 0 600 "));
        assert!(svg.contains("width=\"100%\""));
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("aria-label=\"变更\""));
        assert!(svg.contains("<title>变更</title>"));
        assert!(!svg.contains("style="));
        assert!(!svg.contains("<script"));
    }

    #[test]
    fn each_node_gets_one_box_and_each_transition_one_arrow() {
        for approvals in 0..4 {
            let def = process(approvals);
            let svg = render(&def, &labels(false), None);
            assert_eq!(svg.matches("<rect class=\"node").count(), def.nodes.len());
            // Start → first, between each pair, and last → end.
            assert_eq!(
                svg.matches("<path class=\"arrow\"").count(),
                def.nodes.len() + 1
            );
            assert_eq!(svg.matches("<circle class=\"start\"").count(), 1);
            assert_eq!(svg.matches("<g class=\"end\"").count(), 1);
        }
    }

    #[test]
    fn boxes_show_the_name_the_kind_the_mode_and_the_handler_rules() {
        let mut def = process(1);
        def.nodes[1].handlers.push(HandlerRule::Users {
            usernames: vec!["ann".into()],
        });
        let svg = render(&def, &labels(false), None);
        assert_eq!(texts(&svg, "node-name"), ["Submit", "Approve 0"]);
        assert_eq!(texts(&svg, "node-meta"), ["K:submit", "K:approval · M:any"]);
        assert_eq!(texts(&svg, "node-handlers"), ["H:role lead; H:ann"]);
    }

    #[test]
    fn only_approval_nodes_show_a_mode() {
        let mut def = process(0);
        for (i, kind) in [NodeKind::Approval, NodeKind::Task, NodeKind::Review]
            .into_iter()
            .enumerate()
        {
            def.nodes.push(NodeDef::new(
                &format!("n{i}"),
                LocalText::new("N", ""),
                kind,
            ));
        }
        let svg = render(&def, &labels(false), None);
        assert_eq!(svg.matches("M:any").count(), 1);
        assert_eq!(
            texts(&svg, "node-meta"),
            ["K:submit", "K:approval · M:any", "K:task", "K:review"]
        );
    }

    #[test]
    fn names_follow_the_reader_language_and_fall_back_to_english() {
        let mut def = process(1);
        def.nodes[1].name = LocalText::new("Lead approves", "");
        let svg = render(&def, &labels(true), None);
        assert_eq!(texts(&svg, "node-name"), ["提单", "Lead approves"]);
    }

    #[test]
    fn conditional_nodes_are_dashed_and_tagged() {
        let mut def = process(2);
        def.nodes[2].condition = Some(Condition {
            all: vec![Predicate::FieldNotEmpty {
                field: "reason".into(),
            }],
            any: Vec::new(),
        });
        let svg = render(&def, &labels(false), None);
        assert!(node_rect(&svg, "approve_1").contains("stroke-dasharray"));
        assert!(node_rect(&svg, "approve_1").contains("class=\"node conditional\""));
        assert!(!node_rect(&svg, "approve_0").contains("stroke-dasharray"));
        assert_eq!(svg.matches("stroke-dasharray").count(), 1);
        assert_eq!(svg.matches("<g class=\"condition-tag\"").count(), 1);
        assert_eq!(svg.matches(">COND</text>").count(), 1);
    }

    #[test]
    fn hostile_names_and_labels_are_escaped() {
        let hostile = "</text><script>alert('x')</script>&\"";
        let mut def = process(1);
        def.name = LocalText::new(hostile, "");
        def.nodes[1].name = LocalText::new(hostile, "");
        def.nodes[1].key = "k\"><script>".into();
        def.nodes[1].condition = Some(Condition::default());
        let label = |_: NodeKind| hostile.to_string();
        let mode = |_: &Mode| hostile.to_string();
        let handler = |_: &HandlerRule| hostile.to_string();
        let status = |_: NodeStatus| hostile.to_string();
        let branch = |_: usize| hostile.to_string();
        let labels = Labels {
            zh: false,
            kind: &label,
            mode: &mode,
            handler: &handler,
            conditional: hostile,
            status: &status,
            parallel: hostile,
            exclusive: hostile,
            conditional_branch: hostile,
            default_branch: hostile,
            branch: &branch,
        };
        let states = HashMap::from([(
            "submit".to_string(),
            NodeState {
                status: NodeStatus::Done,
                people: vec![hostile.to_string()],
            },
        )]);
        for states in [None, Some(&states)] {
            let svg = render(&def, &labels, states);
            assert!(!svg.contains("<script"), "{svg}");
            assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
            assert!(!svg.contains("'x'"), "{svg}");
            assert!(svg.contains("aria-label=\"&lt;/text&gt;&lt;script&gt;alert(&apos;x&apos;)"));
            assert!(svg.contains("data-key=\"k&quot;&gt;&lt;script&gt;\""));
            assert!(svg.contains("&amp;&quot;"));
        }
    }

    #[test]
    fn control_characters_never_reach_the_document() {
        let mut def = process(1);
        def.nodes[1].name = LocalText::new("a\u{1}b\u{FFFF}c\n\td", "");
        let svg = render(&def, &labels(false), None);
        assert!(!svg.chars().any(|c| c.is_control() || is_xml_forbidden(c)));
        assert_eq!(texts(&svg, "node-name")[1], "a b c d");
        assert_eq!(escape("x\u{0}y"), "xy");
    }

    #[test]
    fn long_chinese_names_are_truncated_counting_each_character_as_two() {
        let mut def = process(1);
        def.nodes[1].name = LocalText::new("x", &"审批".repeat(60));
        let svg = render(&def, &labels(true), None);
        let name = &texts(&svg, "node-name")[1];
        assert!(name.ends_with('…'));
        assert!(name.starts_with("审批审批"));
        let limit = units_for(TEXT_WIDTH, NAME_FONT, BOLD_EM);
        assert!(width(name) <= limit);
        // Half as many CJK characters as Latin ones fit.
        assert!(name.chars().count() <= limit / 2);
    }

    #[test]
    fn long_english_names_are_truncated_at_a_character_boundary() {
        let mut def = process(1);
        def.nodes[1].name = LocalText::new(&"Approve ".repeat(40), "");
        let svg = render(&def, &labels(false), None);
        let name = &texts(&svg, "node-name")[1];
        assert!(name.ends_with('…'));
        assert!(width(name) <= units_for(TEXT_WIDTH, NAME_FONT, BOLD_EM));
        assert!(name.chars().count() > 30);
    }

    #[test]
    fn truncation_leaves_short_text_alone_and_never_exceeds_the_budget() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("审批", 4), "审批");
        assert_eq!(truncate("审批人", 4), "审…");
        assert_eq!(truncate("审批人", 3), "…");
        assert_eq!(truncate("abcdef", 5), "abc…");
        assert_eq!(truncate("ab cdef", 5), "ab…");
        for text in [
            "审批".repeat(50),
            "a".repeat(200),
            "混合 mixed 文本 text ".repeat(20),
        ] {
            for max in [2, 3, 10, 33, 60] {
                let cut = truncate(&text, max);
                assert!(width(&cut) <= max, "{cut} > {max}");
            }
        }
    }

    #[test]
    fn many_handlers_wrap_onto_a_few_lines_and_end_in_an_ellipsis() {
        let mut def = process(1);
        def.nodes[1].handlers = (0..40)
            .map(|i| HandlerRule::Users {
                usernames: vec![format!("user{i:02}")],
            })
            .collect();
        let svg = render(&def, &labels(false), None);
        let lines = texts(&svg, "node-handlers");
        assert_eq!(lines.len(), MAX_DETAIL_LINES);
        let limit = units_for(TEXT_WIDTH, TEXT_FONT, REGULAR_EM);
        assert!(lines.iter().all(|l| width(l) <= limit));
        assert!(lines[0].starts_with("H:user00; H:user01"));
        assert!(lines[2].ends_with('…'));
    }

    #[test]
    fn wrapping_prefers_spaces_and_cjk_breaks_anywhere() {
        assert_eq!(wrap("aaa bbb ccc", 7, 3), ["aaa bbb", "ccc"]);
        assert_eq!(wrap("审批审批审批", 4, 3), ["审批", "审批", "审批"]);
        assert_eq!(wrap("审批审批审批审批", 4, 3), ["审批", "审批", "审…"]);
        assert!(wrap("", 10, 3).is_empty());
    }

    #[test]
    fn the_box_grows_with_its_lines() {
        let mut def = process(2);
        def.nodes[2].handlers = (0..40)
            .map(|i| HandlerRule::Users {
                usernames: vec![format!("user{i:02}")],
            })
            .collect();
        let svg = render(&def, &labels(false), None);
        let height = |key: &str| -> i32 {
            let rect = node_rect(&svg, key);
            let start = rect.find("height=\"").expect("a height") + "height=\"".len();
            let end = start + rect[start..].find('"').expect("a closed height");
            rect[start..end].parse().expect("a number")
        };
        assert!(height("submit") < height("approve_0"));
        assert_eq!(height("approve_0") + 2 * LINE_HEIGHT, height("approve_1"));
    }

    #[test]
    fn states_show_the_status_the_people_and_highlight_the_active_node() {
        let def = process(3);
        let states = HashMap::from([
            (
                "submit".to_string(),
                NodeState {
                    status: NodeStatus::Done,
                    people: vec!["ann".into()],
                },
            ),
            (
                "approve_0".to_string(),
                NodeState {
                    status: NodeStatus::Approved,
                    people: vec!["bob".into(), "cy".into()],
                },
            ),
            (
                "approve_1".to_string(),
                NodeState {
                    status: NodeStatus::Active,
                    people: vec!["dan".into()],
                },
            ),
        ]);
        let svg = render(&def, &labels(false), Some(&states));

        assert!(node_rect(&svg, "submit").contains("class=\"node status-done\""));
        assert!(node_rect(&svg, "approve_0").contains("class=\"node status-approved\""));
        let active = node_rect(&svg, "approve_1");
        assert!(active.contains("class=\"node status-active\""));
        assert!(active.contains("stroke-width=\"3\""));
        assert_eq!(svg.matches("stroke-width=\"3\"").count(), 1);
        assert_eq!(svg.matches("aria-current=\"step\"").count(), 1);
        // A node the ticket has no state for is drawn from the definition.
        assert_eq!(
            node_rect(&svg, "approve_2")
                .matches("class=\"node\"")
                .count(),
            1
        );

        assert_eq!(
            texts(&svg, "node-status"),
            ["S:Done", "S:Approved", "S:Active"]
        );
        assert_eq!(texts(&svg, "node-people"), ["ann", "bob; cy", "dan"]);
        assert_eq!(texts(&svg, "node-handlers"), ["H:role lead"]);
        assert_ne!(
            node_rect(&svg, "approve_0").split("fill=").nth(1),
            node_rect(&svg, "approve_1").split("fill=").nth(1)
        );
    }

    #[test]
    fn every_status_has_its_own_class_and_colour() {
        let all = [
            NodeStatus::Pending,
            NodeStatus::Active,
            NodeStatus::Approved,
            NodeStatus::Rejected,
            NodeStatus::Skipped,
            NodeStatus::Done,
        ];
        let classes: std::collections::HashSet<_> = all.iter().map(|s| s.class()).collect();
        let strokes: std::collections::HashSet<_> =
            all.iter().map(|s| s.palette().stroke).collect();
        assert_eq!(classes.len(), all.len());
        assert_eq!(strokes.len(), all.len());
    }

    #[test]
    fn without_states_no_status_is_drawn() {
        let svg = render(&process(2), &labels(false), None);
        assert!(!svg.contains("status-"));
        assert!(!svg.contains("node-status"));
        assert!(!svg.contains("aria-current"));
    }

    #[test]
    fn a_long_status_leaves_less_room_for_the_name() {
        let mut def = process(1);
        def.nodes[1].name = LocalText::new(&"n".repeat(200), "");
        let long_status = |_: NodeStatus| "s".repeat(100);
        let labels = Labels {
            status: &long_status,
            ..labels(false)
        };
        let states = HashMap::from([(
            "approve_0".to_string(),
            NodeState {
                status: NodeStatus::Active,
                people: Vec::new(),
            },
        )]);
        let plain = render(&def, &labels, None);
        let with_status = render(&def, &labels, Some(&states));
        let status = &texts(&with_status, "node-status")[0];
        assert!(width(status) <= MAX_STATUS_UNITS);
        assert!(
            width(&texts(&with_status, "node-name")[1]) < width(&texts(&plain, "node-name")[1])
        );
    }

    #[test]
    fn the_view_box_grows_with_the_number_of_nodes() {
        let heights: Vec<i32> = (0..5)
            .map(|n| view_height(&render(&process(n), &labels(false), None)))
            .collect();
        assert!(heights.windows(2).all(|w| w[0] < w[1]), "{heights:?}");
        // The end circle sits one margin above the bottom edge.
        let svg = render(&process(4), &labels(false), None);
        let last_end = svg.rfind("<circle").expect("the end circle");
        assert!(
            svg[last_end..].contains(&format!("cy=\"{}\"", heights[4] - MARGIN - TERMINAL_RADIUS))
        );
    }

    #[test]
    fn the_same_input_draws_the_same_string() {
        let mut def = process(3);
        def.nodes[2].condition = Some(Condition::default());
        let entries = [
            ("submit", NodeStatus::Done),
            ("approve_0", NodeStatus::Approved),
            ("approve_1", NodeStatus::Skipped),
            ("approve_2", NodeStatus::Active),
        ];
        let forward: HashMap<String, NodeState> = entries
            .iter()
            .map(|(k, s)| {
                (
                    k.to_string(),
                    NodeState {
                        status: *s,
                        people: vec![k.to_string()],
                    },
                )
            })
            .collect();
        let backward: HashMap<String, NodeState> = entries
            .iter()
            .rev()
            .map(|(k, s)| {
                (
                    k.to_string(),
                    NodeState {
                        status: *s,
                        people: vec![k.to_string()],
                    },
                )
            })
            .collect();
        let first = render(&def, &labels(true), Some(&forward));
        assert_eq!(first, render(&def, &labels(true), Some(&backward)));
        assert_eq!(
            first,
            render(&def.clone(), &labels(true), Some(&forward.clone()))
        );
        assert_eq!(
            render(&def, &labels(false), None),
            render(&def, &labels(false), None)
        );
    }

    // Gateways.

    use super::super::branches::{BranchDef, BranchRef};

    fn gateway(key: &str, kind: GatewayKind, branches: &[(&str, bool)]) -> GatewayDef {
        GatewayDef {
            key: key.into(),
            name: LocalText::new(&format!("Gateway {key}"), ""),
            kind,
            branches: branches
                .iter()
                .map(|(name, conditional)| BranchDef {
                    name: LocalText::new(name, ""),
                    condition: conditional.then(Condition::default),
                })
                .collect(),
        }
    }

    fn in_branch(key: &str, gateway: &str, branch: usize) -> NodeDef {
        let mut node = approval(key, &format!("Step {key}"));
        node.branch = Some(BranchRef {
            gateway: gateway.into(),
            branch,
        });
        node
    }

    /// submit, lead, then a parallel gateway "reviews" (security | dba,
    /// dba2), then implement.
    fn parallel() -> ProcessDef {
        let mut def = process(0);
        def.nodes.extend([
            approval("lead", "Lead"),
            in_branch("security", "reviews", 0),
            in_branch("dba", "reviews", 1),
            in_branch("dba2", "reviews", 1),
            approval("implement", "Implement"),
        ]);
        def.gateways.push(gateway(
            "reviews",
            GatewayKind::Parallel,
            &[("Security", false), ("Data", false)],
        ));
        def
    }

    /// submit, then an exclusive gateway "route" (urgent, if its condition
    /// holds | normal, by default), then done.
    fn exclusive() -> ProcessDef {
        let mut def = process(0);
        def.nodes.extend([
            in_branch("urgent", "route", 0),
            in_branch("normal", "route", 1),
            approval("done", "Done"),
        ]);
        def.gateways.push(gateway(
            "route",
            GatewayKind::Exclusive,
            &[("Urgent", true), ("Normal", false)],
        ));
        def
    }

    /// The number in attribute `name` of `tag`.
    fn attr(tag: &str, name: &str) -> i32 {
        let open = format!(" {name}=\"");
        let start = tag.find(&open).expect("the attribute") + open.len();
        let end = start + tag[start..].find('"').expect("a closed attribute");
        tag[start..end].parse().expect("a number")
    }

    fn view_width(svg: &str) -> i32 {
        let start = svg.find("viewBox=\"0 0 ").expect("a viewBox") + "viewBox=\"0 0 ".len();
        let end = start + svg[start..].find(' ').expect("a height after the width");
        svg[start..end].parse().expect("a numeric width")
    }

    /// The text of every pill `<g class="{class}">…<text …>…</text></g>`.
    fn pills(svg: &str, class: &str) -> Vec<String> {
        let open = format!("<g class=\"{class}\">");
        svg.match_indices(&open)
            .map(|(i, _)| {
                let body = &svg[i..];
                let text = body.find("<text").expect("the pill's text");
                let start = text + body[text..].find('>').expect("an open tag") + 1;
                let end = body.find("</text>").expect("a close tag");
                body[start..end].to_string()
            })
            .collect()
    }

    /// The `<rect>` of a gateway's fork or join bar.
    fn bar<'s>(svg: &'s str, class: &str) -> &'s str {
        let start = svg
            .find(&format!("<rect class=\"{class}\""))
            .expect("the bar");
        let end = start + svg[start..].find("/>").expect("a closed bar");
        &svg[start..end]
    }

    fn state(status: NodeStatus) -> NodeState {
        NodeState {
            status,
            people: vec!["ann".into()],
        }
    }

    /// Every group closed, every node drawn once.
    fn assert_well_formed(svg: &str, def: &ProcessDef) {
        assert!(svg.ends_with("</g></svg>"), "{svg}");
        assert_eq!(svg.matches("<g").count(), svg.matches("</g>").count());
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        assert_eq!(
            svg.matches("<rect class=\"node").count(),
            def.nodes.len(),
            "{svg}"
        );
        for node in &def.nodes {
            assert_eq!(
                svg.matches(&format!("data-key=\"{}\"", escape(&node.key)))
                    .count(),
                1
            );
        }
        assert!(!svg.contains("style="));
    }

    #[test]
    fn a_parallel_gateways_branches_are_drawn_side_by_side() {
        let def = parallel();
        let svg = render(&def, &labels(false), None);
        assert_well_formed(&svg, &def);
        let (security, dba) = (node_rect(&svg, "security"), node_rect(&svg, "dba"));
        assert_eq!(attr(security, "y"), attr(dba, "y"));
        assert!(attr(security, "x") + attr(security, "width") < attr(dba, "x"));
        assert_eq!(attr(security, "width"), attr(dba, "width"));
        assert!(attr(security, "width") < BOX_WIDTH);
        // dba2 stands under dba, in the same column.
        let dba2 = node_rect(&svg, "dba2");
        assert_eq!(attr(dba2, "x"), attr(dba, "x"));
        assert_eq!(attr(dba2, "y"), attr(dba, "y") + attr(dba, "height") + GAP);
        // Main-line nodes keep the full width.
        assert_eq!(attr(node_rect(&svg, "lead"), "width"), BOX_WIDTH);
        assert_eq!(view_width(&svg), VIEW_WIDTH);

        assert_eq!(
            svg.matches("<g class=\"gateway parallel\" data-gateway=\"reviews\">")
                .count(),
            1
        );
        for i in 0..2 {
            assert!(svg.contains(&format!(
                "<g class=\"branch\" data-gateway=\"reviews\" data-branch=\"{i}\">"
            )));
        }
        assert!(svg.contains("<rect class=\"fork\""));
        assert!(svg.contains("<rect class=\"join\""));
        assert_eq!(texts(&svg, "gateway-name"), ["Gateway reviews"]);
        assert_eq!(texts(&svg, "gateway-kind"), ["PAR"]);
        assert_eq!(pills(&svg, "branch-label"), ["Security", "Data"]);
        assert!(pills(&svg, "branch-condition").is_empty());
        assert!(pills(&svg, "branch-default").is_empty());
        // Main line: start → submit → lead → fork, join → implement → end;
        // in the branches: fork → security, fork → dba → dba2; each
        // branch then runs on to the join.
        assert_eq!(svg.matches("<path class=\"arrow\"").count(), 5 + 3);
        assert_eq!(svg.matches("<path class=\"branch-line\"").count(), 2);
    }

    #[test]
    fn the_node_after_a_gateway_is_drawn_below_its_tallest_branch() {
        let def = parallel();
        let svg = render(&def, &labels(false), None);
        let bottom = |key: &str| {
            let rect = node_rect(&svg, key);
            attr(rect, "y") + attr(rect, "height")
        };
        let join = attr(bar(&svg, "join"), "y");
        assert!(join > bottom("dba2"));
        assert!(bottom("dba2") > bottom("security"));
        assert_eq!(attr(node_rect(&svg, "implement"), "y"), join + BAR + GAP);
        // The shorter branch's line runs down to the join.
        let security = &svg[svg.find("data-branch=\"0\"").unwrap()..];
        let line = &security[security.find("<path class=\"branch-line\"").unwrap()..];
        assert!(line.contains(&format!("V{}\"", join + BAR / 2)));
        assert!(line.contains(&format!(" {}V", bottom("security"))));
    }

    #[test]
    fn a_gateway_is_as_wide_as_the_main_line_and_centred_on_it() {
        let def = parallel();
        let svg = render(&def, &labels(false), None);
        let lead = node_rect(&svg, "lead");
        let (security, dba) = (node_rect(&svg, "security"), node_rect(&svg, "dba"));
        assert_eq!(attr(security, "x"), attr(lead, "x"));
        assert_eq!(
            attr(dba, "x") + attr(dba, "width"),
            attr(lead, "x") + attr(lead, "width")
        );
    }

    #[test]
    fn an_exclusive_gateway_shows_its_branch_conditions_and_default() {
        let def = exclusive();
        let svg = render(&def, &labels(false), None);
        assert_well_formed(&svg, &def);
        assert!(svg.contains("<g class=\"gateway exclusive\" data-gateway=\"route\">"));
        assert!(svg.contains("<g class=\"fork\"><path"));
        assert!(svg.contains("<g class=\"join\"><path"));
        assert!(!svg.contains("<rect class=\"fork\""));
        assert_eq!(texts(&svg, "gateway-kind"), ["EXC"]);
        assert_eq!(pills(&svg, "branch-label"), ["Urgent", "Normal"]);
        assert_eq!(pills(&svg, "branch-condition"), ["IF"]);
        assert_eq!(pills(&svg, "branch-default"), ["ELSE"]);
        let (urgent, normal) = (node_rect(&svg, "urgent"), node_rect(&svg, "normal"));
        assert_eq!(attr(urgent, "y"), attr(normal, "y"));
        assert!(attr(urgent, "x") < attr(normal, "x"));
        // The nodes stand below both rows of labels.
        let label_top = |class: &str| {
            let at = svg.find(&format!("<g class=\"{class}\"><rect")).unwrap();
            attr(&svg[at + 3..], "y") + TAG_HEIGHT
        };
        assert!(label_top("branch-default") < attr(normal, "y"));
        assert!(label_top("branch-label") < label_top("branch-default"));
    }

    #[test]
    fn branches_without_names_are_numbered_when_others_are_named_and_unlabelled_otherwise() {
        let mut def = parallel();
        def.gateways[0].branches[1].name = LocalText::default();
        let svg = render(&def, &labels(false), None);
        assert_eq!(pills(&svg, "branch-label"), ["Security", "B2"]);

        def.gateways[0].branches[0].name = LocalText::default();
        let unnamed = render(&def, &labels(false), None);
        assert!(pills(&unnamed, "branch-label").is_empty());
        // Without a row of labels the branches start one arrow below the fork.
        assert_eq!(
            attr(node_rect(&unnamed, "security"), "y"),
            attr(bar(&unnamed, "fork"), "y") + BAR + GAP
        );
    }

    #[test]
    fn branch_names_follow_the_reader_language() {
        let mut def = parallel();
        def.gateways[0].name = LocalText::new("Reviews", "评审");
        def.gateways[0].branches[0].name = LocalText::new("Security", "安全");
        let svg = render(&def, &labels(true), None);
        assert_eq!(texts(&svg, "gateway-name"), ["评审"]);
        assert_eq!(pills(&svg, "branch-label"), ["安全", "Data"]);
    }

    #[test]
    fn live_states_show_two_branches_active_at_once() {
        let def = parallel();
        let states = HashMap::from([
            ("submit".to_string(), state(NodeStatus::Done)),
            ("lead".to_string(), state(NodeStatus::Approved)),
            ("security".to_string(), state(NodeStatus::Active)),
            ("dba".to_string(), state(NodeStatus::Active)),
            ("dba2".to_string(), state(NodeStatus::Pending)),
            ("implement".to_string(), state(NodeStatus::Pending)),
        ]);
        let svg = render(&def, &labels(false), Some(&states));
        assert_well_formed(&svg, &def);
        assert_eq!(svg.matches("aria-current=\"step\"").count(), 2);
        for key in ["security", "dba"] {
            assert!(node_rect(&svg, key).contains("class=\"node status-active\""));
            assert!(node_rect(&svg, key).contains("stroke-width=\"3\""));
        }
        assert!(node_rect(&svg, "dba2").contains("class=\"node status-pending\""));
        assert_eq!(
            texts(&svg, "node-status"),
            [
                "S:Done",
                "S:Approved",
                "S:Active",
                "S:Active",
                "S:Pending",
                "S:Pending"
            ]
        );
        assert!(!svg.contains("not-taken"));
    }

    #[test]
    fn the_branch_an_exclusive_gateway_did_not_take_shows_its_nodes_skipped() {
        let def = exclusive();
        let states = HashMap::from([
            ("submit".to_string(), state(NodeStatus::Done)),
            ("urgent".to_string(), state(NodeStatus::Skipped)),
            ("normal".to_string(), state(NodeStatus::Active)),
        ]);
        let svg = render(&def, &labels(false), Some(&states));
        assert!(node_rect(&svg, "urgent").contains("class=\"node status-skipped\""));
        assert!(node_rect(&svg, "normal").contains("class=\"node status-active\""));
        assert!(
            svg.contains("<g class=\"branch not-taken\" data-gateway=\"route\" data-branch=\"0\">")
        );
        assert!(svg.contains("<g class=\"branch\" data-gateway=\"route\" data-branch=\"1\">"));
        let urgent =
            &svg[svg.find("data-branch=\"0\"").unwrap()..svg.find("data-branch=\"1\"").unwrap()];
        assert!(urgent.contains("stroke-dasharray=\"4 4\""));
    }

    #[test]
    fn in_a_narrow_column_a_name_too_long_to_share_its_line_puts_the_status_under_it() {
        let mut def = process(0);
        def.nodes
            .extend((0..3).map(|i| in_branch(&format!("n{i}"), "g", i)));
        def.nodes[2].name = LocalText::new("N", "");
        def.gateways.push(gateway(
            "g",
            GatewayKind::Parallel,
            &[("A", false), ("B", false), ("C", false)],
        ));
        let states = HashMap::from([
            ("n0".to_string(), state(NodeStatus::Approved)),
            ("n1".to_string(), state(NodeStatus::Approved)),
        ]);
        let svg = render(&def, &labels(false), Some(&states));
        let (n0, n1) = (node_rect(&svg, "n0"), node_rect(&svg, "n1"));
        assert_eq!(attr(n0, "height"), attr(n1, "height") + LINE_HEIGHT);
        let statuses: Vec<&str> = svg
            .match_indices("<text class=\"node-status\"")
            .map(|(i, _)| &svg[i..i + svg[i..].find('>').unwrap()])
            .collect();
        assert_eq!(statuses.len(), 2);
        assert!(statuses[0].contains("text-anchor=\"start\""));
        assert_eq!(attr(statuses[0], "x"), attr(n0, "x") + PAD_X);
        assert!(attr(statuses[0], "y") > attr(n0, "y") + NAME_BASELINE);
        assert_eq!(texts(&svg, "node-name")[1], "Step n0");
        // A short name keeps the status beside it.
        assert!(statuses[1].contains("text-anchor=\"end\""));
        assert_eq!(attr(statuses[1], "y"), attr(n1, "y") + NAME_BASELINE);
    }

    #[test]
    fn many_branches_widen_the_drawing_and_texts_are_cut_to_their_column() {
        let count = 6;
        let mut def = process(1);
        for i in 0..count {
            let mut node = in_branch(&format!("n{i}"), "g", i);
            node.name = LocalText::new(&"Approve ".repeat(10), "");
            node.condition = Some(Condition::default());
            node.handlers = (0..10)
                .map(|u| HandlerRule::Users {
                    usernames: vec![format!("user{u:02}")],
                })
                .collect();
            def.nodes.push(node);
        }
        let mut g = gateway("g", GatewayKind::Exclusive, &[]);
        g.name = LocalText::new(&"Route ".repeat(40), "");
        g.branches = (0..count)
            .map(|i| BranchDef {
                name: LocalText::new(&"Branch name ".repeat(10), ""),
                condition: (i + 1 < count).then(Condition::default),
            })
            .collect();
        def.gateways.push(g);
        let long = |_: NodeStatus| "s".repeat(100);
        let labels = Labels {
            status: &long,
            exclusive: "exclusive gateway, which takes exactly one of its branches",
            ..labels(false)
        };
        let states: HashMap<String, NodeState> = (0..count)
            .map(|i| (format!("n{i}"), state(NodeStatus::Pending)))
            .collect();
        for states in [None, Some(&states)] {
            let svg = render(&def, &labels, states);
            assert_well_formed(&svg, &def);
            let view = view_width(&svg);
            assert!(view > VIEW_WIDTH);
            let rects: Vec<&str> = (0..count)
                .map(|i| node_rect(&svg, &format!("n{i}")))
                .collect();
            let column = attr(rects[0], "width");
            assert!(column >= MIN_COLUMN_WIDTH);
            assert!(attr(rects[0], "x") >= 0);
            assert!(attr(rects[count - 1], "x") + column <= view);
            assert!(rects.windows(2).all(|w| attr(w[0], "y") == attr(w[1], "y")));
            // The main line stays centred.
            let approve = node_rect(&svg, "approve_0");
            assert_eq!(2 * attr(approve, "x") + BOX_WIDTH, view);

            let text = column - 2 * PAD_X;
            for name in &texts(&svg, "node-name")[2..] {
                assert!(name.ends_with('…'));
                assert!(width(name) <= units_for(text, NAME_FONT, BOLD_EM), "{name}");
            }
            for line in texts(&svg, "node-handlers") {
                assert!(width(&line) <= units_for(text, TEXT_FONT, REGULAR_EM));
            }
            for status in texts(&svg, "node-status") {
                assert!(width(&status) <= units_for(text, STATUS_FONT, BOLD_EM));
            }
            let pill = units_for(column - 2 * TAG_PAD, TAG_FONT, REGULAR_EM);
            let names = pills(&svg, "branch-label");
            assert_eq!(names.len(), count);
            assert!(names.iter().all(|l| l.ends_with('…') && width(l) <= pill));
            assert_eq!(pills(&svg, "branch-condition").len(), count - 1);
            assert_eq!(pills(&svg, "branch-default").len(), 1);
            let tag = units_for(text - 2 * TAG_PAD, TAG_FONT, REGULAR_EM);
            assert_eq!(svg.matches("<g class=\"condition-tag\"").count(), count);
            let half = (view - 2 * BOX_X) / 2 - ARROW_CLEAR;
            let name = &texts(&svg, "gateway-name")[0];
            assert!(name.ends_with('…') && width(name) <= units_for(half, TEXT_FONT, BOLD_EM));
            let kind = &texts(&svg, "gateway-kind")[0];
            assert!(width(kind) <= units_for(half, STATUS_FONT, REGULAR_EM));
            assert!(tag >= width("COND"));
        }
    }

    #[test]
    fn a_gateway_without_nodes_is_drawn_after_the_last_node_with_empty_branches() {
        let mut def = process(1);
        def.gateways.push(gateway(
            "new",
            GatewayKind::Parallel,
            &[("A", false), ("B", false)],
        ));
        let svg = render(&def, &labels(false), None);
        assert_well_formed(&svg, &def);
        let block = svg.find("data-gateway=\"new\"").expect("the gateway");
        assert!(block > svg.find("data-key=\"approve_0\"").unwrap());
        assert_eq!(svg.matches("<path class=\"branch-line\"").count(), 2);
        // Start → submit → approve_0 → fork, join → end.
        assert_eq!(svg.matches("<path class=\"arrow\"").count(), 4);
        assert_eq!(pills(&svg, "branch-label"), ["A", "B"]);
    }

    #[test]
    fn a_gateway_whose_nodes_stand_apart_draws_them_one_below_the_other() {
        let mut def = parallel();
        // dba2 moved after implement.
        let dba2 = def.nodes.remove(4);
        def.nodes.push(dba2);
        let svg = render(&def, &labels(false), None);
        assert_well_formed(&svg, &def);
        assert!(!svg.contains("data-gateway"));
        let ys: Vec<i32> = ["lead", "security", "dba", "implement", "dba2"]
            .iter()
            .map(|k| attr(node_rect(&svg, k), "y"))
            .collect();
        assert!(ys.windows(2).all(|w| w[0] < w[1]), "{ys:?}");
        assert!(
            ["security", "dba", "dba2"]
                .iter()
                .all(|k| attr(node_rect(&svg, k), "width") == BOX_WIDTH)
        );
    }

    #[test]
    fn invalid_drafts_draw_without_panicking() {
        let mut drafts = Vec::new();
        // Branches out of order.
        let mut def = parallel();
        def.nodes.swap(2, 3);
        drafts.push(def);
        // A node in a branch the gateway does not have, or of a gateway
        // that does not exist.
        let mut def = parallel();
        def.nodes[3].branch.as_mut().unwrap().branch = 7;
        def.nodes[5].branch = Some(BranchRef {
            gateway: "nowhere".into(),
            branch: 0,
        });
        drafts.push(def);
        // A gateway without branches, with and without nodes.
        let mut def = parallel();
        def.gateways[0].branches.clear();
        def.gateways
            .push(gateway("bare", GatewayKind::Exclusive, &[]));
        drafts.push(def);
        // Two gateways with one key; a gateway whose branch has no nodes.
        let mut def = parallel();
        def.gateways
            .push(gateway("reviews", GatewayKind::Exclusive, &[("X", true)]));
        def.gateways[0].branches.push(BranchDef::default());
        drafts.push(def);
        // Every node in one branch, even submit; nothing named.
        let mut def = parallel();
        for node in &mut def.nodes {
            node.branch = Some(BranchRef {
                gateway: "reviews".into(),
                branch: 0,
            });
        }
        def.gateways[0].name = LocalText::default();
        drafts.push(def);
        // No nodes at all.
        let mut def = parallel();
        def.nodes.clear();
        drafts.push(def);

        let states: HashMap<String, NodeState> = parallel()
            .nodes
            .iter()
            .map(|n| (n.key.clone(), state(NodeStatus::Active)))
            .collect();
        for def in &drafts {
            for states in [None, Some(&states)] {
                let svg = render(def, &labels(false), states);
                assert_well_formed(&svg, def);
            }
        }
        // A gateway with no branches draws one empty column.
        let svg = render(&drafts[2], &labels(false), None);
        assert!(svg.contains("data-gateway=\"bare\" data-branch=\"0\""));
        // A gateway with no name shows its key.
        let svg = render(&drafts[4], &labels(false), None);
        assert_eq!(texts(&svg, "gateway-name"), ["reviews"]);
    }

    #[test]
    fn hostile_gateway_keys_names_and_labels_are_escaped() {
        let hostile = "</text><script>alert('x')</script>&\"";
        let mut def = exclusive();
        def.gateways[0].key = hostile.into();
        def.gateways[0].name = LocalText::new(hostile, "");
        def.gateways[0].branches[0].name = LocalText::new(hostile, "");
        for node in &mut def.nodes {
            if let Some(at) = &mut node.branch {
                at.gateway = hostile.into();
            }
        }
        let branch = |_: usize| hostile.to_string();
        let labels = Labels {
            exclusive: hostile,
            conditional_branch: hostile,
            default_branch: hostile,
            branch: &branch,
            ..labels(false)
        };
        let svg = render(&def, &labels, None);
        assert!(!svg.contains("<script"), "{svg}");
        assert!(!svg.contains("'x'"), "{svg}");
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        assert!(svg.contains("data-gateway=\"&lt;/text&gt;&lt;script&gt;"));
        assert_eq!(svg.matches("data-branch=").count(), 2);
    }

    #[test]
    fn drawing_a_gateway_is_deterministic() {
        let def = parallel();
        assert_eq!(
            render(&def, &labels(true), None),
            render(&def.clone(), &labels(true), None)
        );
    }

    mod any_draft {
        use super::*;
        use proptest::prelude::*;

        fn draft() -> impl Strategy<Value = ProcessDef> {
            let places = prop::collection::vec(prop::option::of((0..3usize, 0..4usize)), 0..9);
            let gateways = prop::collection::vec((any::<bool>(), 0..4usize), 0..3);
            (places, gateways).prop_map(|(places, gateways)| {
                let mut def = process(0);
                for (i, place) in places.into_iter().enumerate() {
                    let mut node = approval(&format!("n{i}"), "N");
                    node.branch = place.map(|(g, b)| BranchRef {
                        gateway: format!("g{g}"),
                        branch: b,
                    });
                    def.nodes.push(node);
                }
                for (i, (exclusive, branches)) in gateways.into_iter().enumerate() {
                    let kind = if exclusive {
                        GatewayKind::Exclusive
                    } else {
                        GatewayKind::Parallel
                    };
                    let names: Vec<(&str, bool)> =
                        (0..branches).map(|b| ("", b % 2 == 0)).collect();
                    def.gateways.push(gateway(&format!("g{i}"), kind, &names));
                }
                def
            })
        }

        proptest! {
            #[test]
            fn any_draft_draws_every_node_once_in_closed_groups(def in draft(), tidy in any::<bool>()) {
                let mut def = def;
                if tidy {
                    def.tidy_branches();
                }
                let svg = render(&def, &labels(false), None);
                assert_well_formed(&svg, &def);
            }
        }
    }
}
