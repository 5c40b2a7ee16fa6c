//! Bar and line charts drawn on the server as SVG, pure: no script, every
//! text escaped, a title and description for screen readers
//! (`role="img"` labelled by `<title>` and `<desc>`), axis labels and a
//! legend. The words come in already in the reader's language; the page
//! puts the numbers beside each chart as a table too.

use std::fmt::Write;

/// One line, or one bar of each group.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    /// One value per label; `None` draws nothing there (no data).
    pub values: Vec<Option<f64>>,
}

/// What a chart shows.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Unique on the page (the `<title>` and `<desc>` ids derive from it).
    pub id: String,
    pub title: String,
    pub desc: String,
    /// The y axis' name (its unit).
    pub y_label: String,
    /// The x axis' labels, one per value.
    pub labels: Vec<String>,
    pub series: Vec<Series>,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 52.0;
const BOTTOM: f64 = 44.0;
const TICKS: usize = 4;
/// Colour-blind-safe (Okabe–Ito).
const COLOURS: [&str; 6] = [
    "#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9",
];

/// Escapes text for SVG (XML) content and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The smallest "nice" number (1, 2 or 5 times a power of ten) at least `v`.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(v.log10().floor());
    for step in [1.0, 2.0, 5.0, 10.0] {
        if step * power >= v - f64::EPSILON * v {
            return step * power;
        }
    }
    10.0 * power
}

/// A tick's number: at most two decimals, no trailing zeros.
pub fn number(v: f64) -> String {
    let text = format!("{v:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn x_of(i: usize, n: usize) -> f64 {
    let plot = WIDTH - LEFT - RIGHT;
    LEFT + plot * (i as f64 + 0.5) / n.max(1) as f64
}

fn y_of(v: f64, max: f64) -> f64 {
    let plot = HEIGHT - TOP - BOTTOM;
    TOP + plot * (1.0 - v / max)
}

/// The frame every chart shares: title, description, legend, axes, grid
/// and labels; `marks` draws the data given the y axis' top.
fn frame(chart: &Chart, marks: impl FnOnce(&mut String, f64)) -> String {
    let id = escape(&chart.id);
    let max = nice_ceiling(
        chart
            .series
            .iter()
            .flat_map(|s| s.values.iter().flatten())
            .fold(0.0, |m: f64, v| m.max(*v)),
    );
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}-title {id}-desc"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        escape(&chart.title),
        escape(&chart.desc),
    );
    let _ = write!(
        svg,
        r#"<text x="{LEFT}" y="18" class="chart-title" font-weight="bold">{}</text>"#,
        escape(&chart.title)
    );
    // Legend, one swatch per series, left to right under the title.
    let mut x = LEFT;
    for (i, s) in chart.series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let _ = write!(
            svg,
            r#"<rect x="{x}" y="28" width="10" height="10" fill="{colour}"/><text x="{}" y="37" font-size="11">{}</text>"#,
            x + 14.0,
            escape(&s.name)
        );
        x += 24.0 + 7.0 * s.name.chars().count() as f64;
    }
    // Grid and y ticks.
    for t in 0..=TICKS {
        let v = max * t as f64 / TICKS as f64;
        let y = y_of(v, max);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            number(v)
        );
    }
    // The y axis' name, turned.
    let _ = write!(
        svg,
        r#"<text transform="translate(14 {:.1}) rotate(-90)" font-size="11" text-anchor="middle">{}</text>"#,
        TOP + (HEIGHT - TOP - BOTTOM) / 2.0,
        escape(&chart.y_label)
    );
    // X labels, thinned to about twelve.
    let n = chart.labels.len();
    let every = n.div_ceil(12).max(1);
    for (i, label) in chart.labels.iter().enumerate() {
        if i % every == 0 {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{}" font-size="11" text-anchor="middle">{}</text>"#,
                x_of(i, n),
                HEIGHT - BOTTOM + 16.0,
                escape(label)
            );
        }
    }
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" x2="{}" y1="{}" y2="{}" stroke="#555"/>"##,
        WIDTH - RIGHT,
        HEIGHT - BOTTOM,
        HEIGHT - BOTTOM
    );
    marks(&mut svg, max);
    svg.push_str("</svg>");
    svg
}

/// Grouped bars: one group per label, a bar per series.
pub fn bars(chart: &Chart) -> String {
    frame(chart, |svg, max| {
        let n = chart.labels.len().max(1);
        let slot = (WIDTH - LEFT - RIGHT) / n as f64;
        let k = chart.series.len().max(1);
        let width = (slot * 0.8 / k as f64).max(1.0);
        for (j, s) in chart.series.iter().enumerate() {
            let colour = COLOURS[j % COLOURS.len()];
            for (i, v) in s.values.iter().enumerate() {
                let Some(v) = v else { continue };
                let x = x_of(i, n) - slot * 0.4 + width * j as f64;
                let y = y_of(*v, max);
                let _ = write!(
                    svg,
                    r#"<rect x="{x:.1}" y="{y:.1}" width="{width:.1}" height="{:.1}" fill="{colour}"><title>{}: {}</title></rect>"#,
                    (HEIGHT - BOTTOM - y).max(0.0),
                    escape(&format!(
                        "{} {}",
                        s.name,
                        chart.labels.get(i).map_or("", |l| l)
                    )),
                    number(*v)
                );
            }
        }
    })
}

/// Lines: one per series, a dot at each value, broken where there is none.
pub fn lines(chart: &Chart) -> String {
    frame(chart, |svg, max| {
        let n = chart.labels.len();
        for (j, s) in chart.series.iter().enumerate() {
            let colour = COLOURS[j % COLOURS.len()];
            let mut path = String::new();
            let mut pen_down = false;
            for (i, v) in s.values.iter().enumerate() {
                match v {
                    Some(v) => {
                        let _ = write!(
                            path,
                            "{}{:.1} {:.1} ",
                            if pen_down { "L" } else { "M" },
                            x_of(i, n),
                            y_of(*v, max)
                        );
                        pen_down = true;
                    }
                    None => pen_down = false,
                }
            }
            if !path.is_empty() {
                let _ = write!(
                    svg,
                    r#"<path d="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
                    path.trim_end()
                );
            }
            for (i, v) in s.values.iter().enumerate() {
                let Some(v) = v else { continue };
                let _ = write!(
                    svg,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"><title>{}: {}</title></circle>"#,
                    x_of(i, n),
                    y_of(*v, max),
                    escape(&format!(
                        "{} {}",
                        s.name,
                        chart.labels.get(i).map_or("", |l| l)
                    )),
                    number(*v)
                );
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(values: Vec<Option<f64>>) -> Chart {
        Chart {
            id: "c1".into(),
            title: "Volume <&> \"filed\"".into(),
            desc: "受理量".into(),
            y_label: "tickets".into(),
            labels: (0..values.len()).map(|i| format!("W{i}")).collect(),
            series: vec![Series {
                name: "<script>".into(),
                values,
            }],
        }
    }

    #[test]
    fn text_is_escaped_and_the_chart_is_labelled_for_screen_readers() {
        for svg in [
            bars(&chart(vec![Some(1.0), Some(3.0)])),
            lines(&chart(vec![Some(1.0), None, Some(3.0)])),
        ] {
            assert!(svg.starts_with("<svg"), "{svg}");
            assert!(svg.ends_with("</svg>"));
            assert!(!svg.contains("<script>"));
            assert!(svg.contains("&lt;script&gt;"));
            assert!(svg.contains(r#"aria-labelledby="c1-title c1-desc""#));
            assert!(svg.contains(
                r#"<title id="c1-title">Volume &lt;&amp;&gt; &quot;filed&quot;</title>"#
            ));
            assert!(svg.contains(r#"<desc id="c1-desc">受理量</desc>"#));
            assert!(svg.contains(">tickets</text>"));
            assert!(svg.contains(">W0</text>"));
        }
    }

    #[test]
    fn the_y_axis_ends_at_a_round_number_above_the_largest_value() {
        assert_eq!(nice_ceiling(3.0), 5.0);
        assert_eq!(nice_ceiling(10.0), 10.0);
        assert_eq!(nice_ceiling(0.37), 0.5);
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(number(2.50), "2.5");
        assert_eq!(number(3.0), "3");
        let svg = bars(&chart(vec![Some(3.0)]));
        assert!(svg.contains(">5</text>"), "{svg}");
    }

    #[test]
    fn no_data_draws_an_empty_frame() {
        let svg = lines(&chart(vec![]));
        assert!(!svg.contains("<path"));
        // Only the legend's swatch: no bar (bars carry a title each).
        let svg = bars(&chart(vec![None, None]));
        assert_eq!(svg.matches("<rect").count(), 1);
        assert!(!svg.contains("</rect>"));
    }

    #[test]
    fn a_line_breaks_where_a_value_is_missing() {
        let svg = lines(&chart(vec![Some(1.0), None, Some(2.0)]));
        let d = svg.split("<path d=\"").nth(1).unwrap();
        assert_eq!(d.split('"').next().unwrap().matches('M').count(), 2);
    }
}
