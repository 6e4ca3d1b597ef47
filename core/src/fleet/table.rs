//! The fleet table as HTML: one row per device, sorted by any column, a page at a time.
//!
//! Written as one string that the page sets as the table's `innerHTML`: one DOM update per
//! redraw however many devices there are, and far less code in the bundle than a view per
//! cell. Every text from outside (device ids, error reasons from a broker) is escaped.

use std::collections::BinaryHeap;

use super::Row;
use crate::device::Status;
use crate::html::Html;

/// Rows per page: a fleet of 1000 is drawn 50 rows at a time.
pub const PAGE_ROWS: usize = 50;

/// The columns: a heading and the sort key (the device's place in the fleet, its status's
/// place in the life of a connection, or a counter).
pub const COLUMNS: [Column; 7] = [
    ("device", |i, _| i as u64),
    ("status", |_, r| status_rank(&r.status)),
    ("published", |_, r| r.counters.published),
    ("acked", |_, r| r.counters.acked),
    ("in flight", |_, r| r.counters.in_flight),
    ("anomalies", |_, r| r.counters.anomalies),
    ("dropped", |_, r| r.counters.dropped),
];

/// A column's heading, and its sort key for row `i`.
pub type Column = (&'static str, fn(usize, &Row) -> u64);

/// How the table is shown: sorted by `column`, descending or not, and which page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableView {
    pub column: usize,
    pub descending: bool,
    pub page: usize,
}

impl TableView {
    /// A click on column `column`'s heading: sort by it, or reverse it if it is the sort.
    pub fn sort_by(&mut self, column: usize) {
        self.descending = self.column == column && !self.descending;
        self.column = column.min(COLUMNS.len() - 1);
    }

    /// Moves `by` pages, within the `rows` there are.
    pub fn turn(&mut self, by: isize, rows: usize) {
        self.page = self
            .page
            .saturating_add_signed(by)
            .min(pages(rows).saturating_sub(1));
    }
}

pub fn pages(rows: usize) -> usize {
    rows.div_ceil(PAGE_ROWS).max(1)
}

fn status_rank(status: &Status) -> u64 {
    match status {
        Status::Connected => 0,
        Status::Stopping => 1,
        Status::Connecting | Status::Reconnecting { .. } => 2,
        Status::Retrying { .. } => 3,
        Status::Stopped(_) => 4,
    }
}

/// The rows of the page `view` shows, sorted, as `<tr>` elements.
pub fn rows_html(rows: &[Row], view: TableView) -> String {
    let key = COLUMNS[view.column.min(COLUMNS.len() - 1)].1;
    // Sorted with a heap (the fleet's scheduler brings one already); ties keep fleet order
    // both ways (descending sorts the keys' complement, not the reversed order).
    let heap: BinaryHeap<(u64, usize)> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let k = key(i, row);
            (if view.descending { u64::MAX - k } else { k }, i)
        })
        .collect();
    let order = heap.into_sorted_vec();
    let page = view.page.min(pages(rows.len()) - 1);
    let mut html = Html::with_capacity(PAGE_ROWS * 160);
    for &(_, i) in order.iter().skip(page * PAGE_ROWS).take(PAGE_ROWS) {
        let row = &rows[i];
        html.raw("<tr>")
            .wrap("<td>", &row.device_id, "</td>")
            .wrap("<td>", &row.status, "</td>");
        for (_, key) in &COLUMNS[2..] {
            html.wrap("<td>", &key(i, row), "</td>");
        }
        html.raw("</tr>");
    }
    html.into_string()
}

/// Where the table is: `page 2 of 20 (1000 devices), by published ▼`.
pub fn describe(view: TableView, rows: usize) -> String {
    let page = view.page.min(pages(rows) - 1);
    let arrow = if view.descending { "▼" } else { "▲" };
    format!(
        " page {} of {} ({rows} devices), by {} {arrow} ",
        page + 1,
        pages(rows),
        COLUMNS[view.column.min(COLUMNS.len() - 1)].0
    )
}
