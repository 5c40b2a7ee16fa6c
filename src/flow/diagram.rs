//! The process diagram: a process (and, for a ticket, each node's status and
//! people) drawn top to bottom as a self-contained SVG string.
//!
//! Everything is drawn with presentation attributes and classes, never
//! `style=` or script, so the page's Content-Security-Policy stays strict and
//! CSS can still theme the drawing. All words come from the caller's labels.

use std::collections::HashMap;
use std::fmt::Write;

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

const VIEW_WIDTH: i32 = 600;
const BOX_WIDTH: i32 = 520;
const BOX_X: i32 = (VIEW_WIDTH - BOX_WIDTH) / 2;
const CENTER_X: i32 = VIEW_WIDTH / 2;
const PAD_X: i32 = 16;
const TEXT_WIDTH: i32 = BOX_WIDTH - 2 * PAD_X;
const MARGIN: i32 = 12;
const TERMINAL_RADIUS: i32 = 10;
/// Room for an arrow, and for a condition tag that straddles the box's top edge.
const GAP: i32 = 40;
const RADIUS: i32 = 10;

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
    let boxes: Vec<NodeBox> = def
        .nodes
        .iter()
        .map(|node| NodeBox::new(node, labels, states.and_then(|s| s.get(&node.key))))
        .collect();

    let boxes_height: i32 = boxes.iter().map(|b| b.height + GAP).sum();
    let height = 2 * MARGIN + 4 * TERMINAL_RADIUS + GAP + boxes_height;
    let title = clean(def.name.text(labels.zh));
    let title = Escaped(&title);

    let mut out = String::with_capacity(1024 + boxes.len() * 1024);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"flow-diagram\" \
         viewBox=\"0 0 {VIEW_WIDTH} {height}\" width=\"100%\" role=\"img\" \
         aria-label=\"{title}\" font-family=\"system-ui, sans-serif\">"
    );
    let _ = write!(out, "<title>{title}</title>");

    let mut y = MARGIN;
    let _ = write!(
        out,
        "<circle class=\"start\" cx=\"{CENTER_X}\" cy=\"{}\" r=\"{TERMINAL_RADIUS}\" \
         fill=\"#607d8b\"/>",
        y + TERMINAL_RADIUS
    );
    y += 2 * TERMINAL_RADIUS;

    for node_box in &boxes {
        push_arrow(&mut out, y, y + GAP);
        y += GAP;
        node_box.draw(&mut out, y);
        y += node_box.height;
    }

    push_arrow(&mut out, y, y + GAP);
    y += GAP;
    let cy = y + TERMINAL_RADIUS;
    let _ = write!(
        out,
        "<g class=\"end\"><circle cx=\"{CENTER_X}\" cy=\"{cy}\" r=\"{TERMINAL_RADIUS}\" \
         fill=\"#ffffff\" stroke=\"#607d8b\" stroke-width=\"2\"/>\
         <circle cx=\"{CENTER_X}\" cy=\"{cy}\" r=\"{}\" fill=\"#607d8b\"/></g>",
        TERMINAL_RADIUS - 4
    );
    out.push_str("</svg>");
    out
}

/// One node's texts, already cleaned and cut to fit, and the height they need.
struct NodeBox<'d> {
    node: &'d NodeDef,
    status: Option<NodeStatus>,
    name: String,
    status_text: Option<String>,
    meta: String,
    details: Vec<String>,
    tag: Option<String>,
    height: i32,
}

impl<'d> NodeBox<'d> {
    fn new(node: &'d NodeDef, labels: &Labels, state: Option<&NodeState>) -> NodeBox<'d> {
        let text_units = units_for(TEXT_WIDTH, TEXT_FONT, REGULAR_EM);

        let status_text = state
            .map(|s| truncate(&clean(&(labels.status)(s.status)), MAX_STATUS_UNITS))
            .filter(|t| !t.is_empty());
        // The status sits at the right end of the name line, so the name gets
        // what it leaves.
        let name_px = match &status_text {
            Some(t) => TEXT_WIDTH - px_for(width(t), STATUS_FONT, BOLD_EM) - PAD_X,
            None => TEXT_WIDTH,
        };
        let name = truncate(
            &clean(node.name.text(labels.zh)),
            units_for(name_px, NAME_FONT, BOLD_EM),
        );

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

        let tag = node
            .condition
            .as_ref()
            .map(|_| truncate(&clean(labels.conditional), MAX_TAG_UNITS));

        let height = META_BASELINE + LINE_HEIGHT * details.len() as i32 + BOTTOM_PAD;
        NodeBox {
            node,
            status: state.map(|s| s.status),
            name,
            status_text,
            meta,
            details,
            tag,
            height,
        }
    }

    fn draw(&self, out: &mut String, top: i32) {
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
            "<rect class=\"{class}\" x=\"{BOX_X}\" y=\"{top}\" width=\"{BOX_WIDTH}\" \
             height=\"{}\" rx=\"{RADIUS}\" fill=\"{}\" stroke=\"{}\" \
             stroke-width=\"{stroke_width}\"{dash}/>",
            self.height, palette.fill, palette.stroke
        );

        let left = BOX_X + PAD_X;
        let right = BOX_X + BOX_WIDTH - PAD_X;
        let _ = write!(
            out,
            "<text class=\"node-name\" x=\"{left}\" y=\"{}\" font-size=\"{NAME_FONT}\" \
             font-weight=\"bold\" fill=\"#212121\">{}</text>",
            top + NAME_BASELINE,
            Escaped(&self.name)
        );
        if let Some(text) = &self.status_text {
            let _ = write!(
                out,
                "<text class=\"node-status\" x=\"{right}\" y=\"{}\" font-size=\"{STATUS_FONT}\" \
                 font-weight=\"bold\" text-anchor=\"end\" fill=\"{}\">{}</text>",
                top + NAME_BASELINE,
                palette.stroke,
                Escaped(text)
            );
        }
        if !self.meta.is_empty() {
            let _ = write!(
                out,
                "<text class=\"node-meta\" x=\"{left}\" y=\"{}\" font-size=\"{TEXT_FONT}\" \
                 fill=\"#546e7a\">{}</text>",
                top + META_BASELINE,
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
                top + META_BASELINE + LINE_HEIGHT * (i as i32 + 1),
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

/// A vertical arrow whose shaft and head are one path, so each transition is
/// exactly one element, and no marker ids can clash between diagrams that
/// share a page.
fn push_arrow(out: &mut String, from: i32, to: i32) {
    let tip = to - 1;
    let _ = write!(
        out,
        "<path class=\"arrow\" d=\"M{CENTER_X} {from}V{tip}M{} {}L{CENTER_X} {tip}L{} {}\" \
         fill=\"none\" stroke=\"#90a4ae\" stroke-width=\"1.5\"/>",
        CENTER_X - 5,
        tip - 7,
        CENTER_X + 5,
        tip - 7
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

    fn labels(zh: bool) -> Labels<'static> {
        Labels {
            zh,
            kind: &kind_label,
            mode: &mode_label,
            handler: &handler_label,
            conditional: "COND",
            status: &status_label,
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
        let labels = Labels {
            zh: false,
            kind: &label,
            mode: &mode,
            handler: &handler,
            conditional: hostile,
            status: &status,
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
}
