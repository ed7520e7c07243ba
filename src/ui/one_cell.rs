//! Lines whose every character takes one cell, written straight into the buffer.
//!
//! Nearly every overview cell is such a line (names, phases, numbers, the weight bar).
//! Ratatui's `Line::render` segments each span into graphemes and measures each one, which
//! at a screenful of rows was a fifth of a frame; for these characters a grapheme is a
//! character one cell wide, so the result is the same cell for cell (the tests compare the
//! two over every character admitted). Anything else goes through `Line::render`.

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::Line;
use ratatui::widgets::Widget;

/// Draws `line` into the first row of `area` exactly as `Line::render` does.
pub fn render(line: &Line, area: Rect, buf: &mut Buffer) {
    let area = area.intersection(buf.area);
    let simple = matches!(line.alignment, None | Some(Alignment::Left))
        && line.spans.iter().all(|s| s.content.chars().all(one_cell));
    if !simple {
        line.render(area, buf);
        return;
    }
    // As `Line::render`: an empty line leaves even its style undrawn.
    if area.is_empty() || line.spans.iter().all(|s| s.content.is_empty()) {
        return;
    }
    let row = Rect { height: 1, ..area };
    buf.set_style(row, line.style);
    let start = buf.index_of(row.x, row.y);
    let mut cells = buf.content[start..start + usize::from(row.width)].iter_mut();
    for span in &line.spans {
        for c in span.content.chars() {
            let Some(cell) = cells.next() else { return };
            cell.set_char(c).set_style(span.style);
        }
    }
}

/// A character that is its own grapheme and one cell wide wherever it stands: printable
/// ASCII, the middle dot, dashes and bullets, arrows, box drawing and blocks.
fn one_cell(c: char) -> bool {
    matches!(c,
        ' '..='~'
        | '\u{00B7}'
        | '\u{2010}'..='\u{2027}'
        | '\u{2190}'..='\u{21FF}'
        | '\u{2500}'..='\u{259F}'
        | '\u{27F0}'..='\u{27FF}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::{Color, Modifier, Style};
    use ratatui::text::Span;

    fn both(line: &Line, area: Rect) -> (Buffer, Buffer) {
        let full = Rect::new(0, 0, 24, 3);
        let mut want = Buffer::empty(full);
        let mut got = Buffer::empty(full);
        // A used buffer, so cells a line leaves alone are seen to be left alone.
        for b in [&mut want, &mut got] {
            b.set_string(0, 1, "x".repeat(24), Style::default().fg(Color::Red));
        }
        line.render(area, &mut want);
        render(line, area, &mut got);
        (want, got)
    }

    #[test]
    fn every_admitted_character_draws_as_ratatui_draws_it() {
        let ranges = [
            (' ', '~'),
            ('\u{00B7}', '\u{00B7}'),
            ('\u{2010}', '\u{2027}'),
            ('\u{2190}', '\u{21FF}'),
            ('\u{2500}', '\u{259F}'),
            ('\u{27F0}', '\u{27FF}'),
        ];
        let area = Rect::new(2, 1, 10, 1);
        for (lo, hi) in ranges {
            for c in lo..=hi {
                assert!(one_cell(c));
                let line = Line::from(vec![
                    Span::styled(format!("{c}{c}a"), Style::default().fg(Color::Green)),
                    Span::raw(format!("b{c}")),
                ])
                .style(Style::default().bg(Color::Blue));
                let (want, got) = both(&line, area);
                assert_eq!(want, got, "U+{:04X}", c as u32);
            }
        }
    }

    #[test]
    fn truncation_styles_and_empty_lines_match() {
        let long = Line::from(vec![
            Span::styled("▒▒▒▒██", Style::default().fg(Color::Cyan)),
            Span::styled("  50%", Style::default().add_modifier(Modifier::BOLD)),
            Span::raw(" and more than fits"),
        ])
        .style(
            Style::default()
                .fg(Color::Gray)
                .remove_modifier(Modifier::DIM),
        );
        let cases = [
            long.clone(),
            Line::from(""),
            Line::from(vec![Span::raw(""), Span::raw("")]).style(Style::default().bg(Color::Red)),
            Line::from("short").style(Style::default().bg(Color::Red)),
            Line::from("right").right_aligned(),
            Line::from("wide 漢字 and é"),
        ];
        for line in &cases {
            for area in [
                Rect::new(0, 0, 24, 1),
                Rect::new(3, 1, 7, 1),
                Rect::new(20, 2, 10, 1),
                Rect::new(0, 1, 0, 1),
                Rect::new(5, 0, 4, 3),
                Rect::new(30, 0, 4, 1),
            ] {
                let (want, got) = both(line, area);
                assert_eq!(want, got, "{line:?} in {area:?}");
            }
        }
    }
}
