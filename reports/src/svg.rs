//! Hand-written inline SVG charts: a time series with event markers and a bar chart.
//! No scripts; hover text is SVG `<title>`. Every text is escaped.

use std::fmt::Write as _;

use crate::html::esc;

/// Chart width and height in SVG units; the page scales it to its column.
const W: f64 = 900.0;
const H: f64 = 260.0;
/// Plot margins: left, right, top, bottom.
const ML: f64 = 64.0;
const MR: f64 = 16.0;
const MT: f64 = 34.0;
const MB: f64 = 40.0;

/// One line of a time series.
pub(crate) struct Series<'a> {
    /// Legend text.
    pub label: &'a str,
    /// Stroke colour.
    pub color: &'a str,
    /// (x, y) points; `None` breaks the line.
    pub points: Vec<(f64, Option<f64>)>,
}

/// A vertical marker at an x position.
pub(crate) struct Marker {
    /// Where.
    pub x: f64,
    /// Short label drawn at the line (`F1`).
    pub label: String,
    /// Hover text (the fault or alert in full).
    pub title: String,
    /// Stroke colour.
    pub color: &'static str,
    /// Labels at the top (faults) or bottom (alerts) of the plot.
    pub top: bool,
    /// Drawn solid and thick, its label toward the middle of the plot so that a long
    /// one stays inside: the one marker a reader must not miss (the first violation).
    pub strong: bool,
}

/// A 1-2-5 step giving about `n` ticks over `range`.
fn nice_step(range: f64, n: f64) -> f64 {
    if range <= 0.0 || !range.is_finite() {
        return 1.0;
    }
    let raw = range / n;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let step = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    step * mag
}

/// A number for an axis label: no trailing `.0`, at most two decimals.
fn num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn open(h: &mut String, title: &str) {
    let _ = write!(
        h,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" role=\"img\" \
         aria-label=\"{t}\" class=\"chart\"><title>{t}</title>\
         <rect x=\"0\" y=\"0\" width=\"{W}\" height=\"{H}\" fill=\"#fff\"/>",
        t = esc(title)
    );
}

/// A time series over `[0, x_max]` with y from 0; `y_unit` follows the y tick labels.
pub(crate) fn time_chart(
    title: &str,
    x_max: f64,
    y_unit: &str,
    series: &[Series<'_>],
    markers: &[Marker],
) -> String {
    let mut h = String::new();
    open(&mut h, title);
    let x_max = if x_max > 0.0 { x_max } else { 1.0 };
    let y_data = series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|(_, y)| *y))
        .fold(0.0f64, f64::max);
    let y_step = nice_step(y_data.max(1.0), 4.0);
    let y_max = (y_data / y_step).ceil().max(1.0) * y_step;
    let (pw, ph) = (W - ML - MR, H - MT - MB);
    let px = |x: f64| ML + x.clamp(0.0, x_max) / x_max * pw;
    let py = |y: f64| MT + ph - y.clamp(0.0, y_max) / y_max * ph;
    // Grid and y axis.
    let mut y = 0.0;
    while y <= y_max + y_step / 2.0 {
        let _ = write!(
            h,
            "<line x1=\"{ML}\" x2=\"{x2}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#e3e3e3\"/>\
             <text x=\"{tx}\" y=\"{ty:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#555\">{l}</text>",
            x2 = ML + pw,
            yy = py(y),
            tx = ML - 6.0,
            ty = py(y) + 4.0,
            l = esc(&format!("{}{y_unit}", num(y)))
        );
        y += y_step;
    }
    // X axis: seconds.
    let x_step = nice_step(x_max, 8.0);
    let mut x = 0.0;
    while x <= x_max + x_step / 1e6 {
        let _ = write!(
            h,
            "<line x1=\"{xx:.1}\" x2=\"{xx:.1}\" y1=\"{y1}\" y2=\"{y2}\" stroke=\"#999\"/>\
             <text x=\"{xx:.1}\" y=\"{ty}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#555\">{l}s</text>",
            xx = px(x),
            y1 = MT + ph,
            y2 = MT + ph + 4.0,
            ty = MT + ph + 16.0,
            l = num(x)
        );
        x += x_step;
    }
    let _ = write!(
        h,
        "<text x=\"{cx}\" y=\"{ty}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#555\">simulated time</text>\
         <rect x=\"{ML}\" y=\"{MT}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#999\"/>",
        cx = ML + pw / 2.0,
        ty = H - 6.0
    );
    // Markers under the lines, labels stacked so that equal times stay readable.
    let mut stack: Vec<(f64, bool, usize)> = Vec::new();
    for m in markers {
        let xx = px(m.x);
        let level = stack
            .iter()
            .filter(|(x, top, _)| *top == m.top && (x - xx).abs() < 22.0)
            .count();
        stack.push((xx, m.top, level));
        let ly = if m.top {
            MT + 11.0 + level as f64 * 12.0
        } else {
            MT + ph - 4.0 - level as f64 * 12.0
        };
        let (stroke, lx, anchor) = if !m.strong {
            (
                "stroke-width=\"1.5\" stroke-dasharray=\"4 3\"",
                xx + 3.0,
                "",
            )
        } else if xx > ML + pw / 2.0 {
            ("stroke-width=\"3\"", xx - 4.0, " text-anchor=\"end\"")
        } else {
            ("stroke-width=\"3\"", xx + 4.0, "")
        };
        let _ = write!(
            h,
            "<g><title>{t}</title><line x1=\"{xx:.1}\" x2=\"{xx:.1}\" y1=\"{MT}\" y2=\"{y2}\" \
             stroke=\"{c}\" {stroke}/>\
             <text x=\"{lx:.1}\" y=\"{ly:.1}\" font-size=\"10\" font-weight=\"bold\" fill=\"{c}\"{anchor}>{l}</text></g>",
            t = esc(&m.title),
            y2 = MT + ph,
            c = m.color,
            l = esc(&m.label)
        );
    }
    // Lines.
    for s in series {
        let mut d = String::new();
        let mut pen_down = false;
        for (x, y) in &s.points {
            match y {
                Some(y) => {
                    let _ = write!(
                        d,
                        "{}{:.1},{:.1} ",
                        if pen_down { "L" } else { "M" },
                        px(*x),
                        py(*y)
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        if !d.is_empty() {
            let _ = write!(
                h,
                "<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>",
                d.trim_end(),
                s.color
            );
        }
        for (x, y) in s.points.iter().filter_map(|(x, y)| y.map(|y| (x, y))) {
            let _ = write!(
                h,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.2\" fill=\"{}\"><title>{}: {}{} at {}s</title></circle>",
                px(*x),
                py(y),
                s.color,
                esc(s.label),
                num(y),
                esc(y_unit),
                num(*x)
            );
        }
    }
    legend(&mut h, series.iter().map(|s| (s.label, s.color)));
    h.push_str("</svg>");
    h
}

fn legend<'a>(h: &mut String, items: impl Iterator<Item = (&'a str, &'a str)>) {
    let mut x = ML;
    for (label, color) in items {
        let _ = write!(
            h,
            "<rect x=\"{x}\" y=\"8\" width=\"12\" height=\"12\" fill=\"{color}\"/>\
             <text x=\"{tx}\" y=\"18\" font-size=\"12\" fill=\"#222\">{l}</text>",
            tx = x + 16.0,
            l = esc(label)
        );
        x += 28.0 + 7.0 * label.chars().count() as f64;
    }
}

/// Bars: one group per category, one bar per series (label, colour, counts) side by
/// side, or all series in one bar's place when `overlaid` (for series that are zero
/// where another is not, such as pass and fail).
pub(crate) fn bar_chart(
    title: &str,
    x_label: &str,
    categories: &[String],
    series: &[(&str, &str, Vec<u64>)],
    overlaid: bool,
) -> String {
    let mut h = String::new();
    open(&mut h, title);
    let (pw, ph) = (W - ML - MR, H - MT - MB);
    let max = series
        .iter()
        .flat_map(|(_, _, v)| v.iter().copied())
        .max()
        .unwrap_or(0) as f64;
    let step = nice_step(max.max(1.0), 4.0);
    let y_max = (max / step).ceil().max(1.0) * step;
    let py = |y: f64| MT + ph - y / y_max * ph;
    let mut y = 0.0;
    while y <= y_max + step / 2.0 {
        let _ = write!(
            h,
            "<line x1=\"{ML}\" x2=\"{x2}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#e3e3e3\"/>\
             <text x=\"{tx}\" y=\"{ty:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#555\">{l}</text>",
            x2 = ML + pw,
            yy = py(y),
            tx = ML - 6.0,
            ty = py(y) + 4.0,
            l = num(y)
        );
        y += step;
    }
    let n = categories.len().max(1) as f64;
    let group = pw / n;
    let slots = if overlaid { 1 } else { series.len().max(1) };
    let bar = (group * 0.8) / slots as f64;
    for (i, cat) in categories.iter().enumerate() {
        let gx = ML + i as f64 * group + group * 0.1;
        for (j, (label, color, values)) in series.iter().enumerate() {
            let v = values.get(i).copied().unwrap_or(0);
            if overlaid && v == 0 {
                continue;
            }
            let top = py(v as f64);
            let j = if overlaid { 0 } else { j };
            let _ = write!(
                h,
                "<rect x=\"{x:.1}\" y=\"{top:.1}\" width=\"{bw:.1}\" height=\"{bh:.1}\" fill=\"{color}\">\
                 <title>{l} {c}: {v}</title></rect>",
                x = gx + j as f64 * bar,
                bw = (bar - 1.0).max(1.0),
                bh = MT + ph - top,
                l = esc(label),
                c = esc(cat)
            );
        }
        let _ = write!(
            h,
            "<text x=\"{x:.1}\" y=\"{y}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#555\">{c}</text>",
            x = ML + i as f64 * group + group / 2.0,
            y = MT + ph + 14.0,
            c = esc(cat)
        );
    }
    let _ = write!(
        h,
        "<rect x=\"{ML}\" y=\"{MT}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#999\"/>\
         <text x=\"{cx}\" y=\"{ty}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#555\">{xl}</text>",
        cx = ML + pw / 2.0,
        ty = H - 6.0,
        xl = esc(x_label)
    );
    legend(&mut h, series.iter().map(|(l, c, _)| (*l, *c)));
    h.push_str("</svg>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_numbers_are_round() {
        assert_eq!(nice_step(40.0, 8.0), 5.0);
        assert_eq!(nice_step(7.0, 4.0), 2.0);
        assert_eq!(nice_step(0.0, 4.0), 1.0);
        assert_eq!(num(5.0), "5");
        assert_eq!(num(0.25), "0.25");
        assert_eq!(num(1.5), "1.5");
    }
}
