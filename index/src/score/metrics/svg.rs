//! The reliability diagram as a self-contained SVG image, for `marketlounge score backtest --svg`.

use std::fmt::Write;

use super::ReliabilityBin;

/// Side of the square SVG image, in pixels.
const SVG_SIZE: f64 = 480.0;
/// Plot area: left, top, side.
const PLOT_LEFT: f64 = 72.0;
const PLOT_TOP: f64 = 60.0;
const PLOT_SIDE: f64 = 360.0;
/// Height of the tallest bar of the count strip.
const BAR_HEIGHT: f64 = 54.0;

/// A self-contained SVG image (no scripts, no external references) of a reliability diagram:
/// the diagonal of perfect calibration, the observed rate against the mean predicted probability
/// of each non-empty bin as points joined by a line, a strip of bars along the bottom whose
/// heights are proportional to the bins' counts, axes from 0 to 1 with ticks every 0.2, the
/// title (XML-escaped) and a legend line with the number of rows and the ECE. Values outside
/// `[0, 1]` are drawn at the edge; bins with a count of 0 or non-finite values are skipped.
pub fn reliability_svg(bins: &[ReliabilityBin], title: &str, ece: f64) -> String {
    let px = |v: f64| PLOT_LEFT + v.clamp(0.0, 1.0) * PLOT_SIDE;
    let py = |v: f64| PLOT_TOP + (1.0 - v.clamp(0.0, 1.0)) * PLOT_SIDE;
    let bottom = PLOT_TOP + PLOT_SIDE;
    let drawn: Vec<&ReliabilityBin> = bins
        .iter()
        .filter(|b| b.count > 0 && [b.lower, b.upper, b.mean_predicted, b.observed_rate].iter().all(|v| v.is_finite()))
        .collect();
    let n: usize = drawn.iter().fold(0usize, |sum, b| sum.saturating_add(b.count));
    let max_count = drawn.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64;

    let mut svg = String::with_capacity(4096);
    // Writing to a String cannot fail, so the results of write! are ignored.
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{SVG_SIZE}" height="{SVG_SIZE}" viewBox="0 0 {SVG_SIZE} {SVG_SIZE}" font-family="sans-serif" font-size="12">"##
    );
    let _ = write!(svg, r##"<rect x="0" y="0" width="{SVG_SIZE}" height="{SVG_SIZE}" fill="#ffffff"/>"##);
    let _ = write!(
        svg,
        r##"<text x="{:.1}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"##,
        SVG_SIZE / 2.0,
        xml_escape(title)
    );
    let ece_text = if ece.is_finite() { format!("{ece:.4}") } else { "n/a".to_owned() };
    let _ = write!(
        svg,
        r##"<text x="{:.1}" y="42" text-anchor="middle" fill="#444444">n = {n}, ECE = {ece_text}</text>"##,
        SVG_SIZE / 2.0
    );
    // Grid, ticks and tick labels every 0.2.
    for k in 0..=5 {
        let v = f64::from(k) * 0.2;
        let (x, y) = (px(v), py(v));
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{PLOT_TOP:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="#eeeeee"/><line x1="{PLOT_LEFT:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#eeeeee"/>"##,
            PLOT_LEFT + PLOT_SIDE
        );
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{bottom:.1}" x2="{x:.1}" y2="{:.1}" stroke="#000000"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{v:.1}</text>"##,
            bottom + 5.0,
            bottom + 19.0
        );
        let _ = write!(
            svg,
            r##"<line x1="{:.1}" y1="{y:.1}" x2="{PLOT_LEFT:.1}" y2="{y:.1}" stroke="#000000"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v:.1}</text>"##,
            PLOT_LEFT - 5.0,
            PLOT_LEFT - 8.0,
            y + 4.0
        );
    }
    // Count strip.
    for bin in &drawn {
        let (x0, x1) = (px(bin.lower), px(bin.upper));
        let height = BAR_HEIGHT * bin.count as f64 / max_count;
        let _ = write!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{height:.1}" fill="#9ecae1" fill-opacity="0.6"><title>{} rows</title></rect>"##,
            x0 + 1.0,
            bottom - height,
            (x1 - x0 - 2.0).max(0.5),
            bin.count
        );
    }
    // Axes box and the diagonal.
    let _ = write!(
        svg,
        r##"<rect x="{PLOT_LEFT:.1}" y="{PLOT_TOP:.1}" width="{PLOT_SIDE:.1}" height="{PLOT_SIDE:.1}" fill="none" stroke="#000000"/>"##
    );
    let _ = write!(
        svg,
        r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#888888" stroke-dasharray="5,4"/>"##,
        px(0.0),
        py(0.0),
        px(1.0),
        py(1.0)
    );
    // Observed rate against mean predicted probability.
    if !drawn.is_empty() {
        let points: Vec<String> =
            drawn.iter().map(|b| format!("{:.1},{:.1}", px(b.mean_predicted), py(b.observed_rate))).collect();
        let _ =
            write!(svg, r##"<polyline points="{}" fill="none" stroke="#d62728" stroke-width="2"/>"##, points.join(" "));
        for bin in &drawn {
            let _ = write!(
                svg,
                r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="#d62728"><title>predicted {:.3}, observed {:.3}, {} rows</title></circle>"##,
                px(bin.mean_predicted),
                py(bin.observed_rate),
                bin.mean_predicted,
                bin.observed_rate,
                bin.count
            );
        }
    }
    // Axis titles.
    let _ = write!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">Mean predicted probability</text>"##,
        PLOT_LEFT + PLOT_SIDE / 2.0,
        bottom + 38.0
    );
    let (tx, ty) = (22.0, PLOT_TOP + PLOT_SIDE / 2.0);
    let _ = write!(
        svg,
        r##"<text x="{tx:.1}" y="{ty:.1}" text-anchor="middle" transform="rotate(-90 {tx:.1} {ty:.1})">Observed positive rate</text>"##
    );
    svg.push_str("</svg>");
    svg
}

/// Escapes text for XML content or attribute values, and drops the control characters that XML
/// 1.0 does not allow.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{ece, reliability};
    use super::*;

    /// Checks that `text` is well-formed enough: tags balance and nest, attribute quotes close,
    /// and every `&` starts a known entity.
    fn check_xml(text: &str) -> Result<(), String> {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find(['<', '&']) {
            let (before, after) = rest.split_at(start);
            if before.contains('>') {
                return Err(format!("stray '>' in {before:?}"));
            }
            if after.starts_with('&') {
                let entity = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].iter().find(|e| after.starts_with(**e));
                let Some(entity) = entity else {
                    return Err(format!("bad entity at {:?}", after.chars().take(10).collect::<String>()));
                };
                rest = &after[entity.len()..];
                continue;
            }
            // Find the end of the tag, skipping quoted attribute values.
            let mut quote = None;
            let mut end = None;
            for (i, c) in after.char_indices().skip(1) {
                match (quote, c) {
                    (None, '"' | '\'') => quote = Some(c),
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), '<') => return Err("'<' inside an attribute".to_owned()),
                    (None, '>') => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let Some(end) = end else { return Err("unterminated tag".to_owned()) };
            let tag = &after[1..end];
            if let Some(name) = tag.strip_prefix('/') {
                match stack.pop() {
                    Some(open) if open == name.trim() => {}
                    other => return Err(format!("</{name}> closes {other:?}")),
                }
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().unwrap_or_default().to_owned();
                if name.is_empty() {
                    return Err("empty tag name".to_owned());
                }
                stack.push(name);
            }
            rest = &after[end + 1..];
        }
        if rest.contains('>') {
            return Err("stray '>' at the end".to_owned());
        }
        if stack.is_empty() { Ok(()) } else { Err(format!("unclosed {stack:?}")) }
    }

    #[test]
    fn the_xml_checker_can_fail() {
        assert!(check_xml("<a><b/></a>").is_ok());
        assert!(check_xml("<a><b></a>").is_err());
        assert!(check_xml("<a>x & y</a>").is_err());
        assert!(check_xml("<a x=\"1>2\">").is_err());
        assert!(check_xml("<a>1 > 2</a>").is_err());
    }

    #[test]
    fn reliability_svg_is_well_formed() {
        let p = [0.05, 0.15, 0.12, 0.95, 1.0, 0.5, 0.55];
        let y = [false, true, false, true, true, false, true];
        let bins = reliability(&p, &y, 10);
        let title = "Scores <Q3> & \"drift\" 'test'\u{1}";
        let svg = reliability_svg(&bins, title, ece(&p, &y, 10));
        assert!(svg.starts_with("<svg"));
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains("Scores &lt;Q3&gt; &amp; &quot;drift&quot; &apos;test&apos;</text>"));
        assert!(svg.contains("n = 7, ECE = "));
        assert!(svg.contains("<polyline"));
        assert_eq!(svg.matches("<circle").count(), bins.len());
        for tick in ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"] {
            assert!(svg.contains(&format!(">{tick}</text>")), "tick {tick}");
        }
        assert!(!svg.contains("<script") && !svg.contains("href"));
        check_xml(&svg).unwrap();
        // No bins and a NaN ECE still give a valid image.
        let empty = reliability_svg(&[], "", f64::NAN);
        assert!(empty.contains("ECE = n/a"));
        check_xml(&empty).unwrap();
    }
}
