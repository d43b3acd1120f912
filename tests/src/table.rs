//! The benchmarks' output: a Markdown table whose columns fit their widest cell.

/// How a column's cells line up.
#[derive(Clone, Copy)]
pub enum Align {
    Left,
    Right,
}

/// A latency or rate cell: `-` where a row has no such figure (NaN).
pub fn figure(v: f64, decimals: usize) -> String {
    if v.is_nan() {
        "-".to_owned()
    } else {
        format!("{v:.decimals$}")
    }
}

/// Prints `rows` under `header`, one `(title, alignment)` per column.
pub fn print(header: &[(&str, Align)], rows: &[Vec<String>]) {
    println!("\n{}", render(header, rows));
}

/// The table as text, without a trailing newline.
pub fn render(header: &[(&str, Align)], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = header
        .iter()
        .enumerate()
        .map(|(i, (title, _))| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .chain([title.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(header)
            .zip(&widths)
            .map(|((cell, (_, align)), w)| match align {
                Align::Left => format!("{cell:<w$}"),
                Align::Right => format!("{cell:>w$}"),
            })
            .collect();
        format!("| {} |", padded.join(" | "))
    };
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
    let mut out = vec![
        line(header.iter().map(|(t, _)| *t).collect()),
        format!("|{}|", rule.join("|")),
    ];
    out.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_widen_to_their_widest_cell_and_align_as_asked() {
        let text = render(
            &[("what", Align::Left), ("p99 ms", Align::Right)],
            &[
                vec!["a long measurement".into(), figure(1.5, 2)],
                vec!["short".into(), figure(f64::NAN, 2)],
            ],
        );
        assert_eq!(
            text,
            "| what               | p99 ms |\n\
             |--------------------|--------|\n\
             | a long measurement |   1.50 |\n\
             | short              |      - |"
        );
    }
}
