//! Overview: failures per day over a window (a bar chart drawn here as SVG),
//! the top failing applications by error code, the integrations disabled now.

use crate::failures::pairs_of;
use crate::{page, segment, Ctx, PageError};
use axum::extract::RawQuery;
use axum::response::{IntoResponse, Response};
use iev_domain::record::SummaryRow;
use maud::{html, Markup};
use std::collections::BTreeMap;

const WINDOWS: [u64; 3] = [7, 14, 30];

fn chart(days: &[(chrono::NaiveDate, u64)]) -> Markup {
    let (width, height, top, bottom, left) = (720.0_f64, 220.0_f64, 16.0, 28.0, 36.0);
    let max = days.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1) as f64;
    let slot = (width - left) / days.len().max(1) as f64;
    let bar = (slot * 0.7).max(2.0);
    let plot = height - top - bottom;
    let label_every = (days.len() / 10).max(1);
    html! {
        svg.chart viewBox={ "0 0 " (width) " " (height) } role="img" aria-labelledby="chart-title" {
            title #chart-title { "Failures per day" }
            line.axis x1=(left) y1=(height - bottom) x2=(width) y2=(height - bottom) {}
            text x="0" y=(top + 4.0) { (max as u64) }
            text x="0" y=(height - bottom) { "0" }
            @for (i, (day, n)) in days.iter().enumerate() {
                @let h = (*n as f64 / max) * plot;
                @let x = left + i as f64 * slot + (slot - bar) / 2.0;
                rect.bar x=(format!("{x:.1}")) y=(format!("{:.1}", height - bottom - h)) width=(format!("{bar:.1}")) height=(format!("{h:.1}")) {
                    title { (day) ": " (n) }
                }
                @if *n > 0 {
                    text x=(format!("{:.1}", x)) y=(format!("{:.1}", height - bottom - h - 3.0)) { (n) }
                }
                @if i % label_every == 0 {
                    text x=(format!("{:.1}", x)) y=(height - 10.0) { (day.format("%m-%d")) }
                }
            }
        }
    }
}

fn heat_class(n: u64, max: u64) -> &'static str {
    match n * 4 / max.max(1) {
        0 => "h1",
        1 => "h2",
        2 => "h3",
        _ => "h4",
    }
}

pub async fn overview_page(ctx: Ctx, RawQuery(raw): RawQuery) -> Result<Response, PageError> {
    let pairs = pairs_of(raw.as_deref());
    let window = pairs
        .iter()
        .find(|(k, _)| k == "days")
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .filter(|d| WINDOWS.contains(d))
        .unwrap_or(14);
    let today = ctx.service.clock.now().date_naive();
    let first = today - chrono::Days::new(window - 1);
    let mut per_day = Vec::new();
    for offset in 0..window {
        let day = first + chrono::Days::new(offset);
        let next = day + chrono::Days::new(1);
        let rows = ctx
            .service
            .error_summary(
                &ctx.caller,
                vec![
                    ("from".into(), day.to_string()),
                    ("to".into(), next.to_string()),
                ],
            )
            .await?;
        per_day.push((day, rows.iter().map(|r| r.count).sum::<u64>()));
    }
    let total: u64 = per_day.iter().map(|(_, n)| n).sum();
    let mut top: Vec<SummaryRow> = ctx
        .service
        .error_summary(
            &ctx.caller,
            vec![
                ("from".into(), first.to_string()),
                ("to".into(), (today + chrono::Days::new(1)).to_string()),
            ],
        )
        .await?;
    top.sort_by_key(|r| std::cmp::Reverse(r.count));
    // The heat map: the ten applications with most failures, by error code.
    let mut by_app: BTreeMap<String, u64> = BTreeMap::new();
    for r in &top {
        *by_app
            .entry(r.application_id.as_str().to_owned())
            .or_default() += r.count;
    }
    let mut apps: Vec<(String, u64)> = by_app.into_iter().collect();
    apps.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    apps.truncate(10);
    let mut codes: Vec<String> = top
        .iter()
        .filter(|r| apps.iter().any(|(a, _)| a == r.application_id.as_str()))
        .map(|r| r.error_code.as_str().to_owned())
        .collect();
    codes.sort();
    codes.dedup();
    let max = top.first().map_or(0, |r| r.count);
    let count = |app: &str, code: &str| {
        top.iter()
            .find(|r| r.application_id.as_str() == app && r.error_code.as_str() == code)
            .map_or(0, |r| r.count)
    };
    let disabled = crate::integrations::disabled_now(&ctx).await;
    let body = html! {
        nav.toolbar aria-label="Window" {
            span.muted { "Window:" }
            @for w in WINDOWS {
                a href={ "/console/overview?days=" (w) } aria-current=[(w == window).then_some("page")] { "last " (w) " days" }
            }
        }
        section aria-labelledby="per-day" {
            h2 #per-day { "Failures per day" }
            p.muted { (total) " failures from " (first) " to " (today) " (UTC), actioned or not." }
            (chart(&per_day))
        }
        section aria-labelledby="top" {
            h2 #top { "Top failing applications by error code" }
            @if apps.is_empty() {
                p.muted { "No failures in the window." }
            } @else {
                div.table-wrap {
                    table.heat {
                        thead {
                            tr {
                                th scope="col" { "Application" }
                                @for c in &codes { th scope="col" { (c) } }
                                th scope="col" { "Total" }
                            }
                        }
                        tbody {
                            @for (app, sum) in &apps {
                                tr {
                                    th scope="row" { a href={ "/?applicationId=" (segment(app)) "&resolved=all&from=" (first) } { (app) } }
                                    @for c in &codes {
                                        @let n = count(app, c);
                                        @if n == 0 { td.n {} } @else { td.n class=(heat_class(n, max)) { (n) } }
                                    }
                                    td.n { (sum) }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="disabled" {
            h2 #disabled { "Integrations disabled now" }
            (disabled)
        }
    };
    Ok(page(&ctx, "/console/overview", "Overview", body).into_response())
}
