//! Cinema seat maps: a theatre's rows of seats and aisles, with wheelchair and companion places
//! and seats staff block, and the choice of the best available adjacent seats.
//!
//! A row is written as cells: `"7"` a seat numbered 7, `"7w"` a wheelchair place, `"7c"` a
//! companion seat, `"7x"` a blocked seat (never sold), `"_"` an aisle. A seat's label is its row
//! label and number, e.g. `F7`.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// The most rows and cells per row a map may have.
pub const MAX_ROWS: usize = 60;
pub const MAX_CELLS: usize = 80;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeatKind {
    Standard,
    Wheelchair,
    Companion,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Aisle,
    Seat {
        label: String,
        kind: SeatKind,
        blocked: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatRow {
    pub label: String,
    pub cells: Vec<Cell>,
}

/// A theatre's seat map, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatMap {
    pub rows: Vec<SeatRow>,
}

/// The stored and wire form: rows of cell strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatMapLayout {
    pub rows: Vec<RowLayout>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowLayout {
    pub label: String,
    pub cells: Vec<String>,
}

/// Why a layout is not a seat map: the JSON path of the bad part and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct LayoutError {
    pub field: String,
    pub message: String,
}

/// A run of free seats: their cell positions and labels.
type Run<'a> = Vec<(usize, &'a str)>;

/// The middle cell position of a run.
fn middle(run: &[(usize, &str)]) -> f64 {
    match (run.first(), run.last()) {
        (Some(first), Some(last)) => (first.0 + last.0) as f64 / 2.0,
        _ => 0.0,
    }
}

fn labels(run: &[(usize, &str)]) -> Vec<String> {
    run.iter().map(|(_, l)| (*l).to_owned()).collect()
}

impl SeatRow {
    fn centre(&self) -> f64 {
        (self.cells.len() as f64 - 1.0) / 2.0
    }

    /// Runs of consecutive free standard seats, split by aisles and anything else.
    fn free_runs<'a>(&'a self, taken: &HashSet<String>) -> Vec<Run<'a>> {
        let mut run: Run<'a> = Vec::new();
        let mut runs = Vec::new();
        for (c, cell) in self.cells.iter().enumerate() {
            match cell {
                Cell::Seat {
                    label,
                    kind: SeatKind::Standard,
                    blocked: false,
                } if !taken.contains(label) => run.push((c, label.as_str())),
                _ => {
                    if !run.is_empty() {
                        runs.push(std::mem::take(&mut run));
                    }
                }
            }
        }
        if !run.is_empty() {
            runs.push(run);
        }
        runs
    }
}

fn bad(field: String, message: &str) -> LayoutError {
    LayoutError {
        field,
        message: message.to_owned(),
    }
}

impl SeatMap {
    /// Checks a layout: 1–60 rows with distinct labels (1–3 letters or digits), 1–80 cells per
    /// row, seat numbers unique within a row, at least one seat.
    pub fn parse(layout: &SeatMapLayout) -> Result<Self, LayoutError> {
        if layout.rows.is_empty() || layout.rows.len() > MAX_ROWS {
            return Err(bad("rows".into(), "must hold 1–60 rows"));
        }
        let mut row_labels = HashSet::new();
        // Seat labels across the map: row "R1" seat 11 and row "R11" seat 1 would both be R111.
        let mut seat_labels = HashSet::new();
        let mut rows = Vec::with_capacity(layout.rows.len());
        for (r, row) in layout.rows.iter().enumerate() {
            let label = row.label.trim();
            if label.is_empty()
                || label.len() > 3
                || !label.chars().all(|c| c.is_ascii_alphanumeric())
            {
                return Err(bad(
                    format!("rows[{r}].label"),
                    "must be 1–3 letters or digits",
                ));
            }
            if !row_labels.insert(label.to_ascii_uppercase()) {
                return Err(bad(format!("rows[{r}].label"), "names another row too"));
            }
            if row.cells.is_empty() || row.cells.len() > MAX_CELLS {
                return Err(bad(format!("rows[{r}].cells"), "must hold 1–80 cells"));
            }
            let mut numbers = HashSet::new();
            let mut cells = Vec::with_capacity(row.cells.len());
            for (c, text) in row.cells.iter().enumerate() {
                let field = || format!("rows[{r}].cells[{c}]");
                let text = text.trim();
                if text == "_" {
                    cells.push(Cell::Aisle);
                    continue;
                }
                let (number, kind, blocked) = match text.char_indices().last() {
                    Some((i, 'w')) => (text.get(..i), SeatKind::Wheelchair, false),
                    Some((i, 'c')) => (text.get(..i), SeatKind::Companion, false),
                    Some((i, 'x')) => (text.get(..i), SeatKind::Standard, true),
                    _ => (Some(text), SeatKind::Standard, false),
                };
                let number = number
                    .filter(|n| (1..=3).contains(&n.len()) && n.chars().all(|c| c.is_ascii_digit()))
                    .ok_or_else(|| {
                        bad(
                            field(),
                            "must be a seat number (1–3 digits, then w, c or x) or _",
                        )
                    })?;
                if !numbers.insert(number.to_owned()) {
                    return Err(bad(field(), "numbers another seat of the row too"));
                }
                let seat = format!("{label}{number}");
                if !seat_labels.insert(seat.to_ascii_uppercase()) {
                    return Err(bad(
                        field(),
                        "makes a seat label another row's seat has too",
                    ));
                }
                cells.push(Cell::Seat {
                    label: seat,
                    kind,
                    blocked,
                });
            }
            rows.push(SeatRow {
                label: label.to_owned(),
                cells,
            });
        }
        let map = SeatMap { rows };
        if map.sellable() == 0 {
            return Err(bad(
                "rows".into(),
                "must hold at least one seat that is not blocked",
            ));
        }
        Ok(map)
    }

    /// Every seat.
    pub fn seats(&self) -> impl Iterator<Item = (&str, SeatKind, bool)> {
        self.rows.iter().flat_map(|r| {
            r.cells.iter().filter_map(|c| match c {
                Cell::Seat {
                    label,
                    kind,
                    blocked,
                } => Some((label.as_str(), *kind, *blocked)),
                Cell::Aisle => None,
            })
        })
    }

    /// Seats that can be sold (not blocked).
    pub fn sellable(&self) -> usize {
        self.seats().filter(|(_, _, blocked)| !blocked).count()
    }

    /// A sellable seat by label (case-insensitive), as the map spells it.
    pub fn sellable_seat(&self, label: &str) -> Option<&str> {
        self.seats()
            .find(|(l, _, blocked)| !blocked && l.eq_ignore_ascii_case(label.trim()))
            .map(|(l, _, _)| l)
    }

    /// The best `n` adjacent free standard seats: side by side in one row with no aisle
    /// between them, in the row nearest the middle-back of the theatre and the block nearest
    /// the row's centre. None if no row has `n` together.
    pub fn best_available(&self, n: usize, taken: &HashSet<String>) -> Option<Vec<String>> {
        if n == 0 {
            return Some(Vec::new());
        }
        let ideal_row = self.ideal_row();
        let mut best: Option<(f64, Vec<String>)> = None;
        for (r, row) in self.rows.iter().enumerate() {
            let centre = row.centre();
            for run in row.free_runs(taken).iter().filter(|run| run.len() >= n) {
                for window in run.windows(n) {
                    let score =
                        (r as f64 - ideal_row).abs() * 2.0 + (middle(window) - centre).abs();
                    if best.as_ref().is_none_or(|(s, _)| score < *s) {
                        best = Some((score, labels(window)));
                    }
                }
            }
        }
        best.map(|(_, seats)| seats)
    }

    /// Seats for a group too big for any one row's free block: consecutive rows, each giving
    /// its longest free blocks (the last one trimmed to the seats still needed, centred), so
    /// the group sits in as few rows and pieces as possible, near the middle-back. None only
    /// if fewer than `n` standard seats are free.
    pub fn best_block(&self, n: usize, taken: &HashSet<String>) -> Option<Vec<String>> {
        if let Some(together) = self.best_available(n, taken) {
            return Some(together);
        }
        let ideal_row = self.ideal_row();
        let mut best: Option<(f64, Vec<String>)> = None;
        for start in 0..self.rows.len() {
            let mut seats = Vec::with_capacity(n);
            let mut pieces = 0usize;
            let mut end = start;
            for (r, row) in self.rows.iter().enumerate().skip(start) {
                let centre = row.centre();
                let mut runs = row.free_runs(taken);
                runs.sort_by(|a, b| {
                    b.len().cmp(&a.len()).then_with(|| {
                        (middle(a) - centre)
                            .abs()
                            .total_cmp(&(middle(b) - centre).abs())
                    })
                });
                for run in runs.iter().filter(|run| !run.is_empty()) {
                    let wanted = n - seats.len();
                    if wanted == 0 {
                        break;
                    }
                    let piece = if run.len() <= wanted {
                        run.as_slice()
                    } else {
                        run.windows(wanted)
                            .min_by(|a, b| {
                                (middle(a) - centre)
                                    .abs()
                                    .total_cmp(&(middle(b) - centre).abs())
                            })
                            .unwrap_or(&[])
                    };
                    seats.extend(labels(piece));
                    pieces += 1;
                }
                end = r;
                if seats.len() == n {
                    break;
                }
            }
            if seats.len() < n {
                continue;
            }
            let rows_used = (end - start + 1) as f64;
            let score = rows_used * 8.0
                + pieces as f64 * 4.0
                + ((start + end) as f64 / 2.0 - ideal_row).abs();
            if best.as_ref().is_none_or(|(s, _)| score < *s) {
                best = Some((score, seats));
            }
        }
        best.map(|(_, seats)| seats)
    }

    /// Rows about two thirds back are the best; then outwards from there.
    fn ideal_row(&self) -> f64 {
        self.rows.len() as f64 * 0.6
    }

    /// The layout this map was parsed from (normalised).
    pub fn layout(&self) -> SeatMapLayout {
        SeatMapLayout {
            rows: self
                .rows
                .iter()
                .map(|r| RowLayout {
                    label: r.label.clone(),
                    cells: r
                        .cells
                        .iter()
                        .map(|c| match c {
                            Cell::Aisle => "_".to_owned(),
                            Cell::Seat {
                                label,
                                kind,
                                blocked,
                            } => {
                                let number = label.get(r.label.len()..).unwrap_or_default();
                                let suffix = match (kind, blocked) {
                                    (_, true) => "x",
                                    (SeatKind::Wheelchair, _) => "w",
                                    (SeatKind::Companion, _) => "c",
                                    (SeatKind::Standard, _) => "",
                                };
                                format!("{number}{suffix}")
                            }
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn layout(rows: &[(&str, &str)]) -> SeatMapLayout {
        SeatMapLayout {
            rows: rows
                .iter()
                .map(|(label, cells)| RowLayout {
                    label: (*label).into(),
                    cells: cells.split(' ').map(str::to_owned).collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_layout_parses_into_seats_aisles_and_special_places() {
        let map =
            SeatMap::parse(&layout(&[("A", "1 2 _ 3 4w 5c"), ("B", "1 2x _ 3 4 5")])).unwrap();
        assert_eq!(map.sellable(), 9);
        assert_eq!(map.sellable_seat("a4"), Some("A4"));
        assert_eq!(map.sellable_seat("B2"), None, "blocked");
        assert_eq!(map.sellable_seat("C1"), None);
        assert_eq!(
            map.layout(),
            layout(&[("A", "1 2 _ 3 4w 5c"), ("B", "1 2x _ 3 4 5")])
        );
    }

    #[test]
    fn bad_layouts_name_the_bad_cell() {
        for (rows, field) in [
            (vec![("A", "1 1")], "rows[0].cells[1]"),
            (vec![("A", "1 z")], "rows[0].cells[1]"),
            (vec![("A", "1"), ("a", "1")], "rows[1].label"),
            (vec![("", "1")], "rows[0].label"),
            (vec![("A", "1x _")], "rows"),
            (vec![("A", "1234")], "rows[0].cells[0]"),
            // R1 seat 11 and R11 seat 1 would both be "R111".
            (vec![("R1", "10 11"), ("R11", "1")], "rows[1].cells[0]"),
        ] {
            assert_eq!(
                SeatMap::parse(&layout(&rows)).unwrap_err().field,
                field,
                "{rows:?}"
            );
        }
        assert_eq!(
            SeatMap::parse(&SeatMapLayout { rows: vec![] })
                .unwrap_err()
                .field,
            "rows"
        );
    }

    #[test]
    fn a_group_too_big_for_a_row_fills_neighbouring_rows_in_few_pieces() {
        let map = SeatMap::parse(&layout(&[
            ("A", "1 2 3 4 _ 5 6 7 8"),
            ("B", "1 2 3 4 _ 5 6 7 8"),
            ("C", "1 2 3 4 _ 5 6 7 8"),
            ("D", "1w 2c 3 4 _ 5 6 7 8"),
        ]))
        .unwrap();
        let none = HashSet::new();
        // Four fit together: the same as for a party.
        assert_eq!(map.best_block(4, &none), map.best_available(4, &none));
        // Eight: one whole row, both sides of its aisle.
        let eight = map.best_block(8, &none).unwrap();
        assert_eq!(eight.len(), 8);
        assert!(eight.iter().all(|s| s.starts_with('C')), "{eight:?}");
        // Ten: two neighbouring rows, never the wheelchair or companion places.
        let taken: HashSet<String> = ["B5", "B6", "C1"].iter().map(|s| (*s).to_owned()).collect();
        let ten = map.best_block(10, &taken).unwrap();
        assert_eq!(ten.len(), 10);
        assert!(ten
            .iter()
            .all(|s| !taken.contains(s) && s != "D1" && s != "D2"));
        let rows: HashSet<char> = ten.iter().map(|s| s.chars().next().unwrap()).collect();
        assert_eq!(rows.len(), 2, "{ten:?}");
        // 30 standard seats in all: 31 do not fit.
        assert_eq!(map.best_block(30, &none).map(|s| s.len()), Some(30));
        assert!(map.best_block(31, &none).is_none());
    }

    #[test]
    fn best_available_keeps_a_party_together_near_the_middle() {
        let map = SeatMap::parse(&layout(&[
            ("A", "1 2 3 4 _ 5 6 7 8"),
            ("B", "1 2 3 4 _ 5 6 7 8"),
            ("C", "1 2 3 4 _ 5 6 7 8"),
            ("D", "1w 2c 3 4 _ 5 6 7 8"),
        ]))
        .unwrap();
        let none = HashSet::new();
        assert_eq!(map.best_available(2, &none).unwrap(), ["C3", "C4"]);
        assert_eq!(
            map.best_available(4, &none).unwrap(),
            ["C1", "C2", "C3", "C4"]
        );
        assert!(
            map.best_available(5, &none).is_none(),
            "an aisle splits every row"
        );
        let taken: HashSet<String> = ["C3", "C4", "C5"].iter().map(|s| (*s).to_owned()).collect();
        let got = map.best_available(3, &taken).unwrap();
        assert!(got.iter().all(|s| !taken.contains(s)));
        assert_eq!(got.len(), 3);
    }

    proptest! {
        /// Whatever is taken, a group gets exactly n distinct free standard seats whenever that
        /// many are free, and nothing otherwise.
        #[test]
        fn best_block_seats_are_distinct_free_and_sellable(
            taken_mask in proptest::collection::vec(any::<bool>(), 40),
            n in 1usize..40,
        ) {
            let map = SeatMap::parse(&layout(&[
                ("A", "1 2 3 _ 4 5 6 7 8 9 10"),
                ("B", "1 2x 3 _ 4 5 6 7w 8c 9 10"),
                ("C", "1 2 3 _ 4 5 6 7 8 9 10"),
                ("D", "1 2 3 4 5 _ 6 7 8 9 10"),
            ])).unwrap();
            let all: Vec<String> = map.seats().map(|(l, _, _)| l.to_owned()).collect();
            let taken: HashSet<String> = all.iter().zip(&taken_mask).filter(|(_, t)| **t).map(|(l, _)| l.clone()).collect();
            let free = map.seats().filter(|(l, k, b)| *k == SeatKind::Standard && !b && !taken.contains(*l)).count();
            match map.best_block(n, &taken) {
                Some(seats) => {
                    prop_assert_eq!(seats.len(), n);
                    let distinct: HashSet<&String> = seats.iter().collect();
                    prop_assert_eq!(distinct.len(), n);
                    for s in &seats {
                        prop_assert!(!taken.contains(s));
                        prop_assert!(map.seats().any(|(l, k, b)| l == s && k == SeatKind::Standard && !b));
                    }
                }
                None => prop_assert!(free < n, "{} free, {} wanted", free, n),
            }
        }

        /// Whatever is taken, best available gives n free, sellable, standard seats side by
        /// side in one row with no aisle between — or nothing when no such block exists.
        #[test]
        fn best_available_seats_are_free_adjacent_and_sellable(
            taken_mask in proptest::collection::vec(any::<bool>(), 40),
            n in 1usize..6,
        ) {
            let map = SeatMap::parse(&layout(&[
                ("A", "1 2 3 _ 4 5 6 7 8 9 10"),
                ("B", "1 2x 3 _ 4 5 6 7w 8c 9 10"),
                ("C", "1 2 3 _ 4 5 6 7 8 9 10"),
                ("D", "1 2 3 4 5 _ 6 7 8 9 10"),
            ])).unwrap();
            let all: Vec<String> = map.seats().map(|(l, _, _)| l.to_owned()).collect();
            let taken: HashSet<String> = all.iter().zip(&taken_mask).filter(|(_, t)| **t).map(|(l, _)| l.clone()).collect();
            match map.best_available(n, &taken) {
                Some(seats) => {
                    prop_assert_eq!(seats.len(), n);
                    let row = map.rows.iter().find(|r| r.cells.iter().any(|c| matches!(c, Cell::Seat { label, .. } if *label == seats[0]))).unwrap();
                    let positions: Vec<usize> = seats.iter().map(|s| row.cells.iter().position(|c| matches!(c, Cell::Seat { label, .. } if label == s)).unwrap()).collect();
                    for w in positions.windows(2) {
                        prop_assert_eq!(w[1], w[0] + 1, "side by side, no aisle between");
                    }
                    for s in &seats {
                        prop_assert!(!taken.contains(s));
                        prop_assert!(map.seats().any(|(l, k, b)| l == s && k == SeatKind::Standard && !b));
                    }
                }
                None => {
                    // No row has n consecutive free standard seats.
                    for row in &map.rows {
                        let mut run = 0;
                        for c in &row.cells {
                            run = match c {
                                Cell::Seat { label, kind: SeatKind::Standard, blocked: false } if !taken.contains(label) => run + 1,
                                _ => 0,
                            };
                            prop_assert!(run < n);
                        }
                    }
                }
            }
        }
    }
}
